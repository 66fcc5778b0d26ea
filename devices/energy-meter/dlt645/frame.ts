/**
 * DL/T 645-2007 (and the 1997 variant) link layer: frame decode/encode and the byte-stream framer
 * (docs/protocols.md section 2). Pure: no I/O, clock or logging; nothing here throws on input.
 *
 * Wire: `[FE..] 68 A0..A5 68 C L DATA CS 16`; address BCD low byte first; every DATA byte +0x33;
 * CS = sum mod 256 from the first 68 through the last data byte.
 */
import { sum8 } from '../../common/checksum.ts'
import { type DecodeResult, type FrameEvent, type Framer, fail, ok } from '../../common/result.ts'

export type Dlt645Version = '2007' | '1997'

/** A link-layer frame. `address` is 12 characters, most significant first as printed on the meter
 * (`000000000161`); `A` digits are the wildcard. `data` is already un-offset (-0x33). */
export interface Dlt645Frame {
  address: string
  control: number
  data: Buffer
}

export const BROADCAST_ADDRESS = '999999999999'
export const WILDCARD_ADDRESS = 'AAAAAAAAAAAA'
export const MAX_DATA_LENGTH = 200

/** Control codes (function bits D4..D0 plus direction D7 / abnormal D6 / follow-up D5). */
export const CONTROL = {
  broadcastTime: 0x08,
  read2007: 0x11,
  readFollow2007: 0x12,
  readAddress: 0x13,
  read1997: 0x01,
  readFollow1997: 0x02,
  reply: 0x80,
  abnormal: 0x40,
  more: 0x20,
} as const

// ---------------------------------------------------------------------------------------------------
// Frames

const ADDRESS_RE = /^[0-9A]{12}$/

export function addressToBytes(address: string): Buffer | undefined {
  if (!ADDRESS_RE.test(address)) return undefined
  const out = Buffer.alloc(6)
  for (let i = 0; i < 6; i++) {
    // wire byte i holds digits 10-2i, 11-2i (low byte first)
    const hi = address[10 - 2 * i]!
    const lo = address[11 - 2 * i]!
    out[i] = (Number.parseInt(hi, 16) << 4) | Number.parseInt(lo, 16)
  }
  return out
}

export function bytesToAddress(b: Uint8Array, start: number): string | undefined {
  let s = ''
  for (let i = 5; i >= 0; i--) {
    const v = b[start + i]!
    for (const n of [v >> 4, v & 0x0f]) {
      if (n <= 9) s += String(n)
      else if (n === 0x0a) s += 'A'
      else return undefined
    }
  }
  return s
}

/** Normalize a configured meter address: digits, left-padded to 12. */
export function normalizeAddress(address: string): string | undefined {
  const a = address.replace(/\s/g, '').toUpperCase()
  if (!/^[0-9A]{1,12}$/.test(a)) return undefined
  return a.padStart(12, '0')
}

/**
 * One frame (optionally preceded by FE bytes) -> its fields. Reasons: `too_short`, `no_start`,
 * `bad_length`, `bad_checksum`, `no_end`, `bad_address`.
 */
export function decodeFrame(buf: Uint8Array): DecodeResult<Dlt645Frame> {
  let i = 0
  while (i < buf.length && buf[i] === 0xfe) i++
  if (buf.length - i < 12) return fail('too_short', `${buf.length - i} bytes after the preamble`)
  if (buf[i] !== 0x68 || buf[i + 7] !== 0x68) return fail('no_start', 'a frame starts 68 A0..A5 68')
  const len = buf[i + 9]!
  const end = i + 10 + len
  if (buf.length !== end + 2) return fail('bad_length', `L=${len} but ${buf.length - i - 12} data bytes`)
  const cs = sum8(buf, i, end)
  if (buf[end] !== cs) return fail('bad_checksum', `CS ${buf[end]!.toString(16)}, computed ${cs.toString(16)}`)
  if (buf[end + 1] !== 0x16) return fail('no_end', 'a frame ends with 16')
  const address = bytesToAddress(buf, i + 1)
  if (address === undefined) return fail('bad_address', 'address is not BCD')
  const data = Buffer.alloc(len)
  for (let k = 0; k < len; k++) data[k] = (buf[i + 10 + k]! - 0x33) & 0xff
  return ok({ address, control: buf[i + 8]!, data })
}

/** Frame -> bytes (the exact inverse of `decodeFrame`), with `preamble` FE bytes in front. */
export function encodeFrame(f: Dlt645Frame, preamble = 0): Buffer {
  const addr = addressToBytes(f.address)
  if (!addr) throw new RangeError(`bad DL/T 645 address ${f.address}`)
  if (f.data.length > 255) throw new RangeError('DL/T 645 data longer than 255 bytes')
  const out = Buffer.alloc(preamble + 12 + f.data.length)
  out.fill(0xfe, 0, preamble)
  let p = preamble
  out[p++] = 0x68
  addr.copy(out, p)
  p += 6
  out[p++] = 0x68
  out[p++] = f.control
  out[p++] = f.data.length
  for (const b of f.data) out[p++] = (b + 0x33) & 0xff
  out[p] = sum8(out, preamble, p)
  out[p + 1] = 0x16
  return out
}

/**
 * Bytes -> frames (raw, FE preamble stripped). Skips FE; anything else outside a frame is `garbage`; a
 * candidate with a bad CS or end byte is reported and scanning resumes after its first 68 (so a frame
 * hidden behind a false start is still found).
 */
export function createDlt645Framer(): Framer<Buffer> {
  let buf = Buffer.alloc(0)
  return {
    push(chunk) {
      const out: FrameEvent<Buffer>[] = []
      buf = buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([buf, chunk])
      let garbageFrom = -1
      const flushGarbage = (to: number) => {
        if (garbageFrom >= 0) {
          out.push({ ok: false, reason: 'garbage', raw: Buffer.from(buf.subarray(garbageFrom, to)) })
          garbageFrom = -1
        }
      }
      let i = 0
      while (i < buf.length) {
        const b = buf[i]!
        if (b === 0xfe) {
          flushGarbage(i)
          i++
          continue
        }
        if (b !== 0x68) {
          if (garbageFrom < 0) garbageFrom = i
          i++
          continue
        }
        // a candidate frame at i
        if (buf.length - i < 10) break // need the header
        if (buf[i + 7] !== 0x68) {
          if (garbageFrom < 0) garbageFrom = i
          i++
          continue
        }
        const total = 12 + buf[i + 9]!
        if (buf.length - i < total) break // wait for the rest
        const raw = buf.subarray(i, i + total)
        const cs = sum8(raw, 0, total - 2)
        if (raw[total - 2] !== cs || raw[total - 1] !== 0x16) {
          flushGarbage(i)
          out.push({ ok: false, reason: raw[total - 1] !== 0x16 ? 'no_end' : 'bad_checksum', raw: Buffer.from(raw) })
          i++
          continue
        }
        flushGarbage(i)
        out.push({ ok: true, frame: Buffer.from(raw), raw: Buffer.from(raw) })
        i += total
      }
      if (garbageFrom >= 0) {
        // keep a possible start in the tail; report the rest
        flushGarbage(i)
      }
      buf = Buffer.from(buf.subarray(i))
      return out
    },
    reset() {
      buf = Buffer.alloc(0)
    },
  }
}

