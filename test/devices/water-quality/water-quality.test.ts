import { describe, expect, it } from 'vitest'
import { gb3838Class } from '../../../devices/water-quality/gb3838.ts'
import { waterQuality } from '../../../devices/water-quality/index.ts'
import { WaterQualityReading } from '../../../devices/water-quality/schema.ts'

describe('GB 3838-2002 class by the single-factor method', () => {
  it('takes the worst single item', () => {
    expect(gb3838Class({ ph: 7.2, dissolved_oxygen_mg_l: 8, ammonia_nitrogen_mg_l: 0.1 })).toBe(1)
    expect(gb3838Class({ dissolved_oxygen_mg_l: 8, ammonia_nitrogen_mg_l: 0.9 })).toBe(3)
    expect(gb3838Class({ dissolved_oxygen_mg_l: 2.5, cod_mg_l: 12 })).toBe(5)
    expect(gb3838Class({ cod_mg_l: 41 })).toBe(6)
    expect(gb3838Class({ ph: 9.3, cod_mg_l: 5 })).toBe(6)
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
    const [p] = waterQuality.toPoints(r, { receivedAt: 0 })
    expect(p).toEqual({ measurement: 'water_quality', tags: {}, fields: { ph: 7.1, dissolved_oxygen_mg_l: 5.5, water_temp_c: 15, gb3838_class: 3 }, time: Date.UTC(2026, 10, 22, 2) })
  })

  it('uses the receive time when the reading has none, and the lake option per device', () => {
    const r = WaterQualityReading.parse({ total_phosphorus_mg_l: 0.05 })
    expect(waterQuality.toPoints(r, { receivedAt: 42, options: { waterBody: 'lake' } })[0]).toMatchObject({ time: 42, fields: { gb3838_class: 3 } })
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
