/**
 * Playing one recorded connection again (`smartcity replay`), in one of two roles:
 *
 * - `play`: the device spoke first (JT/T 808, HJ 212, NMEA, ETC RSU, MQTT): send each `in` record again, at
 *   its recorded offset divided by the speed (or at once with `fast`), and after each one wait until the
 *   gateway has answered as many bytes as it answered then (the `out` records that followed it, bounded by
 *   `answerTimeoutMs`). The answers pace a fast replay the way the gateway's own acknowledgements paced the
 *   device, so a terminal's authentication comes before its locations and no rate limit is hit.
 * - `answer`: the gateway polled (Modbus, DL/T 645): be the device. Each request the gateway sends is looked
 *   up among the recorded requests (`out` records) and answered with what followed it then (`in` records);
 *   a request asked several times gets the recorded answers in order, then the last one again. Modbus TCP
 *   requests are matched without their transaction id, and the answer carries the new request's.
 */
import type { Duplex } from 'node:stream'
import { sleep } from '../../gateway/transports/timers.ts'
import type { RecordItem, Recording } from './recording.ts'

export interface PlayOptions {
  /** Divide recorded gaps by this (1 = the original pace). */
  speed: number
  /** No gaps at all: only the gateway's answers pace the replay. */
  fast: boolean
  /** Longest wait for the gateway's answer to one record. */
  answerTimeoutMs: number
  /** When the replay as a whole started (records are placed relative to `t0`). */
  startedAt: number
  t0: number
  signal?: AbortSignal
}

export interface PlayResult {
  sent: number
  bytes: number
  /** Records after which the gateway answered fewer bytes than it did when recorded. */
  unanswered: number
}

/** `in` records, each with the number of bytes the gateway answered it with then. */
export function steps(records: RecordItem[]): { rec: RecordItem; answerBytes: number }[] {
  const out: { rec: RecordItem; answerBytes: number }[] = []
  for (const r of records) {
    if (r.dir === 'in') out.push({ rec: r, answerBytes: 0 })
    else if (out.length > 0) out[out.length - 1]!.answerBytes += r.bytes.length
  }
  return out
}

/** Wait until the recorded moment of `t` (scaled), unless fast. */
export async function waitUntil(t: number, o: PlayOptions): Promise<void> {
  if (o.fast) return
  const at = o.startedAt + (t - o.t0) / o.speed
  const ms = at - Date.now()
  if (ms > 0) await sleep(ms, o.signal)
}

/** Send the `in` records on a stream, waiting for the gateway's answers after each. */
export async function playStream(rec: Recording, s: Duplex, o: PlayOptions): Promise<PlayResult> {
  const res: PlayResult = { sent: 0, bytes: 0, unanswered: 0 }
  let received = 0
  let notify: (() => void) | undefined
  s.on('data', (d: Buffer) => {
    received += d.length
    notify?.()
  })
  let closed = false
  s.once('close', () => {
    closed = true
    notify?.()
  })
  s.on('error', () => {})
  let expected = 0
  /** Wait until the gateway has sent `expected` bytes; false when it did not within the time-out. */
  const answered = async (): Promise<boolean> => {
    const deadline = Date.now() + o.answerTimeoutMs
    while (received < expected && !closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        notify = resolve
        setTimeout(resolve, Math.max(1, deadline - Date.now())).unref()
      })
      notify = undefined
    }
    if (received >= expected) return true
    // Count from what did arrive: one missing answer must not make every later wait time out.
    expected = received
    return false
  }
  // The gateway spoke first (a lane controller's C0 to the RSU it dialled): wait for that as the device did.
  const firstIn = rec.records.findIndex((r) => r.dir === 'in')
  for (const r of rec.records.slice(0, Math.max(firstIn, 0))) expected += r.bytes.length
  if (expected > 0 && !(await answered())) res.unanswered++
  for (const { rec: r, answerBytes } of steps(rec.records)) {
    if (o.signal?.aborted || closed) break
    await waitUntil(r.t, o)
    s.write(r.bytes)
    res.sent++
    res.bytes += r.bytes.length
    expected += answerBytes
    if (answerBytes > 0 && !(await answered())) res.unanswered++
  }
  await flushed(s)
  return res
}

