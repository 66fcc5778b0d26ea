/**
 * One Modbus connection (a "link"): a byte stream to one bus, TCP or serial, framed as MBAP or RTU. It sends
 * one request at a time and waits for the matching answer or the time-out: the caller (the bus session)
 * owns the order of requests.
 *
 * The stream comes from the transports' address table (gateway/transports/address.ts: `tcp://`,
 * `rtu-over-tcp://`, `serial://`), which opens it on the first request and reopens it with back-off after it
 * drops, so a converter that reboots or a serial adapter that is unplugged and replugged comes back without
 * a restart. The answer is matched by the transports' one matcher (gateway/transports/matcher.ts, one
 * request in flight): a frame is ours when it is a CRC mismatch (a master discards it and stops waiting), a
 * TCP framer error (the stream is out of step: closed), a TCP frame of our transaction and unit, or any
 * whole RTU frame of the unit and function asked (the framer only starts frames there); RTU garbage (a late
 * answer of another slave, line noise) is not, and the request keeps waiting. A dropped stream fails the
 * request at once as `disconnected`; no answer in time is `timeout`.
 */
import type { Duplex } from 'node:stream'
import { createMbapFramer, encodeMbap, type MbapFrame } from '../../../devices/common/modbus/mbap.ts'
import { decodeResponse, encodeRequest, isException, matches, type Request, type Response } from '../../../devices/common/modbus/pdu.ts'
import { createRtuFramer, encodeRtu, type RtuFrame } from '../../../devices/common/modbus/rtu.ts'
import type { FrameEvent, Framer } from '../../../devices/common/result.ts'
import { type Address, createLink as createTransportLink } from '../../transports/address.ts'
import { createMatcher, MatchError } from '../../transports/matcher.ts'
import type { RecordTap } from '../../transports/record.ts'

export type LinkResult =
  | { ok: true; response: Response; raw: Buffer }
  | { ok: false; code: 'exception'; exception: number; name: string; raw: Buffer }
  | { ok: false; code: 'timeout' | 'connect_failed' | 'disconnected'; detail: string }
  | { ok: false; code: 'crc_mismatch' | 'bad_response'; detail: string; raw: Buffer }

export interface LinkOptions {
  framing: 'tcp' | 'rtu'
  /** Where the bus is: `tcp://h:p`, `rtu-over-tcp://h:p`, `serial:///dev/ttyUSB0?baud=9600...` (or parsed). */
  address: string | Address
  /** The name in dead letters and logs (default: the address); the sources keep `host:port` or the path. */
  name?: string
  /** A TCP connect that takes longer fails (ms). */
  connectTimeoutMs?: number
  /** Record the bus's bytes (requests out, answers in): `smartcity replay` answers the polls from them. */
  record?: RecordTap | undefined
}

export interface Link {
  address: string
  request(unit: number, req: Request, timeoutMs: number): Promise<LinkResult>
  close(): Promise<void>
}

type Incoming = FrameEvent<RtuFrame | MbapFrame>

/** The stream dropped while a request waited. */
class Dropped extends Error {}

export function createModbusLink(opts: LinkOptions): Link {
  const transport = createTransportLink(opts.address, {
    ...(opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
    record: opts.record,
    recordAs: opts.framing === 'tcp' ? 'modbus-tcp' : 'modbus-rtu',
  })
  const name = opts.name ?? transport.address
  const matcher = createMatcher<never, Incoming>({ maxPending: 1 })
  let tid = 0
  let framer: Framer<RtuFrame> | Framer<MbapFrame> | undefined

  transport.on('open', (s) => {
    s.on('data', (chunk: Buffer) => {
      const f = framer
      if (!f) return
      // Frames nobody waits for (late answers after a time-out) are dropped, as before.
      for (const ev of (f as Framer<RtuFrame | MbapFrame>).push(chunk)) matcher.settle(ev)
    })
  })
  transport.on('close', (reason) => matcher.failAll(new Dropped(`${name} closed (${reason})`)))

  return {
    address: name,
    async request(unit, req, timeoutMs) {
      let s: Duplex
      try {
        s = await transport.open({ waitMs: timeoutMs })
      } catch (err) {
        return { ok: false, code: 'connect_failed', detail: (err as Error).message }
      }
      const pdu = encodeRequest(req)
      tid = (tid + 1) & 0xffff
      const id = tid
      const tcp = opts.framing === 'tcp'
      // A fresh framer per request: bytes of an earlier, timed-out answer are never taken for this one.
      framer = tcp ? createMbapFramer() : createRtuFramer('response', { accept: (u, fc) => u === unit && fc === req.fc })
      const bits = req.fc === 1 || req.fc === 2 ? req.quantity : undefined
      const ours = (ev: Incoming): boolean => {
        if (!ev.ok) return ev.reason === 'crc_mismatch' || tcp
        const f = ev.frame
        return !('transaction' in f) || (f.transaction === id && f.unit === unit)
      }
      const answer = matcher.wait(ours, { timeoutMs, what: `answer from unit ${unit}` })
      s.write(tcp ? encodeMbap(id, unit, pdu) : encodeRtu(unit, pdu))
      let ev: Incoming
      try {
        ev = await answer
      } catch (err) {
        if (err instanceof MatchError && err.code === 'timeout') return { ok: false, code: 'timeout', detail: `no answer from unit ${unit} within ${timeoutMs} ms` }
        return { ok: false, code: 'disconnected', detail: err instanceof Dropped ? err.message : `${name} closed` }
      } finally {
        framer = undefined
      }
      if (!ev.ok) {
        if (ev.reason === 'crc_mismatch') return { ok: false, code: 'crc_mismatch', detail: ev.detail ?? '', raw: ev.raw }
        // A TCP framer error: the stream is out of step; close it (the address table reopens it).
        s.destroy()
        return { ok: false, code: 'bad_response', detail: `${ev.reason}: ${ev.detail ?? ''}`, raw: ev.raw }
      }
      const d = decodeResponse(ev.frame.pdu, bits)
      if (!d.ok) return { ok: false, code: 'bad_response', detail: `${d.reason}: ${d.detail ?? ''}`, raw: ev.raw }
      const m = matches(req, d.value)
      if (!m.ok) return { ok: false, code: 'bad_response', detail: `${m.reason}: ${m.detail ?? ''}`, raw: ev.raw }
      if (isException(m.value)) return { ok: false, code: 'exception', exception: m.value.exception, name: m.value.name, raw: ev.raw }
      return { ok: true, response: m.value, raw: ev.raw }
    },
    async close() {
      matcher.failAll(new Dropped(`${name} closed`))
      await transport.close()
    },
  }
}
