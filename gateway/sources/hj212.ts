/**
 * HJ 212 platform server. Per connection: framer -> packet (CRC) -> password per MN -> PNUM/PNO reassembly ->
 * data uploads (2011/2051/2061/2031) as `water_quality` points. When Flag asks for an answer the gateway
 * sends 9014 once the points are durable; a wrong password or MN gets 9011 with QnRtn 3 or 4. Every
 * refused packet goes to ctx.reject with a reason code.
 */
import type { WaterBody } from '../../devices/water-quality/gb3838.ts'
import {
  createHj212Framer,
  createHj212Reassembler,
  DATA_CNS,
  dataAnswer,
  decodeHj212,
  encodeHj212,
  formatHj212Time,
  HJ212_CN,
  type Hj212Cp,
  type Hj212Message,
  type Hj212Reassembler,
  hj212Data,
  hj212Point,
  QN_RTN,
  requestAnswer,
  wantsAnswer,
} from '../../devices/water-quality/hj212.ts'
import type { SourceContext } from '../core/types.ts'
import type { Hj212SourceConfig } from './hj212-config.ts'
import { type Conn, type ConnHandler, framePump } from '../transports/tcp-server.ts'
import { connRejecter, createTcpSource, type TcpSource } from './tcp-source.ts'

/** What a platform request ended with: QnRtn from 9011, ExeRtn from 9012, and any data uploaded under its QN. */
export interface Hj212CommandResult {
  qnRtn: number
  exeRtn?: number
  data: Hj212Cp[]
}

export interface Hj212Source extends TcpSource {
  /**
   * Send a platform request (e.g. CN 1061 get / 1062 set the real-time interval, 1011 get the logger's time)
   * to a connected logger and follow the standard's flow: 9011 (QnRtn), the requested uploads under the same
   * QN, then 9012 (ExeRtn). Rejects with code `not_connected` or `timeout`.
   */
  command(mn: string, cn: string, cp?: Hj212Cp, timeoutMs?: number): Promise<Hj212CommandResult>
}

class CommandError extends Error {
  constructor(
    readonly code: 'not_connected' | 'timeout',
    message: string,
  ) {
    super(message)
  }
}

/** Answers from a data logger to platform commands: nothing to store or answer. */
const DEVICE_ANSWERS = new Set(['9011', '9012', '9013', '9014'])

