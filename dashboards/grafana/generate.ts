/**
 * Grafana dashboards, one per device kind plus the gateway's own, generated from the data model's field
 * table (devices/common/measurements.ts) so that a panel can only name a measurement and field that exist.
 * Run `node --import tsx dashboards/grafana/generate.ts` after changing the panels; a test checks that the
 * committed JSON is what this produces and that every query runs on InfluxDB 1.x.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { MEASUREMENTS, type MeasurementName } from '../../devices/common/measurements.ts'

interface PanelSpec {
  title: string
  measurement: MeasurementName
  fields: string[]
  unit?: string
  /** `mean` for levels, `last` for counters and states. */
  agg?: 'mean' | 'last' | 'max' | 'count' | 'sum'
  groupBy?: string
  type?: 'timeseries' | 'stat' | 'table'
}

interface DashboardSpec {
  uid: string
  file: string
  title: string
  kind?: string
  /** The measurement that lists the devices for the device variable. */
  deviceFrom: MeasurementName
  panels: PanelSpec[]
}

const WHERE = `("district" =~ /^$district$/ AND "device" =~ /^$device$/) AND $timeFilter`

export function query(p: PanelSpec, field: string): string {
  const agg = p.agg ?? 'mean'
  const group = p.groupBy ?? '"device"'
  return `SELECT ${agg}("${field}") AS "${field}" FROM "${p.measurement}" WHERE ${WHERE} GROUP BY time($__interval), ${group} fill(none)`
}

export const DASHBOARDS: DashboardSpec[] = [
  {
    uid: 'smartcity-water',
    file: 'water-quality.json',
    title: 'Water quality',
    kind: 'water_quality',
    deviceFrom: 'water_quality',
    panels: [
      { title: 'GB 3838 class (1..5, 6 = worse than V)', measurement: 'water_quality', fields: ['gb3838_class'], agg: 'max' },
      { title: 'pH', measurement: 'water_quality', fields: ['ph'] },
      { title: 'Dissolved oxygen', measurement: 'water_quality', fields: ['dissolved_oxygen_mg_l'], unit: 'conmgL' },
      { title: 'Ammonia nitrogen', measurement: 'water_quality', fields: ['ammonia_nitrogen_mg_l'], unit: 'conmgL' },
      { title: 'COD', measurement: 'water_quality', fields: ['cod_mg_l', 'codmn_mg_l'], unit: 'conmgL' },
      { title: 'Water temperature', measurement: 'water_quality', fields: ['water_temp_c'], unit: 'celsius' },
      { title: 'Turbidity and conductivity', measurement: 'water_quality', fields: ['turbidity_ntu', 'conductivity_us_cm'] },
    ],
  },
  {
    uid: 'smartcity-energy',
    file: 'energy-meter.json',
    title: 'Energy meters',
    kind: 'energy_meter',
    deviceFrom: 'energy_meter',
    panels: [
      { title: 'Active power', measurement: 'energy_meter', fields: ['active_power_kw'], unit: 'kwatt' },
      { title: 'Phase voltages', measurement: 'energy_meter', fields: ['voltage_a_v', 'voltage_b_v', 'voltage_c_v'], unit: 'volt' },
      { title: 'Phase currents', measurement: 'energy_meter', fields: ['current_a_a', 'current_b_a', 'current_c_a'], unit: 'amp' },
      { title: 'Power factor', measurement: 'energy_meter', fields: ['power_factor'] },
      { title: 'Frequency', measurement: 'energy_meter', fields: ['frequency_hz'], unit: 'hertz' },
      { title: 'Import energy (counter)', measurement: 'energy_meter', fields: ['import_energy_kwh'], agg: 'last', unit: 'kwatth' },
    ],
  },
  {
    uid: 'smartcity-etc',
    file: 'etc.json',
    title: 'ETC toll lanes and gantries',
    kind: 'etc',
    deviceFrom: 'etc_transaction',
    panels: [
      { title: 'Passages by result', measurement: 'etc_transaction', fields: ['transaction_ms'], agg: 'count', groupBy: '"result"' },
      { title: 'Transaction time', measurement: 'etc_transaction', fields: ['transaction_ms'], unit: 'ms' },
      { title: 'Fees collected (fen per interval)', measurement: 'etc_transaction', fields: ['fee_fen'], agg: 'sum' },
      { title: 'RSU online', measurement: 'etc_rsu_status', fields: ['online'], agg: 'last' },
    ],
  },
  {
    uid: 'smartcity-elevator',
    file: 'elevator.json',
    title: 'Elevators',
    kind: 'elevator',
    deviceFrom: 'elevator_status',
    panels: [
      { title: 'Floor', measurement: 'elevator_status', fields: ['floor'], agg: 'last' },
      { title: 'Speed', measurement: 'elevator_status', fields: ['speed_m_s'], unit: 'velocityms' },
      { title: 'Runs (counter)', measurement: 'elevator_status', fields: ['run_count'], agg: 'last' },
      { title: 'Event starts and clears by event', measurement: 'elevator_event', fields: ['active'], agg: 'count', groupBy: '"event"' },
    ],
  },
  {
    uid: 'smartcity-position',
    file: 'position.json',
    title: 'Vehicles and BeiDou receivers',
    kind: 'position',
    deviceFrom: 'position',
    panels: [
      { title: 'Speed', measurement: 'position', fields: ['speed_kmh'], unit: 'velocitykmh' },
      { title: 'Satellites used', measurement: 'position', fields: ['satellites_used'], agg: 'last' },
      { title: 'HDOP', measurement: 'position', fields: ['hdop'] },
      { title: 'Fix quality', measurement: 'position', fields: ['fix_quality'], agg: 'last' },
      { title: 'Latitude / longitude', measurement: 'position', fields: ['lat', 'lon'], agg: 'last', type: 'table' },
    ],
  },
  {
    uid: 'smartcity-gateway',
    file: 'gateway.json',
    title: 'Gateway: devices and alarms',
    deviceFrom: 'device_status',
    panels: [
      { title: 'Devices online (1 = online)', measurement: 'device_status', fields: ['online'], agg: 'last' },
      { title: 'Frames accepted (counter)', measurement: 'device_status', fields: ['frames_ok'], agg: 'last' },
      { title: 'Frames rejected (counter)', measurement: 'device_status', fields: ['frames_rejected'], agg: 'last' },
      { title: 'Alarm starts and clears by rule', measurement: 'alarm', fields: ['active'], agg: 'count', groupBy: '"rule"' },
    ],
  },
]

