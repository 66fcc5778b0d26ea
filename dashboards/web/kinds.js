// What the page shows per device kind: table columns (measurement, field, catalogue key of the heading, how to
// format), the field its sparkline and detail chart follow, and the GB 3838-2002 class names.
import { fmtNum, fmtYuan, t, tOr } from './i18n.js'

/** GB 3838-2002 graded factors (the gb3838_factor values). */
export const FACTORS = ['dissolved_oxygen_mg_l', 'codmn_mg_l', 'cod_mg_l', 'ammonia_nitrogen_mg_l', 'total_phosphorus_mg_l', 'total_nitrogen_mg_l']

/** Class 1..5 → I..V, 6 → 劣V ("worse than V"), in the catalogue's words (Ⅲ类 / Class III). */
export const className = (c) => t(`gb.class${c}`)
export const factorShort = (f) => tOr(`factor.${f}.short`, f)
export const factorName = (f) => tOr(`factor.${f}`, f)

const bool = (k) => (v) => (v === undefined ? '' : t(v ? `${k}.yes` : `${k}.no`))
const word = (k) => (v) => (v === undefined ? '' : tOr(`${k}.${v}`, String(v)))
const n = (d) => (v) => fmtNum(v, d)

/** [measurement, field ('#tag' for a tag), heading key, format, optional column (hidden on a phone)]. */
export const KINDS = {
  water_quality: {
    main: ['water_quality', 'dissolved_oxygen_mg_l'],
    chart: ['ph', 'dissolved_oxygen_mg_l', 'ammonia_nitrogen_mg_l', 'codmn_mg_l', 'total_phosphorus_mg_l'],
    cols: [
      ['water_quality', 'gb3838_class', 'col.class', null],
      ['water_quality', 'ph', 'col.ph', n(2)],
      ['water_quality', 'dissolved_oxygen_mg_l', 'col.do', n()],
      ['water_quality', 'codmn_mg_l', 'col.codmn', n(), true],
      ['water_quality', 'cod_mg_l', 'col.cod', n(), true],
      ['water_quality', 'ammonia_nitrogen_mg_l', 'col.nh3n', n()],
      ['water_quality', 'total_phosphorus_mg_l', 'col.tp', n(), true],
      ['water_quality', 'water_temp_c', 'col.temp', n(1), true],
    ],
  },
  energy_meter: {
    main: ['energy_meter', 'active_power_kw'],
    chart: ['active_power_kw'],
    cols: [
      ['energy_meter', 'active_power_kw', 'col.kw', n(2)],
      ['energy_meter', 'voltage_a_v', 'col.ua', n(1), true],
      ['energy_meter', 'current_a_a', 'col.ia', n(2), true],
      ['energy_meter', 'power_factor', 'col.pf', n(3), true],
      ['energy_meter', 'import_energy_kwh', 'col.kwh', n(1)],
    ],
  },
  etc: {
    main: ['etc_transaction', 'transaction_ms'],
    chart: ['transaction_ms', 'fee_fen'],
    cols: [
      ['etc_transaction', '#result', 'col.result', word('etc.result')],
      ['etc_transaction', 'plate', 'col.plate', (v) => v ?? ''],
      ['etc_transaction', 'vehicle_class', 'col.vclass', (v) => (v === undefined ? '' : t('etc.vclass', { n: v })), true],
      ['etc_transaction', 'fee_fen', 'col.fee', (v) => (v === undefined ? '' : fmtYuan(v))],
      ['etc_rsu_status', 'online', 'col.rsu', bool('rsu')],
    ],
  },
  elevator: {
    main: ['elevator_status', 'floor'],
    chart: ['floor', 'speed_m_s'],
    cols: [
      ['elevator_status', 'floor', 'col.floor', n(0)],
      ['elevator_status', 'direction', 'col.direction', word('dir')],
      ['elevator_status', 'door_state', 'col.door', null],
      ['elevator_status', 'service_mode', 'col.mode', word('mode'), true],
      ['elevator_status', 'occupied', 'col.occupied', bool('occupied'), true],
    ],
  },
  position: {
    main: ['position', 'speed_kmh'],
    chart: ['speed_kmh'],
    cols: [
      ['position', '#system', 'col.system', word('gnss')],
      ['position', 'speed_kmh', 'col.kmh', n(1)],
      ['position', 'lat', 'col.lat', n(5), true],
      ['position', 'lon', 'col.lon', n(5), true],
      ['position', 'satellites_used', 'col.sats', n(0), true],
    ],
  },
}

export const KIND_ORDER = ['water_quality', 'energy_meter', 'etc', 'elevator', 'position']

/** The value of a column for a device (a field or, for '#name', a tag of the latest point). */
export function value(d, meas, field) {
  const p = d.latest?.[meas]
  if (!p) return undefined
  return field.startsWith('#') ? p.tags?.[field.slice(1)] : p.fields?.[field]
}

/** The door as one word: door_state when the monitor sends it, else door_open. */
export function doorText(d) {
  const s = value(d, 'elevator_status', 'door_state')
  if (s !== undefined) return tOr(`door.${s}`, String(s))
  const o = value(d, 'elevator_status', 'door_open')
  return o === undefined ? '' : t(o ? 'door.open' : 'door.closed')
}
