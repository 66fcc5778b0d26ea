/**
 * One HJ 212 data-logger connection: framer -> packet (CRC) -> password per MN -> the codec's readings
 * (PNUM/PNO reassembly in its per-connection state) -> the pipeline. When Flag asks for an answer the
 * session sends 9014 once the points are durable; a wrong password or MN gets 9011 with QnRtn 3 or 4. A data
 * upload with no factor values (a heartbeat some loggers send) is valid: answered, counted for presence,
 * nothing stored. Every refused packet goes to ctx.reject with a catalogued reason.
 *
 * Platform requests (`command`) follow the standard's flow through the one matcher
 * (gateway/transports/matcher.ts): 9011 (QnRtn; a QnRtn other than "ready" ends the request), the requested
 * uploads under the same QN (kept per request here, and stored like any upload), then 9012 (ExeRtn).
 */
import {
  DATA_CNS,
  dataAnswer,
  encodeHj212,
  createHj212Framer,
  decodeHj212,
  HJ212_CN,
  type Hj212Cp,
  type Hj212Message,
  hj212Codec,
  hj212Readings,
  QN_RTN,
  requestAnswer,
  wantsAnswer,
} from '../../../devices/water-quality/hj212/index.ts'
import type { SourceContext } from '../../core/types.ts'
import { createMatcher, MatchError } from '../../transports/matcher.ts'
import { type Conn, type ConnHandler, framePump } from '../../transports/tcp-server.ts'
import { connRejecter } from '../tcp-source.ts'
import type { Hj212SourceConfig } from './config.ts'

/** What a platform request ended with: QnRtn from 9011, ExeRtn from 9012, and any data uploaded under its QN. */
export interface Hj212CommandResult {
  qnRtn: number
  exeRtn?: number
  data: Hj212Cp[]
}

export class CommandError extends Error {
  constructor(
    readonly code: 'not_connected' | 'timeout',
    message: string,
  ) {
    super(message)
  }
}

/** Answers from a data logger to platform commands: nothing to store or answer. */
const DEVICE_ANSWERS = new Set(['9011', '9012', '9013', '9014'])

const item = (m: Hj212Message, k: string) => m.cp.flat().find(([key]) => key === k)?.[1]

/** The request a logger's message ends: a 9012, or a 9011 whose QnRtn is not "ready". */
function terminalKey(m: Hj212Message): string | undefined {
  if (m.qn === undefined) return undefined
  if (m.cn === HJ212_CN.executionResult) return `${m.mn}|${m.qn}`
  if (m.cn === HJ212_CN.requestAnswer && Number(item(m, 'QnRtn') ?? QN_RTN.unknown) !== QN_RTN.ready) return `${m.mn}|${m.qn}`
  return undefined
}

export interface Hj212Session extends ConnHandler {
  /** Send a platform request to this connection's logger and wait for its end (9012, or 9011 not ready). */
  command(msg: Hj212Message, timeoutMs: number): Promise<Hj212CommandResult>
  /** Fail every request in flight (the source stops). */
  failAll(err: Error): void
}

export interface Hj212Links {
  /** The logger `mn` spoke on this session (its password checked): platform requests go here. */
  spoke(mn: string, st: string | undefined, pw: string | undefined): void
  /** The session closed: forget the MNs that last spoke on it. */
  gone(mn: string): void
}

