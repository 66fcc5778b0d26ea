import { parseHex } from '../common/hex.ts'
import { defineDeviceKind, type LineDecoder, readingType, type ValueReading } from '../common/kind.ts'
import { normalizeReading } from '../common/normalize.ts'
import { type DecodeResult, fail, ok } from '../common/result.ts'
import type { FieldValue, Point } from '../common/point.ts'
import { timestampMs } from '../common/time.ts'
import { decodeJt808, jt808Points } from './jt808.ts'
import { epochReadings, nmeaCodec, type PositionEpoch } from './nmea/index.ts'
import { Jt808LocationReading, PositionReading, SatellitesReading } from './schema.ts'

/** `smartcity decode jt808 FILE`: one hex frame per line (with or without the 7E flags). */
export const jt808LineDecoder: LineDecoder = {
  format: 'jt808',
  protocol: 'jt808',
  description: 'JT/T 808-2013/2019 frames, one hex frame per line',
  decodeLine(line, ctx) {
    const bytes = parseHex(line)
    if (!bytes) return { ok: false, error: 'not_hex: the line is not an even number of hex digits' }
    const m = decodeJt808(bytes)
    if (!m.ok) return { ok: false, error: m.detail === undefined ? m.reason : `${m.reason}: ${m.detail}` }
    const { points, refused } = jt808Points(m.value, ctx.receivedAt)
    if (refused.length > 0 && points.length === 0) {
      const r = refused[0]!
      return { ok: false, error: r.detail === undefined ? r.reason : `${r.reason}: ${r.detail}` }
    }
    return { ok: true, frame: m.value, points }
  },
}

export const position = defineDeviceKind({
  kind: 'position',
  folder: 'position',
  measurement: 'position',
  readings: {
    telemetry: readingType(PositionReading, (r, ctx) => {
      const { ts, system, ...rest } = r
      return [{ measurement: 'position', tags: { system: system ?? 'GNSS' }, fields: rest as Record<string, FieldValue>, time: timestampMs(ts, ctx.receivedAt) }]
    }),
    /** A JT/T 808 location (issue 11 phase 2 hands these from jt808 readings()). */
    location: readingType(Jt808LocationReading, (r, ctx) => {
      const { ts, system, ...rest } = r
      return [{ measurement: 'position', tags: { system }, fields: rest as Record<string, FieldValue>, time: timestampMs(ts, ctx.receivedAt) }]
    }),
    /** Satellites of one constellation in an NMEA epoch. */
    satellites: readingType(SatellitesReading, (r, ctx) => {
      const { ts, system, ...rest } = r
      return [{ measurement: 'satellites', tags: { system }, fields: rest as Record<string, FieldValue>, time: timestampMs(ts, ctx.receivedAt) }]
    }),
  },
  decoders: [jt808LineDecoder],
  codecs: [nmeaCodec],
})

/**
 * An NMEA epoch -> the points the gateway stores for it (tests, benchmarks): the codec's readings through the
 * one normalize step; the first refused reading fails the whole.
 */
export function epochToPoints(e: PositionEpoch, opts: { satellites?: boolean } = {}): DecodeResult<Point[]> {
  const points: Point[] = []
  for (const r of epochReadings(e, { device: 'nmea', satellites: opts.satellites ?? false }) as ValueReading[]) {
    const n = normalizeReading(position, r.type, r.value, { receivedAt: e.time })
    if (!n.ok) return fail(n.reason, n.detail)
    points.push(...n.points)
  }
  return ok(points)
}
