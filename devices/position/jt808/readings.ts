/**
 * JT/T 808 locations -> readings of the position kind's `location` type (devices/position/schema.ts
 * `Jt808LocationReading`; the pipeline validates and normalizes them, so a latitude over 90 is refused there
 * as `out_of_range`), and the meaning of the status and alarm bits. Pure.
 *
 * Alarm bits are not turned into points here: the gateway stores `alarm_flags` and the processor
 * gateway/processors/jt808-alarms.ts derives the `alarm` points per terminal with `alarmChanges`/`alarmPoint`.
 */
import type { Point } from '../../common/point.ts'
import type { Jt808Body, Jt808Location } from './header.ts'

/** Status bits (protocols.md section 3). */
export const JT808_STATUS = {
  acc: 1 << 0,
  positioned: 1 << 1,
  south: 1 << 2,
  west: 1 << 3,
  gps: 1 << 18,
  bds: 1 << 19,
  glonass: 1 << 20,
  galileo: 1 << 21,
} as const

/** Alarm bits 0..31: rule name and severity (protocols.md section 3). Reserved bits are absent. */
export const JT808_ALARMS: Readonly<Record<number, { rule: string; severity: 'info' | 'warning' | 'critical' }>> = {
  0: { rule: 'emergency', severity: 'critical' },
  1: { rule: 'overspeed', severity: 'warning' },
  2: { rule: 'fatigue_driving', severity: 'warning' },
  3: { rule: 'danger_warning', severity: 'warning' },
  4: { rule: 'gnss_module_fault', severity: 'warning' },
  5: { rule: 'gnss_antenna_cut', severity: 'warning' },
  6: { rule: 'gnss_antenna_short', severity: 'warning' },
  7: { rule: 'power_undervoltage', severity: 'warning' },
  8: { rule: 'power_off', severity: 'critical' },
  9: { rule: 'display_fault', severity: 'info' },
  10: { rule: 'tts_fault', severity: 'info' },
  11: { rule: 'camera_fault', severity: 'info' },
  12: { rule: 'ic_card_fault', severity: 'info' },
  13: { rule: 'overspeed_warning', severity: 'info' },
  14: { rule: 'fatigue_warning', severity: 'info' },
  18: { rule: 'daily_driving_overtime', severity: 'warning' },
  19: { rule: 'overtime_parking', severity: 'warning' },
  20: { rule: 'area_in_out', severity: 'info' },
  21: { rule: 'route_in_out', severity: 'info' },
  22: { rule: 'road_section_time', severity: 'warning' },
  23: { rule: 'route_deviation', severity: 'warning' },
  24: { rule: 'vss_fault', severity: 'warning' },
  25: { rule: 'fuel_abnormal', severity: 'warning' },
  26: { rule: 'vehicle_stolen', severity: 'critical' },
  27: { rule: 'illegal_ignition', severity: 'critical' },
  28: { rule: 'illegal_displacement', severity: 'critical' },
  29: { rule: 'collision_warning', severity: 'critical' },
  30: { rule: 'rollover_warning', severity: 'critical' },
  31: { rule: 'illegal_door_open', severity: 'warning' },
}

/** The `system` tag from status bits 18-21: one system by name, several `GNSS`, none `GNSS`. */
export function gnssSystem(status: number): 'BDS' | 'GPS' | 'GLONASS' | 'GALILEO' | 'GNSS' {
  const used = [
    [JT808_STATUS.bds, 'BDS'],
    [JT808_STATUS.gps, 'GPS'],
    [JT808_STATUS.glonass, 'GLONASS'],
    [JT808_STATUS.galileo, 'GALILEO'],
  ].filter(([bit]) => (status & (bit as number)) !== 0)
  return used.length === 1 ? (used[0]![1] as 'BDS' | 'GPS' | 'GLONASS' | 'GALILEO') : 'GNSS'
}

function itemValue(l: Jt808Location, id: number): number | undefined {
  for (const it of l.items) if (it.id === id && 'value' in it) return it.value
  return undefined
}

