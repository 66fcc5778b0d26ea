import { describe, expect, it } from 'vitest'
import { createBackoff } from '../../../gateway/transports/backoff.ts'

describe('back-off', () => {
  it('doubles from min to max, and reset starts again at min', () => {
    const b = createBackoff({ minMs: 100, maxMs: 1000, jitter: 0 })
    expect([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([100, 200, 400, 800, 1000, 1000])
    expect(b.attempts).toBe(6)
    b.reset()
    expect(b.attempts).toBe(0)
    expect(b.next()).toBe(100)
  })

  it('jitter takes up to its share off each step, never more than max; deterministic with a given random', () => {
    const seq = [0, 0.5, 0.999, 1 - 1e-9]
    let i = 0
    const b = createBackoff({ minMs: 1000, maxMs: 4000, jitter: 0.5, random: () => seq[i++ % seq.length]! })
    expect([b.next(), b.next(), b.next(), b.next()]).toEqual([1000, 1500, 2002, 2000])
    const r = createBackoff({ minMs: 10, maxMs: 50, factor: 3 })
    for (let k = 0; k < 200; k++) {
      const d = r.next()
      expect(d).toBeGreaterThanOrEqual(5)
      expect(d).toBeLessThanOrEqual(50)
    }
  })

  it('a factor other than 2, and large attempt counts stay finite', () => {
    const b = createBackoff({ minMs: 1, maxMs: 1e6, factor: 10, jitter: 0 })
    expect([b.next(), b.next(), b.next()]).toEqual([1, 10, 100])
    for (let k = 0; k < 2000; k++) b.next()
    expect(b.next()).toBe(1e6)
  })

  it('refuses options that cannot work', () => {
    expect(() => createBackoff({ minMs: 500, maxMs: 100 })).toThrow(RangeError)
    expect(() => createBackoff({ minMs: -1, maxMs: 100 })).toThrow(RangeError)
    expect(() => createBackoff({ minMs: 1, maxMs: 100, factor: 0.5 })).toThrow(RangeError)
  })
})