export function hj212Session(cfg: Hj212SourceConfig, c: SourceContext, conn: Conn, links: Hj212Links): Hj212Session {
  const framer = createHj212Framer({ maxSegmentBytes: cfg.maxSegmentBytes })
  const state = hj212Codec.newState()
  let lastMn: string | undefined
  const reject = connRejecter(c, cfg.id, conn)
  const send = (m: Hj212Message) => conn.send(encodeHj212(m))
  const matcher = createMatcher<string, Hj212Message>({ keyOf: terminalKey })
  /** Requests in flight by `${mn}|${qn}`: the QnRtn seen so far and the uploads under their QN. */
  const inFlight = new Map<string, Hj212CommandResult>()

  /** A logger's message under the QN of a request in flight: true when it is nothing more than that. */
  function toCommand(m: Hj212Message): boolean {
    const key = m.qn === undefined ? undefined : `${m.mn}|${m.qn}`
    const r = key === undefined ? undefined : inFlight.get(key)
    if (!r) return false
    if (m.cn === HJ212_CN.requestAnswer) {
      r.qnRtn = Number(item(m, 'QnRtn') ?? QN_RTN.unknown)
      matcher.settle(m)
      return true
    }
    if (m.cn === HJ212_CN.executionResult) {
      r.exeRtn = Number(item(m, 'ExeRtn') ?? 100)
      matcher.settle(m)
      return true
    }
    if (DEVICE_ANSWERS.has(m.cn)) return true
    r.data.push(m.cp)
    // Requested data uploads (2011/2051/...) are also stored, and answered, like any upload.
    if (DATA_CNS.has(m.cn)) return false
    if (wantsAnswer(m)) send(dataAnswer(m))
    return true
  }

  async function handle(raw: Buffer): Promise<void> {
    if (conn.closed) return
    const d = decodeHj212(raw)
    if (!d.ok) return reject(d.reason, raw, d.detail)
    const m = d.value
    const mn = m.mn
    lastMn = mn
    if (!conn.allow(c.now())) return reject('rate_limited', raw, `over ${cfg.rateLimitPerSec} packets/s`, mn)
    const want = cfg.passwords[mn] ?? cfg.defaultPassword ?? undefined
    if (want !== undefined && m.pw !== want) {
      if (m.qn !== undefined) send(requestAnswer(m, QN_RTN.badPassword))
      return reject('bad_password', raw, `wrong PW for MN ${mn}`, mn)
    }
    const known = c.devices.get(mn)
    if (cfg.requireInventory && !known) {
      if (m.qn !== undefined) send(requestAnswer(m, QN_RTN.badMn))
      return reject('unknown_device', raw, `MN ${mn} is not in the inventory`, mn)
    }
    links.spoke(mn, m.st, m.pw)
    if (toCommand(m)) return
    if (DEVICE_ANSWERS.has(m.cn)) return
    if (!DATA_CNS.has(m.cn)) {
      if (wantsAnswer(m)) send(dataAnswer(m))
      return reject('unsupported_cn', raw, `CN ${m.cn} is not stored`, mn, false)
    }
    if (m.pnum !== undefined && m.pnum > 1) {
      const expired = state.reassembler.expire(c.now())
      if (expired > 0) reject('incomplete_packets', '', `${expired} split uploads not completed within two minutes`, mn, false)
    }
    const r = hj212Readings(m, state, c.now(), known?.options)
    if (!r.ok) return reject(r.reason, raw, r.detail, mn)
    if (r.value.length === 0) {
      // A part of a split upload, or an upload with no factor values (a heartbeat): valid, nothing to store.
      c.devices.setOnline(mn, true)
      if (wantsAnswer(m)) send(dataAnswer(m))
      return
    }
    await c.ingest({ source: cfg.id, device: mn, kind: 'water_quality', protocol: 'hj212', readings: r.value })
    if (wantsAnswer(m)) send(dataAnswer(m))
  }

  return {
    data: framePump(framer, conn, reject, handle),
    closed(why) {
      matcher.failAll(new CommandError('not_connected', `connection to ${lastMn ?? conn.address} closed (${why})`))
      if (lastMn !== undefined) {
        links.gone(lastMn)
        c.devices.setOnline(lastMn, false, why)
      }
      const pending = state.reassembler.pending()
      if (pending > 0) {
        void c.reject({ source: cfg.id, address: conn.address, raw: '', reason: 'incomplete_packets', detail: `${pending} split uploads never completed`, ...(lastMn ? { device: lastMn } : {}) })
      }
    },
    async command(msg, timeoutMs) {
      const key = `${msg.mn}|${msg.qn}`
      const result: Hj212CommandResult = { qnRtn: 0, data: [] }
      inFlight.set(key, result)
      const answered = matcher.wait(key, { timeoutMs, what: `9012 from ${msg.mn} for QN ${msg.qn}` })
      send(msg)
      try {
        await answered
        return result
      } catch (err) {
        if (err instanceof MatchError && err.code === 'timeout') throw new CommandError('timeout', err.message)
        throw err
      } finally {
        inFlight.delete(key)
      }
    },
    failAll: (err) => matcher.failAll(err),
  }
}