/** Until what was written has left the stream (a serial port's `drain`: to the OS), at most 5 s. */
export async function flushed(s: Duplex): Promise<void> {
  if (s.destroyed) return
  await Promise.race([
    new Promise<void>((resolve) => {
      const port = s as Duplex & { drain?: (cb: (err?: Error | null) => void) => void }
      if (typeof port.drain === 'function') port.drain(() => resolve())
      else if (s.writableLength === 0) resolve()
      else s.once('drain', () => resolve())
    }),
    sleep(5_000),
  ])
}

/** Modbus TCP: the request without its transaction id (bytes 0-1), as the key of the table. */
const mbapKey = (b: Buffer) => b.subarray(2).toString('hex')

export interface AnswerTable {
  answer(request: Buffer): Buffer | undefined
  /** Requests asked that the recording has no answer for. */
  unmatched: number
  answered: number
  /** Every recorded answer was given at least once. */
  exhausted(): boolean
}

/** The table of recorded requests (consecutive `out` records) and answers (the `in` records after them). */
export function answerTable(records: RecordItem[], mbap: boolean): AnswerTable & { keys: string[] } {
  const pairs: { req: Buffer; ans: Buffer }[] = []
  let req: Buffer[] = []
  let ans: Buffer[] = []
  const flush = () => {
    if (req.length > 0 && ans.length > 0) pairs.push({ req: Buffer.concat(req), ans: Buffer.concat(ans) })
    req = []
    ans = []
  }
  for (const r of records) {
    // Each request is one write of the gateway's, so one `out` record; one left unanswered (a dead slave)
    // is dropped here rather than joined to the next.
    if (r.dir === 'out') {
      flush()
      req = [r.bytes]
    } else if (req.length > 0) ans.push(r.bytes)
  }
  flush()
  const byKey = new Map<string, { answers: Buffer[]; next: number }>()
  for (const p of pairs) {
    const key = mbap ? mbapKey(p.req) : p.req.toString('hex')
    const e = byKey.get(key) ?? { answers: [], next: 0 }
    e.answers.push(p.ans)
    byKey.set(key, e)
  }
  const t = {
    keys: [...byKey.keys()],
    unmatched: 0,
    answered: 0,
    answer(request: Buffer): Buffer | undefined {
      const e = byKey.get(mbap ? mbapKey(request) : request.toString('hex'))
      if (!e) {
        t.unmatched++
        return undefined
      }
      const a = Buffer.from(e.answers[Math.min(e.next, e.answers.length - 1)]!)
      e.next++
      t.answered++
      if (mbap && a.length >= 2) request.copy(a, 0, 0, 2)
      return a
    },
    exhausted: () => [...byKey.values()].every((e) => e.next >= e.answers.length),
  }
  return t
}

/**
 * Be the device on a stream the gateway polls: frame its requests (MBAP by length; RTU and DL/T 645 by
 * the recorded requests themselves: the buffer's end matching one of them) and answer from the table.
 */
export function answerPolls(s: Duplex, table: AnswerTable & { keys: string[] }, mbap: boolean): void {
  let buf = Buffer.alloc(0)
  const known = table.keys.map((k) => Buffer.from(k, 'hex')).sort((a, b) => b.length - a.length)
  s.on('error', () => {})
  s.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d])
    if (mbap) {
      while (buf.length >= 6) {
        const len = 6 + buf.readUInt16BE(4)
        if (buf.length < len) break
        const a = table.answer(buf.subarray(0, len))
        buf = buf.subarray(len)
        if (a) s.write(a)
      }
      return
    }
    const hit = known.find((k) => buf.length >= k.length && buf.subarray(buf.length - k.length).equals(k))
    if (hit) {
      const a = table.answer(hit)
      buf = Buffer.alloc(0)
      if (a) s.write(a)
    } else if (buf.length > 4096) {
      table.unmatched++
      buf = Buffer.alloc(0)
    }
  })
}
