/**
 * One drain loop per sink: read a batch after the sink's cursor, write it, act on the answer, acknowledge.
 * Batches go out when `batchSize` lines are pending or `flushIntervalMs` after the first one. While a
 * backlog drains, up to `concurrency` full batches are in flight (the database parses one while the next is
 * on its way); they are acknowledged in order, and if one fails, the others are let finish and everything
 * from the failed batch on is sent again after it. So the database ends as if every batch had gone alone
 * and in order, even where two batches hold the same series and time (writes are idempotent: sending a
 * written batch again changes nothing). A retry
 * backs off exponentially with jitter (a Retry-After wins) and sends the same batch again, so order is kept.
 * A rejected batch is split in halves until the lines InfluxDB refuses are alone; only those go to the
 * dead-letter log (writes are idempotent, so re-sending the accepted half is harmless). 413 halves the batch.
 */
import type { DeadLetterLog } from './deadletter.ts'
import type { Metrics } from './metrics.ts'
import { eachLineTime } from './line-protocol.ts'
import { joinLines, type Spool, type SpoolBatch, splitLines } from './spool.ts'
import { createBackoff } from '../transports/backoff.ts'
import { sleep } from '../transports/timers.ts'
import type { ComponentHealth, LineBatch, Logger, Sink, WriteResult } from './types.ts'

export interface DrainOptions {
  batchSize: number
  flushIntervalMs: number
  /** Full batches in flight at once (default 1). */
  concurrency?: number
  minBackoffMs: number
  maxBackoffMs: number
}

export interface Drain {
  start(): void
  /** Stop after the request in flight; resolves when the loop has ended. */
  stop(): Promise<void>
  health(): ComponentHealth
}

