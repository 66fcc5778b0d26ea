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
  /**
   * `mean` for levels, `last` for states, `delta` for counters (the counter's rise per interval:
   * non_negative_difference of the interval's last value, so a meter replaced with a lower counter is no
   * negative consumption).
   */
  agg?: 'mean' | 'last' | 'max' | 'count' | 'sum' | 'delta'
  /** Divide the value (fee_fen / 100 = yuan). */
  divide?: number
  /** The selected value's name when it is not the field's (a value in other units). */
  as?: string
  groupBy?: string
  type?: 'timeseries' | 'stat' | 'table' | 'geomap' | 'state-timeline'
  /** One query with every field (tables, the map) instead of one per field. */
  together?: boolean
  /** Without GROUP BY time: the last value per series over the whole range (tables, the map). */
  latest?: boolean
  /** Grafana value mappings (state timeline). */
  mappings?: unknown[]
  /** Field config `custom` (bars for consumption per interval). */
  custom?: Record<string, unknown>
  options?: Record<string, unknown>
}

interface DashboardSpec {
  uid: string
  file: string
  title: string
  kind?: string
  /** The measurement that lists the devices for the device variable. */
  deviceFrom: MeasurementName
  /** Water quality: the `interval` variable (HJ 212 statistics apart from real-time samples). */
  interval?: boolean
  panels: PanelSpec[]
}

const WHERE = `("district" =~ /^$district$/ AND "device" =~ /^$device$/) AND $timeFilter`
/**
 * docs/data-model.md: `interval` is `realtime`, `minute`, `hour` or `day` on HJ 212 points and absent on
 * plain samples (MQTT, Modbus), which are real-time too: the variable's value is a regular expression, and
 * `realtime`'s also matches the tag's absence (InfluxQL compares a missing tag as the empty string).
 */
const INTERVALS = [
  ['realtime', '^(realtime)?$'],
  ['minute', '^minute$'],
  ['hour', '^hour$'],
  ['day', '^day$'],
] as const
const INTERVAL_WHERE = ' AND "interval" =~ /$interval/'

function select(p: PanelSpec, field: string): string {
  const agg = p.agg ?? 'mean'
  const expr = agg === 'delta' ? `non_negative_difference(last("${field}"))` : `${agg}("${field}")`
  return `${expr}${p.divide ? ` / ${p.divide}` : ''} AS "${p.as ?? field}"`
}

/** The InfluxQL of one target: `field` alone, or every field of a `together` panel. */
export function query(p: PanelSpec, field?: string, d?: Pick<DashboardSpec, 'interval'>): string {
  const group = p.groupBy ?? '"device"'
  const fields = field === undefined ? p.fields : [field]
  const where = `${WHERE}${d?.interval ? INTERVAL_WHERE : ''}`
  if (p.latest) return `SELECT ${fields.map((f) => select({ ...p, agg: p.agg ?? 'last' }, f)).join(', ')} FROM "${p.measurement}" WHERE ${where} GROUP BY ${group}`
  return `SELECT ${fields.map((f) => select(p, f)).join(', ')} FROM "${p.measurement}" WHERE ${where} GROUP BY time($__interval), ${group} fill(${p.type === 'state-timeline' ? 'previous' : 'none'})`
}

/** Every target of a panel: its query, in the order of the panel's refIds. */
export function targets(p: PanelSpec, d?: Pick<DashboardSpec, 'interval'>): { field: string; query: string }[] {
  if (p.together) return [{ field: p.fields.join(','), query: query(p, undefined, d) }]
  return p.fields.map((f) => ({ field: f, query: query(p, f, d) }))
}

/** Vehicles on the map: their last position (WGS-84 / CGCS2000 as the receivers report it). */
const GEOMAP_OPTIONS = {
  view: { id: 'fit', lat: 34.23, lon: 108.88, zoom: 12 },
  controls: { showZoom: true, mouseWheelZoom: true, showAttribution: true },
  basemap: { type: 'default', name: 'Basemap' },
  layers: [
    {
      type: 'markers',
      name: 'Vehicles',
      location: { mode: 'coords', latitude: 'lat', longitude: 'lon' },
      tooltip: true,
      config: { showLegend: false, style: { size: { fixed: 6 }, color: { fixed: 'blue' }, text: { field: 'device', mode: 'field' }, textConfig: { fontSize: 10, offsetY: -12 } } },
    },
  ],
  tooltip: { mode: 'details' },
}

