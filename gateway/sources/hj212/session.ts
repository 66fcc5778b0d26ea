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
import { type CloseWhy, type Conn, type ConnHandler, pumpFrames, type RejectFn } from '../../transports/tcp-server.ts'
import { rejectInput } from '../tcp-source.ts'
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
  /** Whether the session's connection is closed. */
  readonly isClosed: boolean
  /** Send a platform request to this connection's logger and wait for its end (9012, or 9011 not ready). */
  command(msg: Hj212Message, timeoutMs: number): Promise<Hj212CommandResult>
  /** Fail every request in flight (the source stops). */
  failAll(err: Error): void
}

export interface Hj212Links {
  /** The logger `mn` spoke on `session` (its password checked): platform requests go there. */
  spoke(session: Hj212Session, mn: string, st: string | undefined, pw: string | undefined): void
  /** The session closed: forget it, and the MN that last spoke on it (`mn` undefined: none spoke). */
  gone(session: Hj212Session, mn: string | undefined): void
}

/**
 * A class, not a closure per handler (issue 15 item 6: per-connection memory); the request matcher and
 * the requests in flight exist only once the platform sends this logger a command.
 */
class Hj212Conn implements Hj212Session {
  private readonly framer: ReturnType<typeof createHj212Framer>
  private readonly state = hj212Codec.newState()
  private lastMn: string | undefined
  private matcher: ReturnType<typeof createMatcher<string, Hj212Message>> | undefined
  /** Requests in flight by `${mn}|${qn}`: the QnRtn seen so far and the uploads under their QN. */
  private inFlight: Map<string, Hj212CommandResult> | undefined
  constructor(
    private readonly cfg: Hj212SourceConfig,
    private readonly c: SourceContext,
    private readonly conn: Conn,
    private readonly links: Hj212Links,
  ) {
    this.framer = createHj212Framer({ maxSegmentBytes: cfg.maxSegmentBytes })
  }

  get isClosed(): boolean {
    return this.conn.closed
  }

  private reject(...a: Parameters<RejectFn>): void {
    rejectInput(this.c, this.cfg.id, this.conn, ...a)
  }

  private send(m: Hj212Message): void {
    this.conn.send(encodeHj212(m))
  }

  /** A logger's message under the QN of a request in flight: true when it is nothing more than that. */
  private toCommand(m: Hj212Message): boolean {
    const key = m.qn === undefined ? undefined : `${m.mn}|${m.qn}`
    const r = key === undefined ? undefined : this.inFlight?.get(key)
    if (!r) return false
    if (m.cn === HJ212_CN.requestAnswer) {
      r.qnRtn = Number(item(m, 'QnRtn') ?? QN_RTN.unknown)
      this.matcher?.settle(m)
      return true
    }
    if (m.cn === HJ212_CN.executionResult) {
      r.exeRtn = Number(item(m, 'ExeRtn') ?? 100)
      this.matcher?.settle(m)
      return true
    }
    if (DEVICE_ANSWERS.has(m.cn)) return true
    r.data.push(m.cp)
    // Requested data uploads (2011/2051/...) are also stored, and answered, like any upload.
    if (DATA_CNS.has(m.cn)) return false
    if (wantsAnswer(m)) this.send(dataAnswer(m))
    return true
  }

  data(chunk: Buffer): void {
    pumpFrames(this.framer, chunk, this.conn, (...a) => this.reject(...a), (raw) => this.handle(raw))
  }

  private async handle(raw: Buffer): Promise<void> {
    const { cfg, c, conn, state } = this
    if (conn.closed) return
    const d = decodeHj212(raw)
    if (!d.ok) return this.reject(d.reason, raw, d.detail)
    const m = d.value
    const mn = m.mn
    this.lastMn = mn
    if (!conn.allow(c.now())) return this.reject('rate_limited', raw, `over ${cfg.rateLimitPerSec} packets/s`, mn)
    const want = cfg.passwords[mn] ?? cfg.defaultPassword ?? undefined
    if (want !== undefined && m.pw !== want) {
      if (m.qn !== undefined) this.send(requestAnswer(m, QN_RTN.badPassword))
      return this.reject('bad_password', raw, `wrong PW for MN ${mn}`, mn)
    }
    const known = c.devices.get(mn)
    if (cfg.requireInventory && !known) {
      if (m.qn !== undefined) this.send(requestAnswer(m, QN_RTN.badMn))
      return this.reject('unknown_device', raw, `MN ${mn} is not in the inventory`, mn)
    }
    this.links.spoke(this, mn, m.st, m.pw)
    if (this.toCommand(m)) return
    if (DEVICE_ANSWERS.has(m.cn)) return
    if (!DATA_CNS.has(m.cn)) {
      if (wantsAnswer(m)) this.send(dataAnswer(m))
      return this.reject('unsupported_cn', raw, `CN ${m.cn} is not stored`, mn, false)
    }
    if (m.pnum !== undefined && m.pnum > 1) {
      const expired = state.reassembler.expire(c.now())
      if (expired > 0) this.reject('incomplete_packets', '', `${expired} split uploads not completed within two minutes`, mn, false)
    }
    const r = hj212Readings(m, state, c.now(), known?.options)
    if (!r.ok) return this.reject(r.reason, raw, r.detail, mn)
    if (r.value.length === 0) {
      // A part of a split upload, or an upload with no factor values (a heartbeat): valid, nothing to store.
      c.devices.setOnline(mn, true)
      if (wantsAnswer(m)) this.send(dataAnswer(m))
      return
    }
    await c.ingest({ source: cfg.id, device: mn, kind: 'water_quality', protocol: 'hj212', readings: r.value })
    if (wantsAnswer(m)) this.send(dataAnswer(m))
  }

  closed(why: CloseWhy): void {
    const { c, conn, lastMn } = this
    this.matcher?.failAll(new CommandError('not_connected', `connection to ${lastMn ?? conn.address} closed (${why})`))
    this.links.gone(this, lastMn)
    if (lastMn !== undefined) c.devices.setOnline(lastMn, false, why)
    const pending = this.state.reassembler.pending()
    if (pending > 0) {
      void c.reject({ source: this.cfg.id, address: conn.address, raw: '', reason: 'incomplete_packets', detail: `${pending} split uploads never completed`, ...(lastMn ? { device: lastMn } : {}) })
    }
  }

  async command(msg: Hj212Message, timeoutMs: number): Promise<Hj212CommandResult> {
    const key = `${msg.mn}|${msg.qn}`
    const result: Hj212CommandResult = { qnRtn: 0, data: [] }
    this.inFlight ??= new Map()
    this.matcher ??= createMatcher<string, Hj212Message>({ keyOf: terminalKey })
    this.inFlight.set(key, result)
    const answered = this.matcher.wait(key, { timeoutMs, what: `9012 from ${msg.mn} for QN ${msg.qn}` })
    this.send(msg)
    try {
      await answered
      return result
    } catch (err) {
      if (err instanceof MatchError && err.code === 'timeout') throw new CommandError('timeout', err.message)
      throw err
    } finally {
      this.inFlight.delete(key)
    }
  }

  failAll(err: Error): void {
    this.matcher?.failAll(err)
  }
}

export function hj212Session(cfg: Hj212SourceConfig, c: SourceContext, conn: Conn, links: Hj212Links): Hj212Session {
  return new Hj212Conn(cfg, c, conn, links)
}
