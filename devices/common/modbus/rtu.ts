/**
 * Modbus RTU ADU: unit id, PDU, CRC-16/MODBUS low byte first (Modbus over Serial Line V1.02, section 2.5.1),
 * and a framer that cuts a byte stream into frames. RTU frames carry no length: the framer derives it from the
 * function code and byte count, which depend on the direction (a master reads responses, a slave requests).
 */
import { crc16Modbus } from '../checksum.ts'
import { type DecodeResult, type FrameEvent, type Framer, fail, ok } from '../result.ts'
import type { Reason } from '../reasons.ts'

export interface RtuFrame {
  unit: number
  pdu: Buffer
}

export type Direction = 'request' | 'response'

export function encodeRtu(unit: number, pdu: Uint8Array): Buffer {
  const b = Buffer.alloc(pdu.length + 3)
  b[0] = unit & 0xff
  b.set(pdu, 1)
  const crc = crc16Modbus(b, 0, b.length - 2)
  b.writeUInt16LE(crc, b.length - 2)
  return b
}

/** Check the CRC of a whole ADU and split it. */
export function decodeRtu(adu: Uint8Array): DecodeResult<RtuFrame> {
  if (adu.length < 4) return fail('too_short', `RTU frame of ${adu.length} bytes (at least 4)`)
  if (adu.length > 256) return fail('too_long', `RTU frame of ${adu.length} bytes (at most 256)`)
  const b = Buffer.from(adu.buffer, adu.byteOffset, adu.byteLength)
  const want = crc16Modbus(b, 0, b.length - 2)
  const got = b.readUInt16LE(b.length - 2)
  if (want !== got) return fail('crc_mismatch', `CRC ${hex4(got)} on the wire, ${hex4(want)} computed`)
  return ok({ unit: b[0]!, pdu: Buffer.from(b.subarray(1, b.length - 2)) })
}

function hex4(n: number): string {
  const s = n.toString(16).toUpperCase().padStart(4, '0')
  // As the bytes travel: low byte first.
  return `${s.slice(2)} ${s.slice(0, 2)}`
}

/**
 * Length of the RTU frame starting at `b[0]`, `0` when more bytes are needed to know, `-1` when the bytes
 * cannot start a frame of this direction.
 */
export function rtuFrameLength(b: Uint8Array, direction: Direction): number {
  if (b.length < 2) return 0
  const fc = b[1]!
  if (direction === 'response') {
    if (fc & 0x80) return KNOWN_FC.has(fc & 0x7f) ? 5 : -1
    if (fc >= 1 && fc <= 4) {
      if (b.length < 3) return 0
      const n = b[2]!
      // A byte count no answer can have: not the start of a frame.
      if (n === 0 || n > 250 || (fc >= 3 && n % 2 === 1)) return -1
      return 5 + n
    }
    if (fc === 5 || fc === 6 || fc === 15 || fc === 16) return 8
    return -1
  }
  if (fc >= 1 && fc <= 6) return 8
  if (fc === 15 || fc === 16) return b.length < 7 ? 0 : 9 + b[6]!
  return -1
}
const KNOWN_FC = new Set([1, 2, 3, 4, 5, 6, 15, 16])

export interface RtuFramerOptions {
  /**
   * Which (unit, function) pairs may start a frame. Without timing (the 3.5-character silence) a garbage byte
   * can look like the start of a long frame and stall the framer; a master that knows whom it asked, and a
   * slave that knows its unit ids, resynchronise on exactly the frames they can use.
   */
  accept?: (unit: number, fc: number) => boolean
}

/**
 * RTU stream framer. A frame whose CRC fails is reported whole as `crc_mismatch` (a master discards it, as
 * after the 3.5-character silence); bytes that cannot start a frame are reported together as `garbage`.
 */
export function createRtuFramer(direction: Direction, opts: RtuFramerOptions = {}): Framer<RtuFrame> {
  let buf = Buffer.alloc(0)
  const accept = opts.accept
  return {
    push(chunk) {
      const events: FrameEvent<RtuFrame>[] = []
      buf = buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([buf, chunk])
      let junk: number[] = []
      let junkReason: Reason = 'garbage'
      let junkDetail = ''
      const flushJunk = () => {
        if (junk.length > 0) events.push({ ok: false, reason: junkReason, raw: Buffer.from(junk), detail: junkDetail || `${junk.length} bytes outside any frame` })
        junk = []
        junkReason = 'garbage'
        junkDetail = ''
      }
      for (;;) {
        let len = rtuFrameLength(buf, direction)
        if (len !== 0 && accept && !accept(buf[0]!, buf[1]! & 0x7f)) len = -1
        if (len === 0 || (len > 0 && buf.length < len)) break
        if (len < 0) {
          junk.push(buf[0]!)
          buf = buf.subarray(1)
          continue
        }
        const raw = Buffer.from(buf.subarray(0, len))
        const d = decodeRtu(raw)
        if (d.ok) {
          flushJunk()
          events.push({ ok: true, frame: d.value, raw })
          buf = buf.subarray(len)
        } else {
          // Resynchronise byte by byte: a frame may start inside the bytes that failed. A run of skipped bytes
          // that began as a whole frame with a bad CRC (noise on the line) is reported as crc_mismatch.
          if (junk.length === 0 && d.reason === 'crc_mismatch') {
            junkReason = 'crc_mismatch'
            junkDetail = d.detail ?? ''
          }
          junk.push(buf[0]!)
          buf = buf.subarray(1)
        }
      }
      flushJunk()
      buf = Buffer.from(buf)
      return events
    },
    reset() {
      buf = Buffer.alloc(0)
    },
  }
}
