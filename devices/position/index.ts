import { defineDeviceKind, type LineDecoder, readingType } from '../common/kind.ts'
import type { FieldValue } from '../common/point.ts'
import { timestampMs } from '../common/time.ts'
import { jt808Codec } from './jt808/index.ts'
import { createEpochAssembler, decodeSentence, epochToPoints } from './nmea.ts'
import { Jt808LocationReading, PositionReading, SatellitesReading } from './schema.ts'

/**
 * `smartcity decode nmea FILE`: one sentence per line. Each line is decoded on its own, so a GGA, RMC or GLL
 * line gives the position point that sentence alone carries (the serial source combines a whole epoch).
 */
const nmeaDecoder: LineDecoder = {
  format: 'nmea',
  protocol: 'nmea',
  description: 'NMEA 0183 sentences (GPS/BeiDou/GNSS), one per line',
  decodeLine(line, ctx) {
    const r = decodeSentence(line.trim())
    if (!r.ok) return { ok: false, error: r.detail ? `${r.reason}: ${r.detail}` : r.reason }
    const asm = createEpochAssembler()
    const epochs = [...asm.push(r.value, ctx.receivedAt), ...asm.flush()]
    const points = []
    for (const e of epochs) {
      const p = epochToPoints(e, { satellites: false })
      if (!p.ok) return { ok: false, error: p.detail ? `${p.reason}: ${p.detail}` : p.reason }
      points.push(...p.value)
    }
    return { ok: true, frame: r.value, points }
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
  decoders: [nmeaDecoder],
  codecs: [jt808Codec],
})
