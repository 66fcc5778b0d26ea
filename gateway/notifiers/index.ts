/**
 * Alarm notices for people (issue 14 item 6): every alarm change the store reports (gateway/alarms/events.ts:
 * raise, clear, ack, shelve, unshelve) is routed to channels (`routes`: rules, kinds, districts, severity
 * and above, actions), written to a durable queue, and delivered by one loop per channel.
 *
 * - The queue is the house spool (gateway/core/spool.ts) in `<dataDir>/notify`: one append-only line per
 *   change, naming the channels it goes to, and one cursor per channel. A channel's cursor moves past a
 *   notice only after the channel acknowledged the message that carried it (HTTP 2xx, robot `errcode: 0`,
 *   SMTP 250), so a notice survives an endpoint that is down, a refusal and a restart (kill -9 included:
 *   the append is written before the store's listener returns). Delivery is at least once: a message the
 *   channel took just before a crash, whose cursor was not yet saved, is sent again after the restart.
 * - Rate: at most `ratePerMinute` messages per channel in any 60 s (DingTalk and WeCom document 20 per
 *   robot). A burst waits `gatherMs` for the rest of itself, and whatever waits for a free slot goes out as
 *   one digest listing every change (split only where a message would pass `maxBytes`), so a storm of
 *   hundreds of alarms is a handful of messages and none is left out.
 * - Retry: the house back-off (gateway/transports/backoff.ts), a channel's "too many" (HTTP 429 with
 *   Retry-After, DingTalk 130101, WeCom 45009) waits at least a minute. A refusal that needs an operator
 *   (DingTalk 310000: wrong sign or clock) is retried too, at the back-off's pace, and shows in `/healthz`
 *   and the metrics: notices are never dropped.
 * - Metrics: `smartcity_notify_messages_total{channel,type}` (single|digest), `smartcity_notify_sent_total{channel}`
 *   (notices delivered), `smartcity_notify_failures_total{channel,reason}`, `smartcity_notify_queued{channel}`.
 */
import { renameSync } from 'node:fs'
import { join } from 'node:path'
import { Counter, Gauge, type Registry } from 'prom-client'
import type { AlarmEvent, AlarmListener } from '../alarms/events.ts'
import type { Severity } from '../alarms/store.ts'
import { createSpool, type Spool, splitLines } from '../core/spool.ts'
import type { ComponentHealth, Logger } from '../core/types.ts'
import { createBackoff } from '../transports/backoff.ts'
import { sleep } from '../transports/timers.ts'
import { createSender, type Message, render, type Sender, type SendResult } from './channels.ts'
import { type ChannelConfig, defaultMaxBytes, defaultRate, type NotifiersConfig, type RouteConfig } from './config.ts'
import { bytes, digestLine } from './format.ts'

export { NotifiersConfig } from './config.ts'

/** What the notifiers subscribe to: the alarm store's `onEvent` (the contract of gateway/alarms/events.ts). */
export interface AlarmEventSource {
  onEvent(listener: AlarmListener): unknown
}

/** One queued notice: its key, the channels it goes to, the change. */
interface Entry {
  k: string
  to: string[]
  e: AlarmEvent
}

export interface NotifiersOptions {
  /** The queue's directory (`<dataDir>/notify`). */
  dir: string
  log: Logger
  /** The gateway's metrics registry. */
  registry?: Registry
  /** Replaces each channel's sender (tests of the loop itself). */
  senders?: Record<string, Sender>
}

export interface Notifiers {
  /** The listener to give the alarm store (`store.onEvent(notifiers.listener)`). Never throws. */
  readonly listener: AlarmListener
  /** Subscribe to a store that has `onEvent`; false (and a warning) when it has none. */
  subscribe(store: object): boolean
  /** Open the queue and start the channels' loops. Changes reported before are queued then. */
  start(): void
  /** Stop the loops (a request in flight is abandoned and sent again next time) and close the queue. */
  stop(): Promise<void>
  health(): Record<string, ComponentHealth>
  /** Notices waiting per channel. */
  queued(): Record<string, number>
}

const RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 }
/** Lines read per turn of a channel's loop: a digest never lists more (the rest is the next digest). */
const MAX_READ = 2000
/** Markdown and JSON around the digest lines: title, list marks, the continuation line. */
const DIGEST_OVERHEAD = 200

/** Whether a route takes a change. */
export function routeMatches(r: RouteConfig, e: AlarmEvent): boolean {
  if (r.rules && !r.rules.includes(e.rule)) return false
  if (r.kinds && (e.kind === undefined || !(r.kinds as readonly string[]).includes(e.kind))) return false
  if (r.districts && !r.districts.includes(e.district)) return false
  if (r.severity && RANK[e.severity] < RANK[r.severity]) return false
  if (r.actions && !r.actions.includes(e.action)) return false
  return true
}

/** The channels a change goes to, in configuration order. */
export function routeEvent(cfg: NotifiersConfig, e: AlarmEvent): string[] {
  if (!cfg.routes) return cfg.channels.map((c) => c.id)
  const to = new Set<string>()
  for (const r of cfg.routes) if (routeMatches(r, e)) for (const id of r.channels) to.add(id)
  return cfg.channels.map((c) => c.id).filter((id) => to.has(id))
}

