import { describe, expect, it } from 'vitest'
import { GB3838_FACTORS, gb3838Class, gb3838Grade, gb3838Line, gradeClass, gradeFactor } from '../../../devices/water-quality/gb3838.ts'
import { waterQuality } from '../../../devices/water-quality/index.ts'
import { WaterQualityReading } from '../../../devices/water-quality/schema.ts'

describe('GB 3838-2002 class by the single-factor method', () => {
  it('takes the worst single item', () => {
    expect(gb3838Class({ ph: 7.2, dissolved_oxygen_mg_l: 8, ammonia_nitrogen_mg_l: 0.1 })).toBe(1)
    expect(gb3838Class({ dissolved_oxygen_mg_l: 8, ammonia_nitrogen_mg_l: 0.9 })).toBe(3)
    expect(gb3838Class({ dissolved_oxygen_mg_l: 2.5, cod_mg_l: 12 })).toBe(5)
    expect(gb3838Class({ cod_mg_l: 41 })).toBe(6)
  })

  it('does not grade pH (6-9 in every class): pH alone gives no class, and pH never decides one', () => {
    // Before: a pH-only reading was stored as class I, and pH 9.3 made any reading class 6.
    expect(gb3838Grade({ ph: 7.2 })).toBe(0)
    expect(gb3838Class({ ph: 7.2 })).toBeUndefined()
    expect(gb3838Class({ ph: 9.3 })).toBeUndefined()
    expect(gb3838Class({ ph: 9.3, cod_mg_l: 5 })).toBe(1)
  })

  it('names the factor that decided: the worst class, ties to the first in Table 1 order', () => {
    const decided = (r: Parameters<typeof gb3838Grade>[0], body?: 'river' | 'lake') => {
      const g = gb3838Grade(r, body)
      return [gradeClass(g), gradeFactor(g)]
    }
    // pH + DO: DO's class (DO 5.5 >= 5 is class III).
    expect(decided({ ph: 7.1, dissolved_oxygen_mg_l: 5.5 })).toEqual([3, 'dissolved_oxygen_mg_l'])
    // The worst factor wins, wherever it sits.
    expect(decided({ ph: 7, dissolved_oxygen_mg_l: 8, cod_mg_l: 12, ammonia_nitrogen_mg_l: 1.2, total_phosphorus_mg_l: 0.1 })).toEqual([4, 'ammonia_nitrogen_mg_l'])
    expect(decided({ dissolved_oxygen_mg_l: 8, ammonia_nitrogen_mg_l: 0.4, total_phosphorus_mg_l: 0.35 })).toEqual([5, 'total_phosphorus_mg_l'])
    expect(decided({ dissolved_oxygen_mg_l: 1.5, codmn_mg_l: 20 })).toEqual([6, 'dissolved_oxygen_mg_l'])
    // Ties: DO (class II at 6.5) before NH3-N (class II at 0.4); CODMn 5 before COD 18 (both III); in a lake
    // TP 0.15 before TN 1.8 (both V).
    expect(decided({ ammonia_nitrogen_mg_l: 0.4, dissolved_oxygen_mg_l: 6.5 })).toEqual([2, 'dissolved_oxygen_mg_l'])
    expect(decided({ cod_mg_l: 18, codmn_mg_l: 5 })).toEqual([3, 'codmn_mg_l'])
    expect(decided({ total_nitrogen_mg_l: 1.8, total_phosphorus_mg_l: 0.15 }, 'lake')).toEqual([5, 'total_phosphorus_mg_l'])
    expect(decided({ total_nitrogen_mg_l: 2.5, total_phosphorus_mg_l: 0.15 }, 'lake')).toEqual([6, 'total_nitrogen_mg_l'])
    expect(decided({ total_nitrogen_mg_l: 1.8, total_phosphorus_mg_l: 0.15 }, 'river')).toEqual([3, 'total_phosphorus_mg_l'])
    expect(decided({ total_nitrogen_mg_l: 1.8, total_phosphorus_mg_l: 0.15, ph: 7 }, 'river')).toEqual([3, 'total_phosphorus_mg_l'])
    expect(decided({ ph: 7, water_temp_c: 12 } as Parameters<typeof gb3838Grade>[0])).toEqual([undefined, undefined])
  })

  it('has one line-protocol text per grade, as the formatter would write the two fields', () => {
    expect(gb3838Line(0)).toBe('')
    expect(gb3838Line(gb3838Grade({ ammonia_nitrogen_mg_l: 1.2 }))).toBe(',gb3838_class=4i,gb3838_factor="ammonia_nitrogen_mg_l"')
    for (let c = 1; c <= 6; c++) for (let f = 0; f < GB3838_FACTORS.length; f++) expect(gb3838Line(c * 8 + f)).toBe(`,gb3838_class=${c}i,gb3838_factor="${GB3838_FACTORS[f]}"`)
  })

  it('treats limits as inclusive (value <= limit; DO >= limit)', () => {
    expect(gb3838Class({ ammonia_nitrogen_mg_l: 0.15 })).toBe(1)
    expect(gb3838Class({ ammonia_nitrogen_mg_l: 0.151 })).toBe(2)
    expect(gb3838Class({ cod_mg_l: 15 })).toBe(1)
    expect(gb3838Class({ dissolved_oxygen_mg_l: 7.5 })).toBe(1)
    expect(gb3838Class({ dissolved_oxygen_mg_l: 7.49 })).toBe(2)
    expect(gb3838Class({ codmn_mg_l: 15 })).toBe(5)
  })

  it('uses the lake limits for total phosphorus and counts total nitrogen only for lakes', () => {
    expect(gb3838Class({ total_phosphorus_mg_l: 0.05 }, 'river')).toBe(2)
    expect(gb3838Class({ total_phosphorus_mg_l: 0.05 }, 'lake')).toBe(3)
    expect(gb3838Class({ total_nitrogen_mg_l: 1.8 }, 'river')).toBeUndefined()
    expect(gb3838Class({ total_nitrogen_mg_l: 1.8 }, 'lake')).toBe(5)
  })

  it('gives no class when no classable item is present', () => {
    expect(gb3838Class({})).toBeUndefined()
  })
})

