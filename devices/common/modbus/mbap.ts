/**
 * Modbus TCP ADU: the 7-byte MBAP header (transaction id, protocol id 0, length, unit id) and the PDU
 * (Modbus Messaging on TCP/IP Implementation Guide V1.0b, section 3.1.3). The length field makes framing exact;
 * a header that breaks the rules means the stream is out of step and the connection should be closed.
 */
import type { FrameEvent, Framer } from '../result.ts'

export interface MbapFrame {
  transaction: number
  unit: number
  pdu: Buffer
}

export function encodeMbap(transaction: number, unit: number, pdu: Uint8Array): Buffer {
  const b = Buffer.alloc(7 + pdu.length)
  b.writeUInt16BE(transaction & 0xffff, 0)
  b.writeUInt16BE(0, 2)
  b.writeUInt16BE(pdu.length + 1, 4)
  b[6] = unit & 0xff
  b.set(pdu, 7)
  return b
}

export function createMbapFramer(): Framer<MbapFrame> {
  let buf = Buffer.alloc(0)
  return {
    push(chunk) {
      const events: FrameEvent<MbapFrame>[] = []
      buf = buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([buf, chunk])
      while (buf.length >= 7) {
        const pid = buf.readUInt16BE(2)
        const len = buf.readUInt16BE(4)
        if (pid !== 0 || len < 2 || len > 254) {
          events.push({ ok: false, reason: 'bad_mbap_header', raw: Buffer.from(buf), detail: `protocol id ${pid}, length ${len}` })
          buf = Buffer.alloc(0)
          break
        }
        if (buf.length < 6 + len) break
        const raw = Buffer.from(buf.subarray(0, 6 + len))
        events.push({ ok: true, raw, frame: { transaction: raw.readUInt16BE(0), unit: raw[6]!, pdu: raw.subarray(7) } })
        buf = buf.subarray(6 + len)
      }
      buf = Buffer.from(buf)
      return events
    },
    reset() {
      buf = Buffer.alloc(0)
    },
  }
}
