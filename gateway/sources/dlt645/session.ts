/**
 * One DL/T 645 bus: the meters on it, the one request in flight (the transports' matcher, `maxPending: 1`:
 * half duplex), the framer of the bus's byte stream, and the ordered queue that hands each meter's reading
 * of a cycle to the pipeline in order.
 * - A silent meter costs one `responseTimeoutMs` per cycle (the rest of its DIs are skipped), so it never
 *   holds the others.
 * - Abnormal replies (0xD1 / 0xC1) are refused with the error word as the reason (`meter_error_no_data`, ...);
 *   the meter is present (it answered).
 * - A reply with a data identifier the table does not know is a good frame: it counts for the meter's
 *   presence and frame counters, gives no field, and is not refused.
 */
import type { Duplex } from 'node:stream'
import type { Reason } from '../../../devices/common/reasons.ts'
import {
  createDlt645Framer,
  type Dlt645Message,
  type Dlt645Version,
  decodeDataValue,
  decodeMessage,
  diToString,
  encodeMessage,
  errorReason,
  errorWordNames,
  meterReading,
} from '../../../devices/energy-meter/dlt645/index.ts'
import type { Logger, SourceContext } from '../../core/types.ts'
import { createMatcher, MatchError } from '../../transports/matcher.ts'
import { createOrdered } from '../../transports/ordered.ts'
import type { Dlt645SourceConfig } from './config.ts'

export interface MeterState {
  address: string
  device: string
  dis: number[]
  misses: number
  /** What the last cycle showed (health and `meters()`); presence itself is the registry's (it deduplicates). */
  answering: boolean | undefined
}

export interface Dlt645SourceStats {
  cycles: number
  requests: number
  replies: number
  timeouts: number
  errorReplies: number
  rejected: number
  /** Readings handed to the pipeline (one per meter per cycle with fields). */
  points: number
  timeSyncs: number
}

type Reply = { message: Dlt645Message; raw: Buffer }
export type Outcome = ({ kind: 'reply' } & Reply) | { kind: 'timeout' } | { kind: 'closed' }
export type PollResult = 'ok' | 'silent' | 'closed'

export interface Dlt645Bus {
  readonly meters: MeterState[]
  readonly stats: Dlt645SourceStats
  /** A new stream on the bus: frame its bytes from scratch. */
  attach(stream: Duplex): void
  /** The stream went away (or stop): every wait ends as `closed`. */
  detach(): void
  /** One request, its answer (or time-out, or closed). */
  transact(req: Dlt645Message, match: (m: Dlt645Message) => boolean): Promise<Outcome>
  /** Write without an answer (broadcast time); false when it could not be written. */
  send(m: Dlt645Message): Promise<boolean>
  pollMeter(m: MeterState, running: () => boolean): Promise<PollResult>
  /** Resolves once everything handed to the pipeline so far is done. */
  idle(): Promise<void>
}

function write(s: Duplex, b: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (s.destroyed || !s.writable) return reject(new Error('stream not writable'))
    s.write(b, (err) => (err ? reject(err) : resolve()))
  })
}

