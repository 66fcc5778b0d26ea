/**
 * gateway/broker/pacing.ts: a client is paced by what the gateway has processed, at QoS 0 too (issue 13).
 * Real timers and real work (a busy loop standing for validation); no mock of the event loop.
 */
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { AckGroups } from '../../../gateway/broker/index.ts'
import { Pacer } from '../../../gateway/broker/pacing.ts'

const quiet = pino({ level: 'silent' })
const busy = (ms: number) => {
  const end = performance.now() + ms
  while (performance.now() < end);
}
const turn = () => new Promise((r) => setImmediate(r))

describe('Pacer', () => {
  it('spends at most its time budget of a turn on messages; the rest follow in later turns, in order, clients in turn', async () => {
    const handled: string[] = []
    const pacer = new Pacer(
      (topic) => {
        busy(4)
        handled.push(topic)
        return Promise.resolve()
      },
      new AckGroups(quiet),
      quiet,
      { turnBudgetMs: 10, maxInFlight: 1000 },
    )
    const flooder = {}
    const other = {}
    const acked: string[] = []
    for (let i = 0; i < 30; i++) pacer.take(flooder, `f${i}`, Buffer.alloc(0), 0, () => acked.push(`f${i}`))
    // The budget (10 ms) is spent after at most three 4 ms messages (fewer when the machine is busy and a
    // message takes longer): the rest wait, and so does aedes' next read.
    expect(handled.length).toBeGreaterThanOrEqual(1)
    expect(handled.length).toBeLessThanOrEqual(4)
    expect(pacer.queued).toBe(30 - handled.length)
    pacer.take(other, 'o0', Buffer.alloc(0), 1, () => acked.push('o0'))
    expect(handled).not.toContain('o0')
    // Within a bounded number of turns everything is handled, the flooder's messages in order, and the
    // other client's message within the next turn, not after the flood.
    for (let i = 0; i < 100 && handled.length < 31; i++) await turn()
    expect(handled.filter((t) => t.startsWith('f'))).toEqual(Array.from({ length: 30 }, (_, i) => `f${i}`))
    expect(handled.indexOf('o0')).toBeLessThan(10)
    await turn()
    expect(acked).toHaveLength(31)
  })

  it('holds a QoS 0 callback once a client has more than maxInFlight unsettled messages, until they settle', async () => {
    let release!: () => void
    const pending = new Promise<void>((r) => {
      release = r
    })
    const pacer = new Pacer(() => pending, new AckGroups(quiet), quiet, { turnBudgetMs: 1000, maxInFlight: 3 })
    const client = {}
    const acked: number[] = []
    for (let i = 0; i < 5; i++) pacer.take(client, 't', Buffer.alloc(0), 0, () => acked.push(i))
    // QoS 0 within the bound is acknowledged at once (there is nothing to acknowledge on the wire).
    expect(acked).toEqual([0, 1, 2])
    await turn()
    expect(acked).toEqual([0, 1, 2])
    release()
    await turn()
    expect(acked).toEqual([0, 1, 2, 3, 4])
    // Settled: in flight is back to zero, so the next one goes at once.
    pacer.take(client, 't', Buffer.alloc(0), 0, () => acked.push(5))
    expect(acked).toEqual([0, 1, 2, 3, 4, 5])
  })

  it('QoS 1 waits for its promise; a handler that throws or refuses is acknowledged without disconnecting', async () => {
    let release!: () => void
    const pending = new Promise<void>((r) => {
      release = r
    })
    const pacer = new Pacer(
      (topic) => {
        if (topic === 'throw') throw new Error('bug')
        return topic === 'none' ? undefined : pending
      },
      new AckGroups(quiet),
      quiet,
    )
    const c = {}
    const got: [string, Error | null][] = []
    for (const t of ['wait', 'throw', 'none']) pacer.take(c, t, Buffer.alloc(0), 1, (err) => got.push([t, err]))
    expect(got).toEqual([
      ['throw', null],
      ['none', null],
    ])
    release()
    await turn()
    expect(got.map((g) => g[0])).toEqual(['throw', 'none', 'wait'])
  })
})
