import { describe, expect, it } from 'vitest'
import { createNap, sleep } from '../../../gateway/transports/timers.ts'

describe('timers', () => {
  it('sleep resolves true after the time, false at once on abort (also when already aborted)', async () => {
    const t0 = Date.now()
    expect(await sleep(30)).toBe(true)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25)

    const ac = new AbortController()
    const t1 = Date.now()
    const p = sleep(10_000, ac.signal)
    setTimeout(() => ac.abort(), 20)
    expect(await p).toBe(false)
    expect(Date.now() - t1).toBeLessThan(2_000)
    expect(await sleep(10_000, ac.signal)).toBe(false)
  })

  it('a nap is woken without touching the next one; its stop signal ends every nap for good', async () => {
    const stop = new AbortController()
    const nap = createNap(stop.signal)
    nap.wake() // nobody sleeps: no effect
    const t0 = Date.now()
    const woken = nap.sleep(10_000)
    setTimeout(() => nap.wake(), 20)
    expect(await woken).toBe(false)
    expect(Date.now() - t0).toBeLessThan(2_000)
    expect(await nap.sleep(20)).toBe(true)
    stop.abort()
    const t1 = Date.now()
    expect(await nap.sleep(10_000)).toBe(false)
    expect(Date.now() - t1).toBeLessThan(1_000)
  })
})