const ONLINE_MAPPINGS = [{ type: 'value', options: { true: { text: 'online 在线', color: 'green', index: 0 }, false: { text: 'offline 离线', color: 'red', index: 1 } } }]

export const DASHBOARDS: DashboardSpec[] = [
  {
    uid: 'smartcity-water',
    file: 'water-quality.json',
    title: 'Water quality',
    kind: 'water_quality',
    deviceFrom: 'water_quality',
    interval: true,
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
      { title: 'Energy per interval (import)', measurement: 'energy_meter', fields: ['import_energy_kwh'], agg: 'delta', unit: 'kwatth', custom: { drawStyle: 'bars', fillOpacity: 60 } },
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
      { title: 'Fees collected per interval (CNY)', measurement: 'etc_transaction', fields: ['fee_fen'], agg: 'sum', divide: 100, as: 'fee_yuan', unit: 'currency:¥' },
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
      { title: 'Vehicles on the map (last position)', measurement: 'position', fields: ['lat', 'lon', 'speed_kmh'], together: true, latest: true, type: 'geomap', options: GEOMAP_OPTIONS },
      { title: 'Latitude / longitude', measurement: 'position', fields: ['lat', 'lon'], agg: 'last', together: true, latest: true, type: 'table' },
    ],
  },
  {
    uid: 'smartcity-gateway',
    file: 'gateway.json',
    title: 'Gateway: devices and alarms',
    deviceFrom: 'device_status',
    panels: [
      { title: 'Presence (online / offline)', measurement: 'device_status', fields: ['online'], agg: 'last', type: 'state-timeline', mappings: ONLINE_MAPPINGS },
      { title: 'Frames accepted (counter)', measurement: 'device_status', fields: ['frames_ok'], agg: 'last' },
      { title: 'Frames rejected (counter)', measurement: 'device_status', fields: ['frames_rejected'], agg: 'last' },
      { title: 'Alarm starts and clears by rule', measurement: 'alarm', fields: ['active'], agg: 'count', groupBy: '"rule"' },
      { title: 'Alarms (last state per rule and device)', measurement: 'alarm', fields: ['active', 'value', 'message'], together: true, latest: true, groupBy: '"rule", "severity", "device"', type: 'table' },
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
    fieldConfig: { defaults: { unit: p.unit ?? 'short', ...(p.mappings ? { mappings: p.mappings } : {}), ...(p.custom ? { custom: p.custom } : {}) }, overrides: [] },
    options: p.options ?? {},
    // One series per device (GROUP BY tags) is a frame each: the map and tables want them as one.
    ...(p.latest ? { transformations: [{ id: 'merge', options: {} }] } : {}),
    targets: targets(p, d).map((t, j) => ({
      refId: String.fromCharCode(65 + j),
      rawQuery: true,
      resultFormat: p.latest ? 'table' : 'time_series',
      query: t.query,
      ...(p.latest ? {} : { alias: `$tag_${(p.groupBy ?? '"device"').replace(/"/g, '')} ${p.as ?? t.field}` }),
    })),
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
        // InfluxQL data sources only: the Flux one (provisioning, `smartcity-flux`) cannot run these queries.
        { name: 'datasource', type: 'datasource', query: 'influxdb', regex: '/^(?!.*flux).*$/i', current: { text: 'smartcity', value: 'smartcity' } },
        variable('district', `SHOW TAG VALUES FROM "${d.deviceFrom}" WITH KEY = "district"`),
        variable('device', `SHOW TAG VALUES FROM "${d.deviceFrom}" WITH KEY = "device" WHERE "district" =~ /^$district$/`),
        ...(d.interval
          ? [
              {
                name: 'interval',
                label: 'HJ 212 interval',
                type: 'custom',
                query: INTERVALS.map(([k, v]) => `${k} : ${v}`).join(', '),
                options: INTERVALS.map(([k, v], i) => ({ text: k, value: v, selected: i === 0 })),
                current: { text: INTERVALS[0][0], value: INTERVALS[0][1] },
                includeAll: false,
                multi: false,
              },
            ]
          : []),
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
