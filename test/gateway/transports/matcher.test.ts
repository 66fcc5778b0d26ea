import { describe, expect, it } from 'vitest'
import { createMatcher, MatchError } from '../../../gateway/transports/matcher.ts'

interface Msg {
  qn?: string
  address?: string
  body: string
}

describe('request/response matcher', () => {
  it('many in flight by key (an HJ 212 QN): each answer goes to its own request, in any order', async () => {
    const m = createMatcher<string, Msg>({ keyOf: (x) => x.qn })
    const a = m.wait('A', { timeoutMs: 5_000 })
    const b = m.wait('B', { timeoutMs: 5_000 })
    expect(m.pending).toBe(2)
    expect(m.settle({ qn: 'B', body: 'b' })).toBe(true)
    expect(m.settle({ qn: 'C', body: 'nobody' })).toBe(false)
    expect(m.settle({ body: 'no key' })).toBe(false)
    expect(m.settle({ qn: 'A', body: 'a' })).toBe(true)
    expect(await a).toEqual({ qn: 'A', body: 'a' })
    expect(await b).toEqual({ qn: 'B', body: 'b' })
    expect(m.pending).toBe(0)
    // A late second answer to A finds nobody.
    expect(m.settle({ qn: 'A', body: 'again' })).toBe(false)
  })

  it('one in flight by predicate (a half-duplex bus): foreign replies are left, a second wait is busy', async () => {
    const m = createMatcher<never, Msg>({ maxPending: 1 })
    const r = m.wait((x) => x.address === '0001', { timeoutMs: 5_000, what: 'reply from 0001' })
    await expect(m.wait(() => true, { timeoutMs: 5_000 })).rejects.toMatchObject({ code: 'busy' })
    expect(m.settle({ address: '0002', body: 'late reply of another meter' })).toBe(false)
    expect(m.pending).toBe(1)
    expect(m.settle({ address: '0001', body: 'ours' })).toBe(true)
    expect((await r).body).toBe('ours')
    // The bus is free again.
    const next = m.wait(() => true, { timeoutMs: 5_000 })
    m.settle({ body: 'x' })
    expect((await next).body).toBe('x')
  })

  it('times out with a MatchError that names what was awaited, and forgets the wait', async () => {
    const m = createMatcher<number, Msg>({ keyOf: () => 7 })
    const t0 = Date.now()
    const err = await m.wait(7, { timeoutMs: 30, what: 'answer to serial 7' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(MatchError)
    expect(err).toMatchObject({ code: 'timeout', message: 'no answer to serial 7 within 30 ms' })
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25)
    expect(m.pending).toBe(0)
    expect(m.settle({ body: 'too late' })).toBe(false)
  })

  it('an abort (a stop) rejects at once, also when already aborted; failAll rejects every wait with the given error', async () => {
    const m = createMatcher<string, Msg>({ keyOf: (x) => x.qn })
    const ac = new AbortController()
    const a = m.wait('A', { timeoutMs: 60_000, signal: ac.signal })
    ac.abort()
    await expect(a).rejects.toMatchObject({ code: 'aborted' })
    await expect(m.wait('B', { timeoutMs: 60_000, signal: ac.signal })).rejects.toMatchObject({ code: 'aborted' })
    expect(m.pending).toBe(0)

    const closed = new Error('connection closed')
    const waits = [m.wait('C', { timeoutMs: 60_000 }), m.wait('D', { timeoutMs: 60_000 }), m.wait((x) => x.body === 'e', { timeoutMs: 60_000 })]
    expect(m.pending).toBe(3)
    m.failAll(closed)
    for (const w of waits) await expect(w).rejects.toBe(closed)
    expect(m.pending).toBe(0)
  })

  it('refuses a second wait for a key already awaited (two requests with one serial number)', async () => {
    const m = createMatcher<number, Msg>({ keyOf: () => 1 })
    const first = m.wait(1, { timeoutMs: 5_000 })
    await expect(m.wait(1, { timeoutMs: 5_000 })).rejects.toMatchObject({ code: 'busy' })
    m.settle({ body: 'one' })
    expect((await first).body).toBe('one')
  })
})
