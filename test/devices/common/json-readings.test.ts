import { describe, expect, it } from 'vitest'
import { itemRaw, JSON_LIMITS, jsonDepth, jsonItems } from '../../../devices/common/json-readings.ts'

describe('json-readings: a JSON payload -> its readings', () => {
  it('one object is one reading, an array one per item', () => {
    expect(jsonItems('{"ph":7}')).toEqual({ ok: true, items: [{ ph: 7 }], array: false })
    expect(jsonItems('[{"ph":7},{"ph":"x"}]')).toEqual({ ok: true, items: [{ ph: 7 }, { ph: 'x' }], array: true })
  })
  it('refuses malformed JSON and an empty array with catalogued reasons', () => {
    expect(jsonItems('{"ph":')).toMatchObject({ ok: false, reason: 'malformed_json' })
    expect(jsonItems('[]')).toEqual({ ok: false, reason: 'empty_reading', detail: 'empty array' })
  })
  it('refuses an array over the item limit', () => {
    const text = `[${Array.from({ length: 11 }, () => '{}').join(',')}]`
    expect(jsonItems(text, { ...JSON_LIMITS, maxItems: 10 })).toEqual({ ok: false, reason: 'too_many_items', detail: '11 items > 10' })
    expect(jsonItems(text, { ...JSON_LIMITS, maxItems: 11 }).ok).toBe(true)
  })
  it('refuses JSON nested deeper than the limit, brackets inside strings not counted', () => {
    expect(jsonDepth('[[{"a":[1]}]]', 99)).toBe(4)
    expect(jsonDepth('{"a":"[[[[[[\\"[["}', 99)).toBe(1)
    expect(jsonItems('[[[1]]]', { ...JSON_LIMITS, maxDepth: 2 })).toMatchObject({ ok: false, reason: 'json_too_deep' })
    expect(jsonItems('{"a":"[[[[[["}', { ...JSON_LIMITS, maxDepth: 2 }).ok).toBe(true)
  })
  it('does not throw on 6,000 nested arrays (refused as json_too_deep)', () => {
    const deep = `${'['.repeat(6000)}${']'.repeat(6000)}`
    expect(() => jsonItems(deep)).not.toThrow()
    expect(jsonItems(deep)).toMatchObject({ ok: false, reason: 'json_too_deep' })
  })
  it('itemRaw keeps the JSON text, bounded, and never throws', () => {
    expect(itemRaw({ ph: 'x' })).toBe('{"ph":"x"}')
    expect(itemRaw({ s: 'abcdefghij' }, 5)).toBe('{"s":...')
    const cyclic: Record<string, unknown> = {}
    cyclic['self'] = cyclic
    expect(itemRaw(cyclic)).toMatch(/^\(unserializable object: /)
    expect(itemRaw(10n)).toMatch(/^\(unserializable bigint: /)
    let deep: unknown[] = []
    for (let i = 0; i < 20_000; i++) deep = [deep]
    expect(() => itemRaw(deep)).not.toThrow()
    expect(itemRaw(deep, 100).length).toBeLessThanOrEqual(103)
    expect(itemRaw(undefined)).toBe('undefined')
  })
})
