import { defineDeviceKind, type NormalizeContext } from '../common/kind.ts'
import type { FieldValue, Point } from '../common/point.ts'
import { timestampMs } from '../common/time.ts'
import { gb3838Class, type WaterBody } from './gb3838.ts'
import { WATER_QUALITY_FIELDS, WaterQualityReading } from './schema.ts'

function waterBody(ctx: NormalizeContext): WaterBody {
  return ctx.options?.['waterBody'] === 'lake' ? 'lake' : 'river'
}

/** Reading -> `water_quality` point, with the GB 3838 class derived at the edge. */
export function waterQualityPoint(r: WaterQualityReading, ctx: NormalizeContext): Point {
  const fields: Record<string, FieldValue> = {}
  for (const f of WATER_QUALITY_FIELDS) {
    const v = r[f]
    if (v !== undefined) fields[f] = v
  }
  const cls = gb3838Class(r, waterBody(ctx))
  if (cls !== undefined) fields['gb3838_class'] = cls
  return { measurement: 'water_quality', tags: {}, fields, time: timestampMs(r.ts, ctx.receivedAt) }
}

export const waterQuality = defineDeviceKind({
  kind: 'water_quality',
  folder: 'water-quality',
  measurement: 'water_quality',
  schema: WaterQualityReading,
  toPoints: (r, ctx) => [waterQualityPoint(r, ctx)],
  decoders: [],
})
