/**
 * The flat-JSON fast path must give what the schema path gives (JSON.parse -> zod -> toPoints -> the
 * sinks' formatter) for every message it takes, take the common station message, and leave everything
 * else to the schema path. Checked over hand-picked edge cases and over generated messages: valid ones and
 * ones mutated a character at a time.
 */
import { describe, expect, it } from 'vitest'
import { compileFlatReading } from '../../../devices/common/flat-json.ts'
import type { NormalizeContext } from '../../../devices/common/kind.ts'
import type { Point } from '../../../devices/common/point.ts'
import { fastWaterQualityPoint, waterQuality, waterQualityPoint } from '../../../devices/water-quality/index.ts'
import { WaterQualityReading } from '../../../devices/water-quality/schema.ts'
import { formatFields } from '../../../gateway/core/line-protocol.ts'

const river: NormalizeContext = { receivedAt: 1_790_000_000_000 }
const lake: NormalizeContext = { receivedAt: 1_790_000_000_000, options: { waterBody: 'lake' } }

/** The schema path's point, or undefined when the schema refuses the message. */
function schemaPoint(text: string, ctx: NormalizeContext): Point | undefined {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return undefined
  }
  const r = WaterQualityReading.safeParse(json)
  return r.success ? waterQualityPoint(r.data, ctx) : undefined
}

/** A field set `k=v,k=3i,k="s"` as numbers by key (an `i` suffix kept apart so a type change would show;
 * strings as written, quotes and all). The only string field here is gb3838_factor, a plain field name. */
function fieldSet(line: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const kv of line.split(',')) {
    const [k, v] = kv.split('=') as [string, string]
    out[k] = v.startsWith('"') ? v : v.endsWith('i') ? `${Number(v.slice(0, -1))}i` : String(Number(v))
  }
  return out
}

function expectSame(text: string, ctx: NormalizeContext = river): Point | undefined {
  const fast = fastWaterQualityPoint(Buffer.from(text, 'utf8'), ctx)
  const slow = schemaPoint(text, ctx)
  if (fast === undefined) return undefined
  expect(slow, `fast path took what the schema refuses: ${text}`).toBeDefined()
  expect(fast.measurement).toBe(slow!.measurement)
  expect(fast.tags).toEqual(slow!.tags)
  expect(fast.time).toBe(slow!.time)
  expect(fast.fields).toEqual(slow!.fields)
  expect(fieldSet(fast.fieldsLine!)).toEqual(fieldSet(formatFields('water_quality', slow!.fields)))
  return fast
}

const station = (i: number): string =>
  `{"ts":${1_785_000_000_000 + i},"ph":${(6.5 + (i % 50) / 20).toFixed(2)},"water_temp_c":${(18 + (i % 30) / 10).toFixed(1)},"dissolved_oxygen_mg_l":${((i % 90) / 10).toFixed(1)},"turbidity_ntu":${(3 + (i % 40) / 10).toFixed(1)},"conductivity_us_cm":${450 + (i % 60)},"cod_mg_l":${(i % 500) / 10},"ammonia_nitrogen_mg_l":${((i % 250) / 100).toFixed(2)},"total_phosphorus_mg_l":${((i % 50) / 100).toFixed(3)},"total_nitrogen_mg_l":${((i % 30) / 10).toFixed(1)},"orp_mv":${(i % 400) - 200}}`

