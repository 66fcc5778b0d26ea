import { defineDeviceKind, type NormalizeContext, readingType } from '../common/kind.ts'
import type { FieldValue, Point } from '../common/point.ts'
import { compileFlatReading } from '../common/flat-json.ts'
import { timestampMs } from '../common/time.ts'
import { gb3838Grade, gb3838Line, setGb3838Fields, type WaterBody } from './gb3838.ts'
import { hj212Codec } from './hj212/index.ts'
import { Hj212Reading, WATER_QUALITY_FIELDS, WaterQualityReading } from './schema.ts'

function waterBody(ctx: NormalizeContext): WaterBody {
  return ctx.options?.['waterBody'] === 'lake' ? 'lake' : 'river'
}

/** Reading -> `water_quality` point, with the GB 3838 class and its deciding factor derived at the edge. */
export function waterQualityPoint(r: WaterQualityReading, ctx: NormalizeContext): Point {
  const fields: Record<string, FieldValue> = {}
  for (const f of WATER_QUALITY_FIELDS) {
    const v = r[f]
    if (v !== undefined) fields[f] = v
  }
  setGb3838Fields(fields, gb3838Grade(r, waterBody(ctx)))
  return { measurement: 'water_quality', tags: {}, fields, time: timestampMs(r.ts, ctx.receivedAt) }
}

// A station's all-numbers reading, read without JSON.parse and zod (same result; see flat-json.ts).
const flatReading = compileFlatReading(WaterQualityReading, 'water_quality', { requireField: true, refinements: 1 })

/** The fast path of `waterQualityPoint` for a flat JSON reading; undefined sends it the schema way. */
export function fastWaterQualityPoint(payload: Buffer, ctx: NormalizeContext): Point | undefined {
  const r = flatReading?.parse(payload)
  if (!r) return undefined
  const fields: Record<string, FieldValue> = r.fields
  // The same two fields as the schema path, and their line-protocol text from a table made once.
  const g = setGb3838Fields(fields, gb3838Grade(r.fields, waterBody(ctx)))
  return { measurement: 'water_quality', tags: {}, fields, time: r.ts ?? ctx.receivedAt, fieldsLine: r.line + gb3838Line(g) }
}

export const waterQuality = defineDeviceKind({
  kind: 'water_quality',
  folder: 'water-quality',
  measurement: 'water_quality',
  readings: {
    telemetry: readingType(WaterQualityReading, (r, ctx) => [waterQualityPoint(r, ctx)]),
    /** An HJ 212 data upload, its GB 3838 fields already derived by hj212/readings.ts `hj212Reading` (the interval statistics kept). */
    hj212: readingType(Hj212Reading, (r, ctx) => {
      const { ts, interval, ...fields } = r
      return [{ measurement: 'water_quality', tags: { interval }, fields: fields as Record<string, FieldValue>, time: ts ?? ctx.receivedAt }]
    }),
  },
  fastTelemetry: fastWaterQualityPoint,
  decoders: [],
  codecs: [hj212Codec],
})