export function createDrain(sink: Sink, spool: Spool, deadLetter: DeadLetterLog, metrics: Metrics, log: Logger, o: DrainOptions): Drain {
  const ac = new AbortController()
  let loop: Promise<void> | undefined
  let failures = 0
  let lastError: string | undefined
  const written = metrics.pointsWritten.labels(sink.id)
  const latency = metrics.sinkLatency.labels(sink.id)
  // End to end: each point's age (now - its time) once its write is acknowledged (smartcity_reading_age_seconds).
  const ages = metrics.readingAge
  const observeAges = (body: Buffer) => {
    const now = Date.now()
    let name: string | undefined
    let iv: string | undefined
    let cell: ReturnType<typeof ages.cell> | undefined
    eachLineTime(body, (m, interval, t) => {
      if (Number.isNaN(t)) return
      if (m !== name || interval !== iv || !cell) {
        name = m
        iv = interval
        cell = ages.cell({ measurement: m, interval })
      }
      ages.observe(cell, Math.max(0, now - t) / 1000)
    })
  }

  // Exponential with jitter, each delay 50-100 % of its step; a Retry-After wins but still counts a failure.
  const retryDelay = createBackoff({ minMs: o.minBackoffMs, maxMs: Math.max(o.minBackoffMs, o.maxBackoffMs), jitter: 0.5 })
  const backoff = (retryAfterMs: number | undefined) => {
    const exp = retryDelay.next()
    if (retryAfterMs !== undefined) return Math.min(Math.max(retryAfterMs, 0), 10 * o.maxBackoffMs)
    return exp
  }

  /**
   * Write a batch until it is all written or dead-lettered; `first` is its first answer when that is
   * already in (a batch that was in flight). Returns false when stopped first.
   */
  async function deliver(batch: LineBatch, first?: WriteResult): Promise<boolean> {
    let known = first
    for (;;) {
      if (ac.signal.aborted) return false
      let r: WriteResult
      if (known) {
        r = known
        known = undefined
      } else {
        const end = latency.startTimer()
        r = await sink.write(batch)
        end()
      }
      if (r.kind === 'accepted') {
        written.inc(batch.count)
        observeAges(batch.body)
        if (failures > 0) log.info({ sink: sink.id, after: failures }, 'sink writes again')
        failures = 0
        retryDelay.reset()
        lastError = undefined
        return true
      }
      metrics.sinkErrors.labels(sink.id, r.kind).inc()
      lastError = r.reason
      if (r.kind === 'retry') {
        const wait = backoff(r.retryAfterMs)
        if (failures === 0 || failures % 20 === 0) log.warn({ sink: sink.id, reason: r.reason, waitMs: Math.round(wait), failures }, 'sink write failed; will retry')
        failures++
        await sleep(wait, ac.signal)
        continue
      }
      // rejected or too large: split down to the offending lines.
      if (batch.count > 1) {
        const lines = splitLines(batch.body)
        const mid = Math.ceil(lines.length / 2)
        if (!(await deliver(joinLines(lines.slice(0, mid))))) return false
        return deliver(joinLines(lines.slice(mid)))
      }
      const reason = r.kind === 'too_large' ? 'sink_too_large' : `sink_rejected_${r.status}`
      metrics.pointsDeadLettered.labels(reason).inc()
      log.warn({ sink: sink.id, reason: r.reason }, 'sink refused a point; kept in the dead-letter log')
      await deadLetter.write({ source: `sink:${sink.id}`, address: sink.type, reason, detail: r.reason, raw: batch.body.toString('utf8').replace(/\n$/, '') })
      return true
    }
  }

  interface InFlight {
    batch: SpoolBatch
    result: Promise<WriteResult>
    done: () => void
  }

  function send(batch: SpoolBatch): InFlight {
    const end = latency.startTimer()
    return { batch, result: sink.write(batch), done: end }
  }

  async function run(): Promise<void> {
    const concurrency = Math.max(1, o.concurrency ?? 1)
    const inflight: InFlight[] = []
    // Read buffers, reused once their batch is accepted (a batch that failed keeps its own; rare).
    const buffers: Buffer[] = []
    let inflightLines = 0
    while (!ac.signal.aborted) {
      if (inflight.length === 0) {
        await spool.wait(sink.id, o.batchSize, o.flushIntervalMs, ac.signal)
        if (ac.signal.aborted) break
        const into = buffers.pop()
        const batch = spool.read(sink.id, o.batchSize, undefined, undefined, into)
        if (!batch) {
          if (into) buffers.push(into)
          continue
        }
        inflight.push(send(batch))
        inflightLines += batch.count
      }
      // More full batches behind the first, without waiting for them.
      while (inflight.length < concurrency && spool.pending(sink.id) - inflightLines >= o.batchSize) {
        const into = buffers.pop()
        const batch = spool.read(sink.id, o.batchSize, undefined, inflight[inflight.length - 1]!.batch.end, into)
        if (!batch) {
          if (into) buffers.push(into)
          break
        }
        inflight.push(send(batch))
        inflightLines += batch.count
      }
      const head = inflight.shift()!
      inflightLines -= head.batch.count
      const r = await head.result
      head.done()
      if (r.kind === 'accepted') {
        written.inc(head.batch.count)
        observeAges(head.batch.body)
        if (failures > 0) log.info({ sink: sink.id, after: failures }, 'sink writes again')
        failures = 0
        retryDelay.reset()
        lastError = undefined
        spool.ack(sink.id, head.batch.end, head.batch.count)
        buffers.push(head.batch.buffer)
        continue
      }
      // Let the others finish (their answers do not count), then go on one batch at a time from this one.
      await Promise.allSettled(inflight.map((f) => f.result))
      for (const f of inflight) f.done()
      inflight.length = 0
      inflightLines = 0
      if (!(await deliver(head.batch, r))) break
      spool.ack(sink.id, head.batch.end, head.batch.count)
    }
    await Promise.allSettled(inflight.map((f) => f.result))
  }

  return {
    start() {
      loop = run().catch((err) => log.error({ err, sink: sink.id }, 'drain loop ended by an error'))
    },
    async stop() {
      ac.abort()
      await loop
    },
    health() {
      if (failures > 0) return { status: 'degraded', detail: `${failures} failed writes in a row: ${lastError}; ${spool.pending(sink.id)} points waiting in the spool` }
      return { status: 'ok', detail: `${spool.pending(sink.id)} points waiting` }
    },
  }
}
