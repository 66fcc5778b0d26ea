import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { isReason, REASONS, zodReason } from '../../../devices/common/reasons.ts'

// Old spellings kept only until the transports helper renames them (issue 11); not snake_case on purpose.

describe('the reason catalogue', () => {
  const codes = Object.keys(REASONS) as (keyof typeof REASONS)[]
  it('has only snake_case codes, each with a one-line meaning', () => {
    expect(codes.length).toBeGreaterThan(90)
    for (const c of codes) {
      expect(c, c).toMatch(/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/)
      const meaning = REASONS[c]
      expect(meaning.length, c).toBeGreaterThan(10)
      expect(meaning, c).not.toContain('\n')
    }
  })
  it('is listed in README.md, code by code', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8')
    const missing = codes.filter((c) => !readme.includes(`| \`${c}\` |`))
    expect(missing).toEqual([])
  })
  it('isReason knows catalogued codes only', () => {
    expect(isReason('bad_crc')).toBe(true)
    expect(isReason('BAD_CRC')).toBe(false)
    expect(isReason('toString')).toBe(false)
  })
})

describe('zodReason', () => {
  const S = z.strictObject({ ts: z.number().optional(), t: z.number().min(0).max(10), mode: z.enum(['a', 'b']).optional() })
  const reason = (v: unknown) => {
    const r = S.safeParse(v)
    if (r.success) throw new Error('expected a failure')
    return zodReason(r.error)
  }
  it('names the first issue', () => {
    expect(reason({ t: 1, x: 2 })).toEqual({ reason: 'unknown_field', detail: '(reading): Unrecognized key: "x" (x)' })
    expect(reason({ t: 'a' }).reason).toBe('wrong_type')
    expect(reason({ t: 11 }).reason).toBe('out_of_range')
    expect(reason({ t: 1, mode: 'c' }).reason).toBe('invalid_value')
    expect(reason({ t: 1, ts: 'x' }).reason).toBe('bad_timestamp')
  })
  it('takes a catalogued custom reason, and only a catalogued one', () => {
    const C = z.object({ a: z.number() }).refine(() => false, { params: { reason: 'empty_reading' } })
    const D = z.object({ a: z.number() }).refine(() => false, { params: { reason: 'not_a_reason' } })
    const c = C.safeParse({ a: 1 })
    const d = D.safeParse({ a: 1 })
    expect(!c.success && zodReason(c.error).reason).toBe('empty_reading')
    expect(!d.success && zodReason(d.error).reason).toBe('invalid')
  })
})