function dashboard(d: DashboardSpec): Record<string, unknown> {
  for (const p of d.panels) {
    const spec = MEASUREMENTS[p.measurement] as { fields: Record<string, string> }
    for (const f of p.fields) if (!(f in spec.fields)) throw new Error(`${d.file}: ${p.measurement}.${f} is not in the data model`)
  }
  const panels = d.panels.map((p, i) => ({
    id: i + 1,
    type: p.type ?? 'timeseries',
    title: p.title,
    datasource: { type: 'influxdb', uid: '${datasource}' },
    gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: Math.floor(i / 2) * 8 },
    fieldConfig: { defaults: { unit: p.unit ?? 'short' }, overrides: [] },
    options: {},
    targets: p.fields.map((f, j) => ({ refId: String.fromCharCode(65 + j), rawQuery: true, resultFormat: p.type === 'table' ? 'table' : 'time_series', query: query(p, f), alias: `$tag_${(p.groupBy ?? '"device"').replace(/"/g, '')} ${f}` })),
  }))
  const variable = (name: string, q: string) => ({ name, type: 'query', datasource: { type: 'influxdb', uid: '${datasource}' }, query: q, refresh: 2, includeAll: true, multi: true, current: { text: 'All', value: '$__all' } })
  return {
    uid: d.uid,
    title: `Smart city: ${d.title}`,
    tags: ['smartcity', ...(d.kind ? [d.kind] : [])],
    timezone: 'browser',
    schemaVersion: 39,
    version: 1,
    refresh: '10s',
    time: { from: 'now-6h', to: 'now' },
    templating: {
      list: [
        { name: 'datasource', type: 'datasource', query: 'influxdb', current: { text: 'smartcity', value: 'smartcity' } },
        variable('district', `SHOW TAG VALUES FROM "${d.deviceFrom}" WITH KEY = "district"`),
        variable('device', `SHOW TAG VALUES FROM "${d.deviceFrom}" WITH KEY = "device" WHERE "district" =~ /^$district$/`),
      ],
    },
    panels,
  }
}

export function render(): Record<string, string> {
  return Object.fromEntries(DASHBOARDS.map((d) => [d.file, `${JSON.stringify(dashboard(d), null, 2)}\n`]))
}

if (process.argv[1] === import.meta.filename) {
  for (const [file, text] of Object.entries(render())) writeFileSync(join(import.meta.dirname, 'dashboards', file), text)
}