/**
 * A location -> one `position` point. Without the positioned bit (status bit 1) the point carries
 * `fix_quality: 0` and no coordinates. Refuses (`out_of_range`) latitudes above 90 or longitudes above 180.

/**
 * A location -> the value of a `location` reading in canonical field names. Without the positioned bit
 * (status bit 1) it carries `fix_quality: 0` and no coordinates. Not validated here: the kind's schema
 * refuses latitudes above 90, longitudes above 180 and courses above 360 (`out_of_range`).
 */
export function locationReading(l: Jt808Location): Record<string, number | string> {
  const r: Record<string, number | string> = {}
  if (l.time !== null) r['ts'] = l.time
  r['system'] = gnssSystem(l.status)
  const fixed = (l.status & JT808_STATUS.positioned) !== 0
  if (fixed) {
    r['lat'] = ((l.status & JT808_STATUS.south) !== 0 ? -1 : 1) * (l.latE6 / 1e6)
    r['lon'] = ((l.status & JT808_STATUS.west) !== 0 ? -1 : 1) * (l.lonE6 / 1e6)
    r['alt_m'] = l.altitudeM
    r['speed_kmh'] = l.speed01 / 10
    r['course_deg'] = l.courseDeg
  }
  r['fix_quality'] = fixed ? 1 : 0
  r['alarm_flags'] = l.alarm >>> 0
  r['status_flags'] = l.status >>> 0
  const mileage = itemValue(l, 0x01)
  if (mileage !== undefined) r['mileage_km'] = mileage / 10
  const fuel = itemValue(l, 0x02)
  if (fuel !== undefined) r['fuel_l'] = fuel / 10
  const rec = itemValue(l, 0x03)
  if (rec !== undefined) r['recorder_speed_kmh'] = rec / 10
  const signal = itemValue(l, 0x30)
  if (signal !== undefined) r['signal_strength'] = signal
  const sats = itemValue(l, 0x31)
  if (sats !== undefined) r['satellites_used'] = sats
  return r
}

/** One alarm bit that changed between two alarm words. */
export interface Jt808AlarmChange {
  bit: number
  /** `jt808_<name>` (`jt808_bit_<n>` for a reserved bit). */
  rule: string
  severity: 'info' | 'warning' | 'critical'
  /** true: the bit went 0 -> 1 (raised); false: 1 -> 0 (cleared). */
  active: boolean
  message: string
}

/**
 * The alarm bits that changed between the alarm words `prev` and `cur`, lowest bit first: a bit that
 * appears is `active: true`, one that clears `active: false`. With `prev = 0` every set bit is reported.
 * Severity per bit is JT808_ALARMS (reserved bits: `info`).
 */
export function alarmChanges(prev: number, cur: number): Jt808AlarmChange[] {
  const out: Jt808AlarmChange[] = []
  const changed = (prev ^ cur) >>> 0
  if (changed === 0) return out
  for (let bit = 0; bit < 32; bit++) {
    if ((changed & (1 << bit)) === 0) continue
    const a = JT808_ALARMS[bit] ?? { rule: `bit_${bit}`, severity: 'info' as const }
    const active = (cur & (1 << bit)) !== 0
    out.push({ bit, rule: `jt808_${a.rule}`, severity: a.severity, active, message: `JT/T 808 alarm bit ${bit} ${a.rule.replaceAll('_', ' ')} ${active ? 'raised' : 'cleared'}` })
  }
  return out
}

/** The `alarm` point of one change (data model: tags rule, severity; fields active, value = the bit, message). */
export function alarmPoint(c: Jt808AlarmChange, time: number): Point {
  return { measurement: 'alarm', tags: { rule: c.rule, severity: c.severity }, fields: { active: c.active, value: c.bit, message: c.message }, time }
}

/** The `device` tag of a terminal: its phone number without the BCD left padding. */
export function terminalId(phone: string): string {
  const t = phone.replace(/^0+/, '')
  return t === '' ? '0' : t
}

/** Locations a message carries (0x0200 one, 0x0704 several, others none). */
export function locationsOf(body: Jt808Body): Jt808Location[] {
  if (body.type === 'location') {
    const { type: _t, ...l } = body
    return [l]
  }
  return body.type === 'location_batch' ? body.locations : []
}
