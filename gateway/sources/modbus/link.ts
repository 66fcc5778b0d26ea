/**
 * One Modbus connection (a "link"): a byte stream to one bus, TCP or serial, framed as MBAP or RTU. It sends
 * one request at a time and waits for the matching answer or the time-out: the caller (the bus scheduler)
 * owns the order of requests. The stream is opened lazily and reopened after it drops, so a converter that
 * reboots or a serial adapter that is unplugged and replugged comes back without a restart.
 */
import type { Duplex } from 'node:stream'
import { createMbapFramer, encodeMbap, type MbapFrame } from '../../../devices/common/modbus/mbap.ts'
import { decodeResponse, encodeRequest, isException, matches, type Request, type Response } from '../../../devices/common/modbus/pdu.ts'
import { createRtuFramer, encodeRtu, type RtuFrame } from '../../../devices/common/modbus/rtu.ts'
import type { Framer } from '../../../devices/common/result.ts'

export type LinkResult =
  | { ok: true; response: Response; raw: Buffer }
  | { ok: false; code: 'exception'; exception: number; name: string; raw: Buffer }
  | { ok: false; code: 'timeout' | 'connect_failed' | 'disconnected'; detail: string }
  | { ok: false; code: 'crc_mismatch' | 'bad_response'; detail: string; raw: Buffer }

export interface LinkOptions {
  framing: 'tcp' | 'rtu'
  /** Open the byte stream (a TCP socket, a serial port); reject when it cannot be opened. */
  open(): Promise<Duplex>
  /** host:port or serial path, for dead letters and logs. */
  address: string
}

export interface Link {
  address: string
  request(unit: number, req: Request, timeoutMs: number): Promise<LinkResult>
  close(): Promise<void>
}

export function createLink(opts: LinkOptions): Link {
  let stream: Duplex | undefined
  let opening: Promise<Duplex> | undefined
  let tid = 0
  let pending: ((ev: { frame?: RtuFrame | MbapFrame; raw: Buffer; reason?: string; detail?: string; closed?: boolean }) => void) | undefined
  let framer: Framer<RtuFrame> | Framer<MbapFrame> | undefined
  let closed = false

  const attach = (s: Duplex) => {
    s.on('data', (chunk: Buffer) => {
      if (!framer) return
      for (const ev of (framer as Framer<RtuFrame | MbapFrame>).push(chunk)) {
        if (ev.ok) pending?.({ frame: ev.frame, raw: ev.raw })
        else pending?.({ raw: ev.raw, reason: ev.reason, ...(ev.detail !== undefined ? { detail: ev.detail } : {}) })
      }
    })
    const drop = () => {
      if (stream === s) stream = undefined
      pending?.({ raw: Buffer.alloc(0), closed: true })
    }
    s.on('close', drop)
    s.on('end', drop)
    s.on('error', drop)
  }

  const ensureOpen = async (): Promise<Duplex> => {
    if (stream && !stream.destroyed) return stream
    opening ??= opts.open().finally(() => {
      opening = undefined
    })
    const s = await opening
    if (closed) {
      s.destroy()
      throw new Error('link closed')
    }
    if (stream !== s) {
      stream = s
      attach(s)
    }
    return s
  }

  return {
    address: opts.address,
    async request(unit, req, timeoutMs) {
      let s: Duplex
      try {
        s = await ensureOpen()
      } catch (err) {
        return { ok: false, code: 'connect_failed', detail: (err as Error).message }
      }
      const pdu = encodeRequest(req)
      tid = (tid + 1) & 0xffff
      const id = tid
      // A fresh framer per request: bytes of an earlier, timed-out answer are never taken for this one.
      framer =
        opts.framing === 'tcp'
          ? createMbapFramer()
          : createRtuFramer('response', { accept: (u, fc) => u === unit && fc === req.fc })
      const bits = req.fc === 1 || req.fc === 2 ? req.quantity : undefined
      return new Promise<LinkResult>((resolve) => {
        const timer = setTimeout(() => finish({ ok: false, code: 'timeout', detail: `no answer from unit ${unit} within ${timeoutMs} ms` }), timeoutMs)
        const finish = (r: LinkResult) => {
          clearTimeout(timer)
          pending = undefined
          resolve(r)
        }
        pending = (ev) => {
          if (ev.closed) return finish({ ok: false, code: 'disconnected', detail: `${opts.address} closed` })
          if (!ev.frame) {
            if (ev.reason === 'crc_mismatch') finish({ ok: false, code: 'crc_mismatch', detail: ev.detail ?? '', raw: ev.raw })
            else if (opts.framing === 'tcp') {
              finish({ ok: false, code: 'bad_response', detail: `${ev.reason}: ${ev.detail ?? ''}`, raw: ev.raw })
              s.destroy()
            }
            // RTU garbage (a late answer of another slave, line noise): keep waiting for ours.
            return
          }
          const f = ev.frame
          if ('transaction' in f && (f.transaction !== id || f.unit !== unit)) return // a late answer to an earlier request
          const d = decodeResponse(f.pdu, bits)
          if (!d.ok) return finish({ ok: false, code: 'bad_response', detail: `${d.reason}: ${d.detail ?? ''}`, raw: ev.raw })
          const m = matches(req, d.value)
          if (!m.ok) return finish({ ok: false, code: 'bad_response', detail: `${m.reason}: ${m.detail ?? ''}`, raw: ev.raw })
          if (isException(m.value)) return finish({ ok: false, code: 'exception', exception: m.value.exception, name: m.value.name, raw: ev.raw })
          finish({ ok: true, response: m.value, raw: ev.raw })
        }
        s.write(opts.framing === 'tcp' ? encodeMbap(id, unit, pdu) : encodeRtu(unit, pdu))
      })
    },
    async close() {
      closed = true
      const s = stream
      stream = undefined
      if (!s || s.destroyed) return
      await new Promise<void>((resolve) => {
        s.once('close', () => resolve())
        s.destroy()
        setTimeout(resolve, 1_000).unref()
      })
    },
  }
}
