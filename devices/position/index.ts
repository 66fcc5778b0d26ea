import { parseHex } from '../common/hex.ts'
import { defineDeviceKind, type LineDecoder, readingType } from '../common/kind.ts'
import type { FieldValue } from '../common/point.ts'
import { timestampMs } from '../common/time.ts'
import { decodeJt808, jt808Points } from './jt808.ts'
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
  decoders: [nmeaDecoder, jt808LineDecoder],
})
