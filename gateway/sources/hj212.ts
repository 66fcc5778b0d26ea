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
import { type Conn, type ConnHandler, connRejecter, createTcpSource, framePump, type TcpSource } from './tcp-server.ts'

export type Hj212Source = TcpSource

/** Answers from a data logger to platform commands: nothing to store or answer. */
const DEVICE_ANSWERS = new Set(['9011', '9012', '9013', '9014'])

export function createHj212Source(cfg: Hj212SourceConfig): Hj212Source {
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
      if (DEVICE_ANSWERS.has(m.cn)) return
      if (!DATA_CNS.has(m.cn)) {
        if (wantsAnswer(m)) send(dataAnswer(m))
        return reject('unsupported_cn', raw, `CN ${m.cn} is not stored`, mn, false)
      }
      let whole = m
      if (m.pnum !== undefined && m.pnum > 1) {
        reassembler ??= createHj212Reassembler()
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
        if (lastMn !== undefined && c.devices.get(lastMn)) c.devices.setOnline(lastMn, false, why)
        if (reassembler && reassembler.pending() > 0) {
          void c.reject({ source: cfg.id, address: conn.address, raw: '', reason: 'incomplete_packets', detail: `${reassembler.pending()} split uploads never completed`, ...(lastMn ? { device: lastMn } : {}) })
        }
      },
    }
  }

  return createTcpSource({
    id: cfg.id,
    type: 'hj212',
    server: { host: cfg.host, port: cfg.port, idleTimeoutSec: cfg.idleTimeoutSec, ratePerSec: cfg.rateLimitPerSec, maxBadFrames: cfg.maxBadFrames },
    connection: onConnection,
  })
}
