/** HJ 212 framer: bytes -> packets `##` ... CRC (split and concatenated reads, garbage between). Pure. */
import type { FrameEvent, Framer } from '../../common/result.ts'

export interface Hj212FramerOptions {
  /** Longest data segment accepted (the standard allows 1024). */
  maxSegmentBytes?: number
}


const HASH = 0x23
const EMPTY = Buffer.alloc(0)
const CR = 0x0d
const LF = 0x0a

/**
 * Bytes -> packets. An event's `frame` is the whole packet from `##` through the CRC (CR LF removed);
 * bytes before `##` are `garbage`; a length that is not 4 digits is `bad_length` and a length over the
 * limit `frame_too_long` (the framer then looks for the next `##`). CR LF after a packet is optional.
 */
export function createHj212Framer(opts: Hj212FramerOptions = {}): Framer<Buffer> {
  const max = opts.maxSegmentBytes ?? 1024
  let buf = EMPTY
  return {
    reset() {
      buf = EMPTY
    },
    push(chunk: Buffer): FrameEvent<Buffer>[] {
      const events: FrameEvent<Buffer>[] = []
      buf = buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([buf, chunk])
      for (;;) {
        // Terminators left over from the previous packet.
        let s = 0
        while (s < buf.length && (buf[s] === CR || buf[s] === LF)) s++
        if (s > 0) buf = buf.subarray(s)
        if (buf.length === 0) break
        const start = buf.indexOf('##')
        if (start < 0) {
          // Keep a trailing '#' that may be half of the next start marker.
          const keep = buf[buf.length - 1] === HASH ? 1 : 0
          if (buf.length - keep > 0) events.push({ ok: false, reason: 'garbage', raw: Buffer.from(buf.subarray(0, buf.length - keep)) })
          buf = buf.subarray(buf.length - keep)
          break
        }
        if (start > 0) {
          events.push({ ok: false, reason: 'garbage', raw: Buffer.from(buf.subarray(0, start)) })
          buf = buf.subarray(start)
        }
        if (buf.length < 6) break
        const lenText = buf.toString('latin1', 2, 6)
        if (!/^\d{4}$/.test(lenText)) {
          events.push({ ok: false, reason: 'bad_length', raw: Buffer.from(buf.subarray(0, 6)), detail: `length field "${lenText}"` })
          buf = buf.subarray(2)
          continue
        }
        const len = Number(lenText)
        if (len > max) {
          events.push({ ok: false, reason: 'frame_too_long', raw: Buffer.from(buf.subarray(0, Math.min(buf.length, 64))), detail: `segment of ${len} bytes, limit ${max}` })
          buf = buf.subarray(2)
          continue
        }
        const total = 6 + len + 4
        if (buf.length < total) break
        events.push({ ok: true, frame: Buffer.from(buf.subarray(0, total)), raw: Buffer.from(buf.subarray(0, total)) })
        buf = buf.subarray(total)
      }
      if (buf.length > 6 + max + 8) {
        // Cannot happen with a parsed length, but never grow without bound.
        events.push({ ok: false, reason: 'garbage', raw: Buffer.from(buf.subarray(0, 64)) })
        buf = EMPTY
      }
      // An idle connection keeps no view into a pooled chunk (an empty subarray would pin its 8 KB slab).
      if (buf.length === 0) buf = EMPTY
      return events
    },
  }
}