export function createDlt645Bus(cfg: Dlt645SourceConfig, version: Dlt645Version, meters: MeterState[], ctx: SourceContext, log: Logger): Dlt645Bus {
  const stats: Dlt645SourceStats = { cycles: 0, requests: 0, replies: 0, timeouts: 0, errorReplies: 0, rejected: 0, points: 0, timeSyncs: 0 }
  const framer = createDlt645Framer()
  const matcher = createMatcher<never, Reply>({ maxPending: 1 })
  let stream: Duplex | undefined
  const queue = createOrdered({ onError: (err) => log.error({ err }, 'ingest failed') })

  const reject = (raw: Uint8Array | string, reason: Reason, detail?: string, device?: string) => {
    stats.rejected++
    queue.push(() => ctx.reject({ source: cfg.id, address: cfg.serial.path, raw, reason, ...(detail ? { detail } : {}), ...(device ? { device } : {}) }))
  }
  const deviceOf = (address: string) => meters.find((m) => m.address === address)?.device

  const onData = (chunk: Buffer) => {
    for (const ev of framer.push(chunk)) {
      if (!ev.ok) {
        reject(ev.raw, ev.reason, ev.detail)
        continue
      }
      const r = decodeMessage(ev.frame)
      if (!r.ok) {
        reject(ev.frame, r.reason, r.detail)
        continue
      }
      if ((r.value.frame.control & 0x80) === 0) continue // a request: our own echo on a two-wire bus
      if (!matcher.settle({ message: r.value.message, raw: ev.frame })) {
        reject(ev.frame, 'unexpected_reply', `a reply from ${r.value.frame.address} nobody waited for (late or foreign)`, deviceOf(r.value.frame.address))
      }
    }
  }

  const bus: Dlt645Bus = {
    meters,
    stats,
    attach(s) {
      framer.reset()
      stream = s
      s.on('data', onData)
    },
    detach() {
      stream = undefined
      matcher.failAll(new Error('closed'))
    },
    async transact(req, match) {
      const s = stream
      if (!s || s.destroyed) return { kind: 'closed' }
      stats.requests++
      const answer = matcher.wait((x) => match(x.message), { timeoutMs: cfg.responseTimeoutMs, what: `reply from ${req.address}` })
      write(s, encodeMessage(req, cfg.preamble)).catch(() => matcher.failAll(new Error('write failed')))
      try {
        return { kind: 'reply', ...(await answer) }
      } catch (err) {
        return err instanceof MatchError && err.code === 'timeout' ? { kind: 'timeout' } : { kind: 'closed' }
      }
    },
    async send(m) {
      const s = stream
      if (!s) return false
      try {
        await write(s, encodeMessage(m, cfg.preamble))
        return true
      } catch {
        return false
      }
    },
    async pollMeter(m, running) {
      const fields: Record<string, number> = {}
      let answered = false
      let good = 0 // decoded replies: the meter's frame counter
      // Stopped or port gone mid-cycle: what the meter already answered is still stored (nothing lost).
      let closed = false
      for (const di of m.dis) {
        if (!running()) {
          closed = true
          break
        }
        const o = await bus.transact({ kind: 'read_request', version, address: m.address, di }, (x) =>
          (x.kind === 'read_reply' && x.address === m.address && x.di === di) || (x.kind === 'error_reply' && x.address === m.address),
        )
        if (o.kind === 'closed') {
          closed = true
          break
        }
        if (o.kind === 'timeout') {
          stats.timeouts++
          if (!answered) return 'silent' // do not spend a time-out on each DI of a silent meter
          continue
        }
        answered = true
        stats.replies++
        const msg = o.message
        if (msg.kind === 'error_reply') {
          stats.errorReplies++
          reject(o.raw, errorReason(msg.errorWord), `DI ${diToString(version, di)}: error word 0x${msg.errorWord.toString(16).padStart(2, '0')} (${errorWordNames(msg.errorWord).join(', ') || 'none'})`, m.device)
          continue
        }
        if (msg.kind !== 'read_reply') continue
        const v = decodeDataValue(version, di, msg.data)
        if (!v.ok) {
          reject(o.raw, v.reason, `DI ${diToString(version, di)}: ${v.detail ?? ''}`, m.device)
          continue
        }
        good++
        Object.assign(fields, v.value.fields)
      }
      // One reading per meter per cycle; good replies without a stored field (unknown or decoded-only DIs)
      // still count for the meter's frame counters, with nothing to store.
      // Stamped now, when the cycle was read (docs/data-model.md: the moment the gateway received the frame), not
      // when the ordered queue reaches it: behind a slow spool commit that was later by the commit's latency.
      const readings = Object.keys(fields).length > 0 ? [{ ...meterReading(m.device, fields), receivedAt: ctx.now() }] : []
      if (readings.length > 0) stats.points++
      if (readings.length > 0 || good > 0) {
        queue.push(async () => {
          await ctx.ingest({ source: cfg.id, device: m.device, kind: 'energy_meter', protocol: 'dlt645', address: cfg.serial.path, readings, frames: good })
        })
      }
      if (closed) return 'closed'
      return answered ? 'ok' : 'silent'
    },
    idle: () => queue.idle(),
  }
  return bus
}
