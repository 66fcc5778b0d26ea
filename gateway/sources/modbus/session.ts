/**
 * Bus discipline. One bus = one link = one request at a time, with a pause between requests. Each device is
 * polled at its own interval (fixed rate against the schedule, never in bursts to catch up). A device that
 * does not answer costs the bus at most timeout x (retries + 1) per poll; after `failuresBeforeBackoff`
 * failed polls it is marked offline and only probed (one request, no retries) at a growing interval until it
 * answers again. Writes go ahead of the next poll.
 *
 * The probe interval grows through the transports' one back-off helper (gateway/transports/backoff.ts, no
 * jitter: a probe is scheduled on the bus, which is already one request at a time). Its options keep their
 * names `backoffMs`/`maxBackoffMs`, not `reconnectMinMs`/`reconnectMaxMs`: nothing reconnects here, the
 * link stays open and other slaves on it keep answering; it is how often a silent slave is asked again.
 */
import type { ModbusProfile } from '../../../devices/common/modbus/profile.ts'
import type { PlannedRead } from '../../../devices/common/modbus/planner.ts'
import type { Request } from '../../../devices/common/modbus/pdu.ts'
import type { Reason } from '../../../devices/common/reasons.ts'
import type { Link, LinkResult } from './link.ts'
import { type Backoff, createBackoff } from '../../transports/backoff.ts'
import { createNap, sleep as sleepFor } from '../../transports/timers.ts'

export interface BusDevice {
  device: string
  unit: number
  profile: ModbusProfile
  reads: PlannedRead[]
  intervalMs: number
  timeoutMs: number
  retries: number
}

export interface BusOptions {
  pauseMs: number
  failuresBeforeBackoff: number
  backoffMs: number
  maxBackoffMs: number
  /** Delay of this bus's first poll, so that many buses of one source do not all start in the same instant. */
  startOffsetMs?: number
  now?: () => number
}

/** One poll's outcome, handed to the source. */
export interface PollOutcome {
  device: BusDevice
  /** Answers per planned read (undefined: that read failed). */
  answers: (LinkResult & { ok: true })[]
  reads: PlannedRead[]
  /** Failures met on the way (exceptions, CRC errors, time-outs), each to count and maybe dead-letter. */
  failures: (LinkResult & { ok: false })[]
  /** True when the device answered anything at all. */
  answered: boolean
  probe: boolean
  /** Start of the poll minus its scheduled time, ms. */
  latenessMs: number
  startedAt: number
}

export interface BusHooks {
  onPoll(o: PollOutcome): void
  /** Device state change: online after an answer, offline after `failuresBeforeBackoff` failed polls. */
  onState(device: string, online: boolean, reason?: Reason): void
}

interface State {
  d: BusDevice
  due: number
  failures: number
  probes: Backoff
  offline: boolean | undefined
}

interface WriteJob {
  unit: number
  req: Request
  timeoutMs: number
  resolve(r: LinkResult): void
}

export interface Bus {
  start(): void
  stop(): Promise<void>
  /** Queue a write; it runs before the next poll. */
  write(unit: number, req: Request, timeoutMs: number): Promise<LinkResult>
  stats(): { polls: number; failedPolls: number; requests: number; maxLatenessMs: number }
}