/** The key of a notice: the alarm, the change and its time (a receiver can drop a repeat by it). */
export const noticeKey = (e: AlarmEvent): string => `${e.id}|${e.action}|${e.at}`

/** How many of `events` go in one message of at most `maxBytes` (at least one). */
export function fitDigest(events: readonly AlarmEvent[], c: ChannelConfig, maxBytes: number): number {
  if (events.length <= 1) return events.length
  let size = DIGEST_OVERHEAD
  let n = 0
  for (const e of events) {
    // "- " and the newline, and markdown escapes (a backslash per special character at worst doubles it).
    const line = digestLine(e, c.locale, c.timeZone)
    size += bytes(line) + (line.match(/[\\`*_[\]<>#]/g)?.length ?? 0) + 3
    if (size > maxBytes && n > 0) break
    n++
  }
  return n
}

/** A sliding 60 s window of sends: when the next one may go. */
function createLimiter(perMinute: number) {
  const sent: number[] = []
  return {
    waitMs(now: number): number {
      while (sent.length > 0 && sent[0]! <= now - 60_000) sent.shift()
      return sent.length < perMinute ? 0 : sent[0]! + 60_000 - now
    },
    record(now: number) {
      sent.push(now)
    },
  }
}

export function createNotifiers(cfg: NotifiersConfig, o: NotifiersOptions): Notifiers {
  const { log } = o
  const ids = cfg.channels.map((c) => c.id)
  const spool: Spool = createSpool({
    dir: o.dir,
    maxBytes: cfg.queue.maxBytes,
    segmentBytes: Math.min(8 << 20, Math.max(64 << 10, Math.floor(cfg.queue.maxBytes / 8))),
    fsync: cfg.queue.fsync,
    sinks: ids,
    log,
    // Past the cap the oldest segment is set aside in the queue's own directory, never deleted.
    onOverflow: (file, lines) => {
      const target = join(o.dir, `overflow-${Date.now()}.jsonl`)
      // Renamed within the same directory: the spool asked for the file to leave its segment list.
      renameSync(file, target)
      log.error({ file: target, lines }, 'notify queue over its cap: the oldest notices were set aside (send them by hand)')
      return target
    },
  })
  const registry = o.registry
  const messages = new Counter({ name: 'smartcity_notify_messages_total', help: 'Alarm notification messages a channel acknowledged, by type (single or digest)', labelNames: ['channel', 'type'], registers: registry ? [registry] : [] })
  const sent = new Counter({ name: 'smartcity_notify_sent_total', help: 'Alarm notices (changes) delivered, per channel', labelNames: ['channel'], registers: registry ? [registry] : [] })
  const failures = new Counter({ name: 'smartcity_notify_failures_total', help: 'Failed notification attempts, by channel and reason (the notices stay queued)', labelNames: ['channel', 'reason'], registers: registry ? [registry] : [] })
  const queuedCount = new Map<string, number>(ids.map((id) => [id, 0]))
  new Gauge({
    name: 'smartcity_notify_queued',
    help: 'Alarm notices waiting in the queue, per channel',
    labelNames: ['channel'],
    registers: registry ? [registry] : [],
    collect() {
      for (const [id, n] of queuedCount) this.set({ channel: id }, n)
    },
  })

  const early: string[] = []
  let opened = false
  let closed = false
  const ac = new AbortController()
  const loops: Promise<void>[] = []
  const state = new Map<string, { failures: number; lastError?: string }>(ids.map((id) => [id, { failures: 0 }]))
  const senders = new Map<string, Sender>()

  const listener: AlarmListener = (e) => {
    try {
      const to = routeEvent(cfg, e)
      if (to.length === 0) return
      const line = JSON.stringify({ k: noticeKey(e), to, e } satisfies Entry)
      for (const id of to) queuedCount.set(id, (queuedCount.get(id) ?? 0) + 1)
      if (!opened) {
        early.push(line)
        return
      }
      if (closed) {
        log.error({ alarm: e.id, action: e.action }, 'alarm change after the notifiers stopped: not queued')
        return
      }
      spool.stage(line)
      // Written before the store's call returns: an alarm change is rare, a lost notice is not acceptable.
      spool.commitNow()
    } catch (err) {
      log.error({ err, alarm: e.id }, 'could not queue an alarm notice')
    }
  }

  /** Count what a channel has waiting (after a restart). */
  function countQueued(id: string): number {
    let n = 0
    let from: ReturnType<Spool['read']> | undefined
    for (let guard = 0; guard < 1_000_000; guard++) {
      const b = spool.read(id, MAX_READ, undefined, from?.end)
      if (!b) break
      for (const l of splitLines(b.body)) if (parse(l)?.to.includes(id)) n++
      from = b
    }
    return n
  }

  function parse(line: string): Entry | undefined {
    try {
      const v = JSON.parse(line) as Entry
      return typeof v.k === 'string' && Array.isArray(v.to) && typeof v.e === 'object' && v.e !== null ? v : undefined
    } catch {
      return undefined
    }
  }

  async function run(c: ChannelConfig, sender: Sender): Promise<void> {
    const signal = ac.signal
    const limiter = createLimiter(defaultRate(c))
    const backoff = createBackoff({ minMs: c.minBackoffMs, maxMs: c.maxBackoffMs, jitter: 0.2 })
    const maxBytes = defaultMaxBytes(c)
    const st = state.get(c.id)!
    while (!signal.aborted) {
      await spool.wait(c.id, 1, 1000, signal)
      if (signal.aborted) break
      if (spool.pending(c.id) === 0) continue
      // A burst: the first change waits for the rest of it, so they go as one message.
      if (c.gatherMs > 0 && !(await sleep(c.gatherMs, signal))) break
      const slot = limiter.waitMs(Date.now())
      if (slot > 0 && !(await sleep(slot, signal))) break
      const batch = spool.read(c.id, MAX_READ)
      if (!batch) continue
      const lines = splitLines(batch.body)
      // Which lines are this channel's notices (a line for other channels, or unreadable, is passed over).
      const mine: { entry: Entry; index: number }[] = []
      lines.forEach((l, index) => {
        const entry = parse(l)
        if (entry?.to.includes(c.id)) mine.push({ entry, index })
        else if (!entry) log.error({ channel: c.id, line: l.slice(0, 200) }, 'unreadable line in the notify queue: passed over')
      })
      if (mine.length === 0) {
        spool.ack(c.id, batch.end, batch.count)
        continue
      }
      const events = mine.map((m) => m.entry.e)
      const k = fitDigest(events, c, maxBytes)
      // The lines this message settles: up to the next notice it does not carry.
      const settles = k === mine.length ? batch.count : mine[k]!.index
      const end = settles === batch.count ? batch.end : spool.read(c.id, settles)?.end
      if (!end) continue
      const m: Message = { events: events.slice(0, k), keys: mine.slice(0, k).map((x) => x.entry.k), more: mine.length - k }
      let r: SendResult
      try {
        limiter.record(Date.now())
        r = await sender.send(m, signal)
      } catch (err) {
        r = { ok: false, reason: 'sender_error', detail: (err as Error).message }
      }
      if (r.ok) {
        spool.ack(c.id, end, settles)
        queuedCount.set(c.id, Math.max(0, (queuedCount.get(c.id) ?? 0) - k))
        messages.labels(c.id, k === 1 && m.more === 0 ? 'single' : 'digest').inc()
        sent.labels(c.id).inc(k)
        if (st.failures > 0) log.info({ channel: c.id, after: st.failures }, 'notification channel delivers again')
        st.failures = 0
        delete st.lastError
        backoff.reset()
        continue
      }
      if (r.reason === 'stopped' && signal.aborted) break
      failures.labels(c.id, r.reason).inc()
      st.failures++
      st.lastError = `${r.reason}: ${r.detail}`
      const next = backoff.next()
      const wait = r.rateLimited ? Math.max(next, r.retryAfterMs ?? 60_000) : r.retryAfterMs !== undefined ? Math.max(r.retryAfterMs, next) : next
      if (st.failures === 1 || st.failures % 20 === 0) log.warn({ channel: c.id, type: c.type, reason: r.reason, detail: r.detail, waitMs: wait, failures: st.failures, queued: queuedCount.get(c.id) }, 'notification not delivered; the notices stay queued and are sent again')
      if (!(await sleep(wait, signal))) break
    }
  }

  return {
    listener,
    subscribe(store) {
      const on = (store as Partial<AlarmEventSource>).onEvent
      if (typeof on !== 'function') {
        log.warn('the alarm store has no onEvent: alarm notifications are not wired')
        return false
      }
      on.call(store, listener)
      return true
    },
    start() {
      if (opened) return
      spool.open()
      opened = true
      for (const line of early.splice(0)) spool.stage(line)
      spool.commitNow()
      for (const id of ids) queuedCount.set(id, countQueued(id))
      for (const c of cfg.channels) {
        const s = o.senders?.[c.id] ?? createSender(c)
        senders.set(c.id, s)
        loops.push(run(c, s).catch((err: unknown) => log.error({ err, channel: c.id }, 'notification loop ended by an error')))
      }
      log.info({ channels: ids, queued: Object.fromEntries(queuedCount) }, 'alarm notifications started')
    },
    async stop() {
      if (!opened || closed) return
      ac.abort()
      await Promise.all(loops)
      for (const s of senders.values()) s.close()
      closed = true
      spool.close()
    },
    health() {
      const out: Record<string, ComponentHealth> = {}
      for (const id of ids) {
        const st = state.get(id)!
        const q = queuedCount.get(id) ?? 0
        out[`notify:${id}`] = st.failures > 0 ? { status: 'degraded', detail: `${st.failures} failed attempts in a row: ${st.lastError}; ${q} notices queued` } : { status: 'ok', detail: `${q} notices queued` }
      }
      return out
    },
    queued: () => Object.fromEntries(queuedCount),
  }
}

/** The text a channel would send for these changes (docs, tests). */
export { render }
