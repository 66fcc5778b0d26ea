import { defineDeviceKind, readingType, type ValueReading } from '../common/kind.ts'
import { normalizeReading } from '../common/normalize.ts'
import { type DecodeResult, fail, ok } from '../common/result.ts'
import type { FieldValue, Point } from '../common/point.ts'
import { timestampMs } from '../common/time.ts'
import { jt808Codec } from './jt808/index.ts'
import { epochReadings, nmeaCodec, type PositionEpoch } from './nmea/index.ts'
import { Jt808LocationReading, PositionReading, SatellitesReading } from './schema.ts'

export const position = defineDeviceKind({
  kind: 'position',
  folder: 'position',
  measurement: 'position',
  readings: {
    telemetry: readingType(PositionReading, (r, ctx) => {
      const { ts, system, ...rest } = r
      return [{ measurement: 'position', tags: { system: system ?? 'GNSS' }, fields: rest as Record<string, FieldValue>, time: timestampMs(ts, ctx.receivedAt) }]
    }),
    /** A JT/T 808 location (devices/position/jt808/readings.ts `locationReading`). */
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
  decoders: [],
  codecs: [nmeaCodec, jt808Codec],
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