describe('flat JSON fast path', () => {
  it('exists for water quality, and the MQTT source is given it', () => {
    expect(compileFlatReading(WaterQualityReading, 'water_quality', { requireField: true, refinements: 1 })).toBeDefined()
    expect(waterQuality.fastTelemetry).toBe(fastWaterQualityPoint)
  })

  it('refuses to compile for a schema it cannot mirror exactly', () => {
    // The refinement it does not know about would be skipped.
    expect(compileFlatReading(WaterQualityReading, 'water_quality', { requireField: true })).toBeUndefined()
  })

  it('takes the everyday station message, with the GB 3838 class and its deciding factor, as the schema path does', () => {
    const factors = new Set<unknown>()
    for (let i = 0; i < 2000; i++) {
      const p = expectSame(station(i), i % 2 ? river : lake)
      expect(p, station(i)).toBeDefined()
      expect(p!.fieldsLine).toMatch(/,gb3838_class=\di,gb3838_factor="[a-z_]+"$/)
      factors.add(p!.fields['gb3838_factor'])
    }
    // The generated stations are decided by every graded factor somewhere (TN only in the lake readings).
    expect([...factors].sort()).toEqual(['ammonia_nitrogen_mg_l', 'cod_mg_l', 'dissolved_oxygen_mg_l', 'total_nitrogen_mg_l', 'total_phosphorus_mg_l'])
  })

  it('gives no class and no factor for a reading without a graded factor, as the schema path does', () => {
    // Before: pH alone was class I on both paths.
    for (const text of ['{"ph":7.1}', '{"ph":9.5,"water_temp_c":18.2}', '{"ph":7.1,"turbidity_ntu":3,"conductivity_us_cm":450,"orp_mv":120}']) {
      const p = expectSame(text)!
      expect(p, text).toBeDefined()
      expect(p.fields, text).not.toHaveProperty('gb3838_class')
      expect(p.fields, text).not.toHaveProperty('gb3838_factor')
      expect(p.fieldsLine, text).not.toContain('gb3838')
    }
    // Total nitrogen alone is graded for a lake only.
    expect(expectSame('{"total_nitrogen_mg_l":1.8}')!.fields).toEqual({ total_nitrogen_mg_l: 1.8 })
    expect(expectSame('{"total_nitrogen_mg_l":1.8}', lake)!.fields).toEqual({ total_nitrogen_mg_l: 1.8, gb3838_class: 5, gb3838_factor: 'total_nitrogen_mg_l' })
  })

  it('names the worst factor on both paths: pH + DO gives DO, NH3-N worse than DO and COD wins', () => {
    expect(expectSame('{"ph":7.1,"dissolved_oxygen_mg_l":5.5}')!.fieldsLine).toBe('ph=7.1,dissolved_oxygen_mg_l=5.5,gb3838_class=3i,gb3838_factor="dissolved_oxygen_mg_l"')
    const p = expectSame('{"dissolved_oxygen_mg_l":6.5,"cod_mg_l":18,"ammonia_nitrogen_mg_l":1.2}')!
    expect(p.fields).toMatchObject({ gb3838_class: 4, gb3838_factor: 'ammonia_nitrogen_mg_l' })
  })

  it('writes each number as it came: no printing back from a double', () => {
    const p = expectSame('{"ph":7.10,"cod_mg_l":15.000,"conductivity_us_cm":450}')!
    expect(p.fieldsLine).toBe('ph=7.10,cod_mg_l=15.000,conductivity_us_cm=450,gb3838_class=1i,gb3838_factor="cod_mg_l"')
    expect(p.time).toBe(river.receivedAt)
  })

  it('allows JSON whitespace and any key order', () => {
    expect(expectSame(' {\n\t"cod_mg_l" : 12.5 ,\r\n "ph":7 , "ts": 1785000000000 }\n')).toBeDefined()
  })

  it.each([
    ['exponent', '{"ph":7e0}'],
    ['capital exponent', '{"ph":0.7E1}'],
    ['minus zero', '{"orp_mv":-0}'],
    ['minus zero with decimals', '{"orp_mv":-0.00}'],
    ['16 significant digits', '{"ph":7.000000000000001}'],
    ['a string value', '{"ph":"7.1"}'],
    ['an ISO timestamp', '{"ts":"2026-11-22T10:00:00+08:00","ph":7.1}'],
    ['a fractional timestamp', '{"ts":1785000000000.5,"ph":7.1}'],
    ['a timestamp before 2000', '{"ts":900000000000,"ph":7.1}'],
    ['an unknown key', '{"ph":7.1,"colour":3}'],
    ['a key that is a prefix of one', '{"p":7.1}'],
    ['a key with a known prefix', '{"phx":7.1}'],
    ['a key with an escape', '{"p\\u0068":7.1}'],
    ['a repeated key', '{"ph":7.1,"ph":7.2}'],
    ['no field but ts', '{"ts":1785000000000}'],
    ['an empty object', '{}'],
    ['out of range', '{"ph":14.01}'],
    ['below range', '{"dissolved_oxygen_mg_l":-0.1}'],
    ['leading zero', '{"ph":07.1}'],
    ['bare dot', '{"ph":7.}'],
    ['dot first', '{"ph":.7}'],
    ['plus sign', '{"ph":+7}'],
    ['true', '{"ph":true}'],
    ['null', '{"ph":null}'],
    ['nested', '{"ph":{"v":7}}'],
    ['an array', '[{"ph":7.1}]'],
    ['trailing comma', '{"ph":7.1,}'],
    ['missing colon', '{"ph" 7.1}'],
    ['trailing garbage', '{"ph":7.1}x'],
    ['two objects', '{"ph":7.1}{"ph":7.2}'],
    ['unterminated', '{"ph":7.1'],
    ['empty', ''],
    ['gb3838_class given by the device', '{"ph":7.1,"gb3838_class":1}'],
    ['gb3838_factor given by the device', '{"ph":7.1,"gb3838_factor":"ph"}'],
  ])('leaves %s to the schema path', (_name, text) => {
    expect(fastWaterQualityPoint(Buffer.from(text, 'utf8'), river)).toBeUndefined()
  })

  it('never disagrees with the schema path on mutated messages', () => {
    // Deterministic pseudo-random mutations: replace, insert or delete one character of a valid message.
    let seed = 42
    const rand = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
      return seed % n
    }
    const alphabet = '0123456789.-+eE ",:{}[]tsphxa\\\n'
    let taken = 0
    let valid = 0
    for (let i = 0; i < 20_000; i++) {
      const base = station(i)
      const at = rand(base.length)
      const ch = alphabet[rand(alphabet.length)]!
      const op = rand(3)
      const text = op === 0 ? base.slice(0, at) + ch + base.slice(at + 1) : op === 1 ? base.slice(0, at) + ch + base.slice(at) : base.slice(0, at) + base.slice(at + 1)
      const ctx = i % 3 ? river : lake
      if (schemaPoint(text, ctx)) valid++
      if (expectSame(text, ctx)) taken++
    }
    // Many changes (to a digit, a space) leave a valid reading: the fast path takes most of those.
    expect(valid).toBeGreaterThan(1000)
    expect(taken / valid).toBeGreaterThan(0.8)
  })
})