export function createBus(link: Link, devices: BusDevice[], opts: BusOptions, hooks: BusHooks): Bus {
  const now = opts.now ?? Date.now
  const probes = () => createBackoff({ minMs: opts.backoffMs, maxMs: Math.max(opts.backoffMs, opts.maxBackoffMs), jitter: 0 })
  const states: State[] = devices.map((d) => ({ d, due: 0, failures: 0, probes: probes(), offline: undefined }))
  const writes: WriteJob[] = []
  let running = false
  let loop: Promise<void> | undefined
  const sleeper = createNap()
  const stats = { polls: 0, failedPolls: 0, requests: 0, maxLatenessMs: 0 }

  const sleep = sleeper.sleep

  const send = async (unit: number, req: Request, timeoutMs: number): Promise<LinkResult> => {
    stats.requests++
    return link.request(unit, req, timeoutMs)
  }

  let lastRequestEnd = 0
  /** Keep the pause between the end of one exchange and the start of the next. */
  const pause = async () => {
    const wait = lastRequestEnd + opts.pauseMs - now()
    if (wait > 0) await sleepFor(wait)
  }

  const poll = async (st: State, startedAt: number) => {
    const d = st.d
    const probe = st.offline === true
    const reads = probe ? d.reads.slice(0, 1) : d.reads
    const answers: (LinkResult & { ok: true })[] = []
    const failures: (LinkResult & { ok: false })[] = []
    let answered = false
    for (const read of reads) {
      const attempts = probe ? 1 : d.retries + 1
      let gotIt = false
      for (let a = 0; a < attempts && running; a++) {
        await pause()
        const r = await send(d.unit, { fc: read.fc, address: read.address, quantity: read.quantity }, d.timeoutMs)
        lastRequestEnd = now()
        if (r.ok) {
          answers[reads.indexOf(read)] = r
          answered = gotIt = true
          break
        }
        failures.push(r)
        // An exception is an answer: the device is there and said no. Asking again will not change its mind.
        if (r.code === 'exception') {
          answered = gotIt = true
          break
        }
      }
      // No answer at all: the device is silent, do not spend the bus on its other reads.
      if (!gotIt) break
    }
    return { device: d, answers, reads, failures, answered, probe, latenessMs: startedAt - st.due, startedAt }
  }

  const schedule = (st: State, o: PollOutcome) => {
    const t = now()
    if (o.answered) {
      st.failures = 0
      st.probes.reset()
      if (st.offline !== false) {
        st.offline = false
        hooks.onState(st.d.device, true)
      }
      // Fixed rate against the schedule; when late by a whole interval, start again from now (no burst).
      st.due = o.probe ? t : st.due + st.d.intervalMs
      if (st.due < t - st.d.intervalMs) st.due = t
      return
    }
    st.failures++
    if (st.failures >= opts.failuresBeforeBackoff) {
      if (st.offline !== true) {
        st.offline = true
        const last = o.failures[o.failures.length - 1]
        // No failure recorded only when the bus stopped mid-poll: nothing answered in time.
        hooks.onState(st.d.device, false, last?.code ?? 'timeout')
      }
      st.due = t + st.probes.next()
      return
    }
    st.due += st.d.intervalMs
    if (st.due < t - st.d.intervalMs) st.due = t
  }

  const run = async () => {
    const t0 = now() + (opts.startOffsetMs ?? 0)
    // Spread the first polls over the shortest interval so that a bus of many devices does not start in a burst.
    const spread = Math.min(...states.map((s) => s.d.intervalMs))
    states.forEach((s, i) => {
      s.due = t0 + Math.floor((spread * i) / states.length)
    })
    while (running) {
      const w = writes.shift()
      if (w) {
        await pause()
        const r = await send(w.unit, w.req, w.timeoutMs)
        lastRequestEnd = now()
        w.resolve(r)
        continue
      }
      let next = states[0]
      for (const s of states) if (next && s.due < next.due) next = s
      if (!next) return
      const wait = next.due - now()
      if (wait > 0) {
        await sleep(wait)
        continue
      }
      const startedAt = now()
      const o = await poll(next, startedAt)
      stats.polls++
      if (!o.answered) stats.failedPolls++
      if (!o.probe && o.latenessMs > stats.maxLatenessMs) stats.maxLatenessMs = o.latenessMs
      schedule(next, o)
      try {
        hooks.onPoll(o)
      } catch {
        // A hook must not stop the bus; the source reports its own errors.
      }
    }
  }

  return {
    start() {
      if (running) return
      running = true
      loop = run()
    },
    async stop() {
      running = false
      sleeper.wake()
      for (const w of writes.splice(0)) w.resolve({ ok: false, code: 'disconnected', detail: 'source stopped' })
      await loop
    },
    write(unit, req, timeoutMs) {
      if (!running) return Promise.resolve({ ok: false, code: 'disconnected', detail: 'source not running' })
      return new Promise((resolve) => {
        writes.push({ unit, req, timeoutMs, resolve })
        sleeper.wake()
      })
    },
    stats: () => ({ ...stats }),
  }
}
