/**
 * GB 3838-2002 surface-water class by the single-factor method: the class of a sample is the worst class of
 * any graded item present (docs/protocols.md section 8). The class is 1..5, 6 for worse than class V
 * ("劣V类"), or none when no graded item is present.
 *
 * Graded here, in the order of the standard's Table 1 (items 3, 4, 5, 7, 8, 9): dissolved oxygen,
 * permanganate index, COD, ammonia nitrogen, total phosphorus (river or lake limits), total nitrogen (lakes
 * and reservoirs only). Not graded: pH (6-9 is the same for classes I to V, so it cannot tell classes apart)
 * and water temperature (Table 1 limits a man-made change, not a value); turbidity, conductivity, residual
 * chlorine and ORP are not in Table 1. BOD5 and the metals of Table 1 have no canonical field.
 * Dissolved oxygen class I is "≥ 7.5 mg/L (or 90 % saturation)": only the concentration is read.
 *
 * The deciding factor is the graded item with the worst class; when several share it, the first in the
 * table order above (so DO before CODMn before COD before NH3-N before TP before TN).
 */
import type { FieldValue } from '../common/point.ts'

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

/** The graded factors in the standard's table order (the tie-break order). */
export const GB3838_FACTORS = ['dissolved_oxygen_mg_l', 'codmn_mg_l', 'cod_mg_l', 'ammonia_nitrogen_mg_l', 'total_phosphorus_mg_l', 'total_nitrogen_mg_l'] as const
export type Gb3838Factor = (typeof GB3838_FACTORS)[number]

function classAtMost(v: number, limits: Limits): number {
  for (let i = 0; i < 5; i++) if (v <= limits[i]!) return i + 1
  return 6
}

function classAtLeast(v: number, limits: Limits): number {
  for (let i = 0; i < 5; i++) if (v >= limits[i]!) return i + 1
  return 6
}

export interface ClassableFields {
  /** Read by nothing here (pH is not graded); listed so a whole reading can be passed. */
  ph?: number | undefined
  dissolved_oxygen_mg_l?: number | undefined
  codmn_mg_l?: number | undefined
  cod_mg_l?: number | undefined
  ammonia_nitrogen_mg_l?: number | undefined
  total_phosphorus_mg_l?: number | undefined
  total_nitrogen_mg_l?: number | undefined
}

/**
 * The class and its deciding factor packed into one small integer, `class * 8 + index in GB3838_FACTORS`,
 * or 0 when no graded factor is present. One number, so the hot path allocates nothing for it; read it with
 * `gradeClass` and `gradeFactor`.
 */
export type Gb3838Grade = number

export function gb3838Grade(r: ClassableFields, body: WaterBody = 'river'): Gb3838Grade {
  // Runs for every reading: plain comparisons, no closures, no objects. A factor takes over only when its
  // class is strictly worse, so a tie stays with the earlier factor of the table.
  let worst = 0
  let factor = 0
  let c = 0
  if (r.dissolved_oxygen_mg_l !== undefined) {
    worst = classAtLeast(r.dissolved_oxygen_mg_l, DO)
    factor = 0
  }
  if (r.codmn_mg_l !== undefined) {
    c = classAtMost(r.codmn_mg_l, CODMN)
    if (c > worst) {
      worst = c
      factor = 1
    }
  }
  if (r.cod_mg_l !== undefined) {
    c = classAtMost(r.cod_mg_l, COD)
    if (c > worst) {
      worst = c
      factor = 2
    }
  }
  if (r.ammonia_nitrogen_mg_l !== undefined) {
    c = classAtMost(r.ammonia_nitrogen_mg_l, NH3N)
    if (c > worst) {
      worst = c
      factor = 3
    }
  }
  if (r.total_phosphorus_mg_l !== undefined) {
    c = classAtMost(r.total_phosphorus_mg_l, body === 'lake' ? TP_LAKE : TP_RIVER)
    if (c > worst) {
      worst = c
      factor = 4
    }
  }
  // Total nitrogen is a class limit for lakes and reservoirs only.
  if (body === 'lake' && r.total_nitrogen_mg_l !== undefined) {
    c = classAtMost(r.total_nitrogen_mg_l, TN_LAKE)
    if (c > worst) {
      worst = c
      factor = 5
    }
  }
  return worst === 0 ? 0 : worst * 8 + factor
}

/** The class 1..6 of a grade, undefined for none. */
export function gradeClass(g: Gb3838Grade): number | undefined {
  return g === 0 ? undefined : g >> 3
}

/** The field that decided a grade, undefined for none. */
export function gradeFactor(g: Gb3838Grade): Gb3838Factor | undefined {
  return g === 0 ? undefined : GB3838_FACTORS[g & 7]
}

/** The class alone (1..6), or undefined when no graded factor is present. */
export function gb3838Class(r: ClassableFields, body: WaterBody = 'river'): number | undefined {
  return gradeClass(gb3838Grade(r, body))
}

/**
 * Writes `gb3838_class` and `gb3838_factor` into a point's fields (nothing when there is no class) and
 * returns the grade. The one place both fields are set, for every path (MQTT, Modbus, HJ 212).
 */
export function setGb3838Fields(fields: Record<string, FieldValue>, g: Gb3838Grade): Gb3838Grade {
  if (g !== 0) {
    fields['gb3838_class'] = g >> 3
    fields['gb3838_factor'] = GB3838_FACTORS[g & 7]!
  }
  return g
}

// `,gb3838_class=<c>i,gb3838_factor="<field>"` for every grade, made once: the fast path appends it as is.
const LINE_SUFFIX: string[] = []
for (let c = 1; c <= 6; c++) for (let f = 0; f < GB3838_FACTORS.length; f++) LINE_SUFFIX[c * 8 + f] = `,gb3838_class=${c}i,gb3838_factor="${GB3838_FACTORS[f]}"`

/** The line-protocol field text of a grade (with its leading comma), '' for none. */
export function gb3838Line(g: Gb3838Grade): string {
  return g === 0 ? '' : LINE_SUFFIX[g]!
}