describe('water_quality kind', () => {
  it('normalizes a reading into one point with the class derived at the edge', () => {
    const r = WaterQualityReading.parse({ ts: '2026-11-22T10:00:00+08:00', ph: 7.1, dissolved_oxygen_mg_l: 5.5, water_temp_c: 15 })
    const [p] = waterQuality.readings.telemetry.toPoints(r, { receivedAt: 0 })
    expect(p).toEqual({ measurement: 'water_quality', tags: {}, fields: { ph: 7.1, dissolved_oxygen_mg_l: 5.5, water_temp_c: 15, gb3838_class: 3, gb3838_factor: 'dissolved_oxygen_mg_l' }, time: Date.UTC(2026, 10, 22, 2) })
  })

  it('stores no class and no factor for a reading without a graded factor (pH and temperature only)', () => {
    const [p] = waterQuality.readings.telemetry.toPoints(WaterQualityReading.parse({ ph: 7.1, water_temp_c: 15, turbidity_ntu: 3 }), { receivedAt: 0 })
    expect(p!.fields).toEqual({ ph: 7.1, water_temp_c: 15, turbidity_ntu: 3 })
    expect('gb3838_class' in p!.fields || 'gb3838_factor' in p!.fields).toBe(false)
  })

  it('uses the receive time when the reading has none, and the lake option per device', () => {
    const r = WaterQualityReading.parse({ total_phosphorus_mg_l: 0.05 })
    expect(waterQuality.readings.telemetry.toPoints(r, { receivedAt: 42, options: { waterBody: 'lake' } })[0]).toMatchObject({ time: 42, fields: { gb3838_class: 3, gb3838_factor: 'total_phosphorus_mg_l' } })
  })

  it('refuses unknown fields, wrong types, out-of-range values, bad timestamps and empty readings', () => {
    const codes = (v: unknown) => {
      const r = WaterQualityReading.safeParse(v)
      return r.success ? [] : r.error.issues.map((i) => i.code)
    }
    expect(codes({ ph: 7, foo: 1 })).toContain('unrecognized_keys')
    expect(codes({ ph: '7' })).toContain('invalid_type')
    expect(codes({ ph: 14.5 })).toContain('too_big')
    expect(codes({ ts: '2026-11-22T10:00:00', ph: 7 }).length).toBeGreaterThan(0)
    expect(codes({ ts: 12, ph: 7 }).length).toBeGreaterThan(0)
    expect(codes({ ts: 1795000000000 })).toContain('custom')
  })
})
