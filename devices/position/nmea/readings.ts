/**
 * NMEA 0183 epochs -> readings of the position kind: one `telemetry` reading (the fix, stored as a `position`
 * point) per epoch and, when `satellites` is on, one `satellites` reading per constellation seen. The state
 * is per serial port (or per capture file): the epoch assembler collecting the sentences of the current epoch.
 */
import type { NormalizeContext, Reading } from '../../common/kind.ts'
import { createEpochAssembler, type EpochAssembler, type PositionEpoch } from './epoch.ts'
import type { NmeaSentence } from './sentences.ts'

export interface NmeaState {
  /** The device the readings name: the source's receiver (`smartcity decode` leaves it `nmea`). */
  device: string
  /** Also a `satellites` reading per constellation (the source's `satellites` option; on by default, as the source's). */
  satellites: boolean
  asm: EpochAssembler
}

export function newNmeaState(o: { device?: string; satellites?: boolean } = {}): NmeaState {
  return { device: o.device ?? 'nmea', satellites: o.satellites ?? true, asm: createEpochAssembler() }
}

/**
 * An epoch -> its readings. A fix-less epoch keeps `fix_quality: 0` and no coordinates; the kind's schema
 * (devices/position/schema.ts) validates each reading in the pipeline.
 */
export function epochReadings(e: PositionEpoch, state: Pick<NmeaState, 'device' | 'satellites'>): Reading[] {
  const v: Record<string, number | string> = { ts: e.time, system: e.system, fix_quality: e.fixQuality, fix_mode: e.fixMode }
  if (e.lat !== undefined && e.lon !== undefined) {
    v['lat'] = e.lat
    v['lon'] = e.lon
  }
  if (e.altM !== undefined) v['alt_m'] = e.altM
  if (e.speedKmh !== undefined) v['speed_kmh'] = e.speedKmh
  if (e.courseDeg !== undefined) v['course_deg'] = e.courseDeg
  if (e.satellitesUsed !== undefined) v['satellites_used'] = e.satellitesUsed
  if (e.hdop !== undefined) v['hdop'] = e.hdop
  const out: Reading[] = [{ kind: 'position', type: 'telemetry', device: state.device, value: v }]
  if (state.satellites) {
    for (const [sys, c] of Object.entries(e.satellites)) {
      const s: Record<string, number | string> = { ts: e.time, system: sys, in_view: c.inView, used: c.used }
      if (c.snrMeanDb !== undefined) s['snr_mean_db'] = c.snrMeanDb
      out.push({ kind: 'position', type: 'satellites', device: state.device, value: s })
    }
  }
  return out
}

/** A decoded sentence joins the port's epoch; the readings of the epochs it closed (usually none or one). */
export function nmeaReadings(s: NmeaSentence, state: NmeaState, ctx: NormalizeContext): { readings: Reading[] } {
  return { readings: state.asm.push(s, ctx.receivedAt).flatMap((e) => epochReadings(e, state)) }
}

/** Close the epoch being collected (the line went quiet, the port closed, the capture ended). */
export function nmeaFlush(state: NmeaState): { readings: Reading[] } {
  return { readings: state.asm.flush().flatMap((e) => epochReadings(e, state)) }
}
