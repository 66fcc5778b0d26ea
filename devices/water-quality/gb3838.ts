/**
 * GB 3838-2002 surface-water class by the single-factor method: the class of a sample is the worst class of
 * any item present (shared/protocols.md section 8). Returns 1..5, 6 for worse than class V ("劣V类"), or
 * undefined when no classable item is present. Temperature, turbidity and conductivity have no class limits.
 */
export type WaterBody = 'river' | 'lake'

type Limits = readonly [number, number, number, number, number]

// Upper limits (value <= limit) for classes I..V.
const CODMN: Limits = [2, 4, 6, 10, 15]
const COD: Limits = [15, 15, 20, 30, 40]
const NH3N: Limits = [0.15, 0.5, 1.0, 1.5, 2.0]
const TP_RIVER: Limits = [0.02, 0.1, 0.2, 0.3, 0.4]
const TP_LAKE: Limits = [0.01, 0.025, 0.05, 0.1, 0.2]
const TN_LAKE: Limits = [0.2, 0.5, 1.0, 1.5, 2.0]
// Lower limits (value >= limit) for dissolved oxygen, classes I..V.
const DO: Limits = [7.5, 6, 5, 3, 2]

function classAtMost(v: number, limits: Limits): number {
  for (let i = 0; i < 5; i++) if (v <= limits[i]!) return i + 1
  return 6
}

function classAtLeast(v: number, limits: Limits): number {
  for (let i = 0; i < 5; i++) if (v >= limits[i]!) return i + 1
  return 6
}

export interface ClassableFields {
  ph?: number | undefined
  dissolved_oxygen_mg_l?: number | undefined
  codmn_mg_l?: number | undefined
  cod_mg_l?: number | undefined
  ammonia_nitrogen_mg_l?: number | undefined
  total_phosphorus_mg_l?: number | undefined
  total_nitrogen_mg_l?: number | undefined
}

export function gb3838Class(r: ClassableFields, body: WaterBody = 'river'): number | undefined {
  // Runs for every reading: plain comparisons, no closures.
  let worst = 0
  // pH 6-9 is the limit of every class: outside it the water meets none of them.
  if (r.ph !== undefined) worst = r.ph >= 6 && r.ph <= 9 ? 1 : 6
  if (r.dissolved_oxygen_mg_l !== undefined) worst = Math.max(worst, classAtLeast(r.dissolved_oxygen_mg_l, DO))
  if (r.codmn_mg_l !== undefined) worst = Math.max(worst, classAtMost(r.codmn_mg_l, CODMN))
  if (r.cod_mg_l !== undefined) worst = Math.max(worst, classAtMost(r.cod_mg_l, COD))
  if (r.ammonia_nitrogen_mg_l !== undefined) worst = Math.max(worst, classAtMost(r.ammonia_nitrogen_mg_l, NH3N))
  if (r.total_phosphorus_mg_l !== undefined) worst = Math.max(worst, classAtMost(r.total_phosphorus_mg_l, body === 'lake' ? TP_LAKE : TP_RIVER))
  // Total nitrogen is a class limit for lakes and reservoirs only.
  if (body === 'lake' && r.total_nitrogen_mg_l !== undefined) worst = Math.max(worst, classAtMost(r.total_nitrogen_mg_l, TN_LAKE))
  return worst === 0 ? undefined : worst
}
