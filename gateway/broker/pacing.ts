/**
 * Pacing of MQTT clients by what the gateway has processed (issue 13), for QoS 0 as for QoS 1.
 *
 * aedes reads a client's socket again only once every message of the last read has called its
 * `authorizePublish` callback, and MQTT.js takes the next message once `handleMessage` has called back. So
 * holding a callback holds the client: its TCP window fills and the device waits, while the others go on.
 * Two bounds use that:
 * - Time per turn of the event loop: messages are handled at once until the turn has spent `turnBudgetMs`
 *   on them; after that each client's messages wait in its own queue, in order, for the next turn (clients
 *   taken in turn). One client sending 100 messages of 5,000 refused readings (about 50 ms of validation
 *   each) used to hold the event loop for seconds (`/metrics` unanswered); now a turn ends after the budget
 *   and one message (at most 64 KB by default: `maxPayloadBytes` bounds the longest step).
 * - Work in flight per client: a message's promise (the handler's, settled once its points or dead letter
 *   are on disk) counts until it settles. QoS 1 waits for it anyway (the PUBACK); QoS 0 is acknowledged at
 *   once, except past `maxInFlight` unsettled messages of that client, where the callback waits for the
 *   message's promise too. A QoS 0 flood thus cannot pile up more than that bound of pending work.
 * A queue holds what one read of a client's socket brought (aedes reads no more from it meanwhile), so
 * queued messages are bounded too.
 */
import type { Logger } from '../core/types.ts'

/** Handles one message; the returned promise gates the QoS 1 acknowledgement (and paces the client). */
export type Dispatch = (topic: string, payload: Buffer, qos: 0 | 1 | 2) => Promise<unknown> | undefined
export type AckCallback = (err: Error | null) => void

/** Waits for a QoS 1 acknowledgement: `AckGroups` in gateway/broker/index.ts (one reaction per group). */
export interface AckWaiter {
  wait(p: Promise<unknown>, done: AckCallback): void
}

export const PACING = {
  /** Event-loop time a turn spends on messages before the rest wait for the next turn. */
  turnBudgetMs: 20,
  /** Unsettled messages (QoS 0 included) of one client before its next message's callback waits. */
  maxInFlight: 1000,
} as const

export type PacingLimits = { turnBudgetMs: number; maxInFlight: number }

interface Queued {
  topic: string
  payload: Buffer
  qos: 0 | 1 | 2
  done: AckCallback
}

interface ClientPace {
  queue: Queued[]
  inFlight: number
  /** The promise of the client's last message and how many of its messages share it (a spool group). */
  group: Promise<unknown> | undefined
  groupCount: { n: number }
}

/** Where a client's pacing state lives on its object (aedes' client): a property read, not a map lookup per message. */
const PACE = Symbol('smartcity.pace')

export class Pacer {
  /** Clients with queued messages, in the order they first had to wait. */
  private readonly waiting: ClientPace[] = []
  /** performance.now() at this turn's first message; -1 before it. */
  private turnStart = -1
  private readonly endTurn = (): void => {
    this.turnStart = -1
    this.drain()
  }

  constructor(
    private readonly dispatch: Dispatch,
    private readonly acks: AckWaiter,
    private readonly log: Logger,
    private readonly limits: PacingLimits = PACING,
  ) {}

  /** One message of the client `key` (aedes' client, or the external connection). */
  take(key: object, topic: string, payload: Buffer, qos: 0 | 1 | 2, done: AckCallback): void {
    const holder = key as { [PACE]?: ClientPace }
    let s = holder[PACE]
    if (s === undefined) {
      s = { queue: [], inFlight: 0, group: undefined, groupCount: { n: 0 } }
      holder[PACE] = s
    }
    if (s.queue.length > 0 || this.overBudget()) {
      if (s.queue.length === 0) this.waiting.push(s)
      s.queue.push({ topic, payload, qos, done })
      return
    }
    this.run(s, topic, payload, qos, done)
  }

  /** Messages waiting for a later turn (all clients). */
  get queued(): number {
    let n = 0
    for (const s of this.waiting) n += s.queue.length
    return n
  }

  private overBudget(): boolean {
    const t = performance.now()
    if (this.turnStart < 0) {
      this.turnStart = t
      setImmediate(this.endTurn)
      return false
    }
    return t - this.turnStart > this.limits.turnBudgetMs
  }

  /** The queued messages, a client at a time in turn, until this turn's budget is spent. */
  private drain(): void {
    while (this.waiting.length > 0) {
      if (this.overBudget()) return
      const s = this.waiting.shift()!
      const m = s.queue.shift()!
      if (s.queue.length > 0) this.waiting.push(s)
      this.run(s, m.topic, m.payload, m.qos, m.done)
    }
  }

  private run(s: ClientPace, topic: string, payload: Buffer, qos: 0 | 1 | 2, done: AckCallback): void {
    let p: Promise<unknown> | undefined
    try {
      p = this.dispatch(topic, payload, qos)
    } catch (err) {
      this.log.error({ err, topic }, 'message handler threw')
    }
    // The handler refuses bad input itself (dead letter); the client is never disconnected for it.
    if (p === undefined) {
      done(null)
      return
    }
    const inFlight = this.track(s, p)
    if (qos !== 0) this.acks.wait(p, done)
    else if (inFlight <= this.limits.maxInFlight) done(null)
    else {
      // QoS 0 past the bound: nothing to acknowledge, but no more is read from this client until it settles.
      const release = (): void => done(null)
      p.then(release, release)
    }
  }

  /** Count `p` in flight for the client until it settles (one reaction per group); returns the count. */
  private track(s: ClientPace, p: Promise<unknown>): number {
    if (p !== s.group) {
      const c = { n: 0 }
      s.group = p
      s.groupCount = c
      const settle = (): void => {
        s.inFlight -= c.n
        if (s.group === p) s.group = undefined
      }
      p.then(settle, settle)
    }
    s.groupCount.n++
    return ++s.inFlight
  }
}
