import { z } from 'zod'
import { Timestamp } from '../common/time.ts'

/**
 * A water-quality reading in canonical field names (docs/data-model.md). Ranges are the physical or
 * instrument limits beyond which a value is an error, not a measurement: a value outside them is rejected
 * as `out_of_range` rather than stored.
 */
export const WaterQualityReading = z
  .strictObject({
    ts: Timestamp.optional(),
    ph: z.number().min(0).max(14).optional(),
    water_temp_c: z.number().min(-5).max(60).optional(),
    dissolved_oxygen_mg_l: z.number().min(0).max(30).optional(),
    turbidity_ntu: z.number().min(0).max(10_000).optional(),
    conductivity_us_cm: z.number().min(0).max(200_000).optional(),
    cod_mg_l: z.number().min(0).max(100_000).optional(),
    codmn_mg_l: z.number().min(0).max(1_000).optional(),
    ammonia_nitrogen_mg_l: z.number().min(0).max(1_000).optional(),
    total_phosphorus_mg_l: z.number().min(0).max(100).optional(),
    total_nitrogen_mg_l: z.number().min(0).max(1_000).optional(),
    residual_chlorine_mg_l: z.number().min(0).max(50).optional(),
    orp_mv: z.number().min(-2_000).max(2_000).optional(),
  })
  .refine((r) => Object.keys(r).some((k) => k !== 'ts'), { message: 'reading has no fields', params: { reason: 'empty_reading' } })
export type WaterQualityReading = z.infer<typeof WaterQualityReading>

/** The measurement fields of a reading (everything but `ts`). */
export const WATER_QUALITY_FIELDS = [
  'ph',
  'water_temp_c',
  'dissolved_oxygen_mg_l',
  'turbidity_ntu',
  'conductivity_us_cm',
  'cod_mg_l',
  'codmn_mg_l',
  'ammonia_nitrogen_mg_l',
  'total_phosphorus_mg_l',
  'total_nitrogen_mg_l',
  'residual_chlorine_mg_l',
  'orp_mv',
] as const

/**
 * An HJ 212 data upload (CN 2011/2051/2061/2031) as devices/water-quality/hj212/readings.ts `hj212Reading` builds it:
 * the interval (`realtime`, `minute`, `hour`, `day`), the packet's DataTime, and per factor its value under
 * its canonical name (or its code), with `<field>_min`, `_max`, `_cou`, `_flag` and the other per-factor
 * keys beside it, plus the derived GB 3838 fields. Field names come from the logger's codes, so they are
 * not a closed list; values are numbers or text. Stored as a `water_quality` point tagged with `interval`.
 */
export const Hj212Reading = z
  .object({
    /** The packet's DataTime, epoch ms, as the logger states it (not range-checked: stored as today). */
    ts: z.number().int().optional(),
    interval: z.enum(['realtime', 'minute', 'hour', 'day']),
  })
  .catchall(z.union([z.number(), z.string().max(1024)]))
  .refine((r) => Object.keys(r).some((k) => k !== 'ts' && k !== 'interval'), { message: 'reading has no fields', params: { reason: 'empty_reading' } })
export type Hj212Reading = z.infer<typeof Hj212Reading>