export function createHj212Source(cfg: Hj212SourceConfig): Hj212Source {
  /** The connection each MN last spoke on (after its password was checked), for platform requests. */
  const links = new Map<string, { conn: Conn; st: string | undefined; pw: string | undefined }>()
  const commands = new Map<string, { mn: string; result: Hj212CommandResult; done(r: Hj212CommandResult | Error): void }>()
  let lastQn = 0
  let now = () => Date.now()

  /** Route a logger's answer to the platform request with the same QN; true when it was one. */
  function answerToCommand(m: Hj212Message, send: (m: Hj212Message) => void): boolean {
    const cmd = m.qn === undefined ? undefined : commands.get(m.qn)
    if (!cmd || cmd.mn !== m.mn) return false
    const item = (k: string) => m.cp.flat().find(([key]) => key === k)?.[1]
    if (m.cn === HJ212_CN.requestAnswer) {
      cmd.result.qnRtn = Number(item('QnRtn') ?? QN_RTN.unknown)
      if (cmd.result.qnRtn !== QN_RTN.ready) cmd.done(cmd.result)
      return true
    }
    if (m.cn === HJ212_CN.executionResult) {
      cmd.result.exeRtn = Number(item('ExeRtn') ?? 100)
      cmd.done(cmd.result)
      return true
    }
    if (DEVICE_ANSWERS.has(m.cn)) return true
    cmd.result.data.push(m.cp)
    if (wantsAnswer(m)) send(dataAnswer(m))
    // Requested data uploads (2011/2051/...) are also stored by the caller.
    return !DATA_CNS.has(m.cn)
  }

  function command(mn: string, cn: string, cp: Hj212Cp = [], timeoutMs = 10_000): Promise<Hj212CommandResult> {
    const link = links.get(mn)
    if (!link || link.conn.closed) return Promise.reject(new CommandError('not_connected', `no logger with MN ${mn} is connected`))
    let t = now()
    if (t <= lastQn) t = lastQn + 1
    lastQn = t
    const qn = formatHj212Time(t, true)
    const msg: Hj212Message = { qn, cn, mn, flag: 5, cp }
    if (link.st !== undefined) msg.st = link.st
    if (link.pw !== undefined) msg.pw = link.pw
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new CommandError('timeout', `no 9012 from ${mn} for QN ${qn} within ${timeoutMs} ms`)), timeoutMs)
      const done = (r: Hj212CommandResult | Error) => {
        clearTimeout(timer)
        commands.delete(qn)
        if (r instanceof Error) reject(r)
        else resolve(r)
      }
      commands.set(qn, { mn, result: { qnRtn: 0, data: [] }, done })
      link.conn.send(encodeHj212(msg))
    })
  }

  function onConnection(c: SourceContext, conn: Conn): ConnHandler {
    const framer = createHj212Framer({ maxSegmentBytes: cfg.maxSegmentBytes })
    let reassembler: Hj212Reassembler | undefined
    let lastMn: string | undefined
    const reject = connRejecter(c, cfg.id, conn)
    const send = (m: Hj212Message) => conn.send(encodeHj212(m))

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
      links.set(mn, { conn, st: m.st, pw: m.pw })
      if (answerToCommand(m, send)) return
      if (DEVICE_ANSWERS.has(m.cn)) return
      if (!DATA_CNS.has(m.cn)) {
        if (wantsAnswer(m)) send(dataAnswer(m))
        return reject('unsupported_cn', raw, `CN ${m.cn} is not stored`, mn, false)
      }
      let whole = m
      if (m.pnum !== undefined && m.pnum > 1) {
        reassembler ??= createHj212Reassembler()
        const expired = reassembler.expire(c.now())
        if (expired > 0) reject('incomplete_packets', '', `${expired} split uploads not completed within two minutes`, mn, false)
        const r = reassembler.add(m, c.now())
        if (!r.done) {
          if (wantsAnswer(m)) send(dataAnswer(m))
          return
        }
        whole = r.message
      }
      const data = hj212Data(whole.cp)
      if (!data.ok) return reject(data.reason, raw, data.detail, mn)
      const body: WaterBody = known?.options['waterBody'] === 'lake' ? 'lake' : 'river'
      const p = hj212Point(whole, data.value, { receivedAt: c.now(), waterBody: body })
      if (!p.ok) {
        if (wantsAnswer(m)) send(dataAnswer(m))
        return reject(p.reason, raw, p.detail, mn, false)
      }
      await c.ingest({ source: cfg.id, device: mn, kind: 'water_quality', protocol: 'hj212', points: [p.value] })
      if (wantsAnswer(m)) send(dataAnswer(m))
    }

    return {
      data: framePump(framer, conn, reject, handle),
      closed(why) {
        if (lastMn !== undefined && links.get(lastMn)?.conn === conn) links.delete(lastMn)
        if (lastMn !== undefined && c.devices.get(lastMn)) c.devices.setOnline(lastMn, false, why)
        if (reassembler && reassembler.pending() > 0) {
          void c.reject({ source: cfg.id, address: conn.address, raw: '', reason: 'incomplete_packets', detail: `${reassembler.pending()} split uploads never completed`, ...(lastMn ? { device: lastMn } : {}) })
        }
      },
    }
  }

  const base = createTcpSource({
    id: cfg.id,
    type: 'hj212',
    server: { host: cfg.host, port: cfg.port, idleTimeoutSec: cfg.idleTimeoutSec, ratePerSec: cfg.rateLimitPerSec, maxBadFrames: cfg.maxBadFrames },
    async onStart(c) {
      now = () => c.now()
    },
    async onStop() {
      for (const cmd of commands.values()) cmd.done(new CommandError('not_connected', 'source stopped'))
    },
    connection: onConnection,
  })
  return Object.assign(base, { command })
}
