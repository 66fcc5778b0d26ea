/**
 * The outer frame of the RSU <-> lane controller protocol: byte stuffing, BCC, the stream framer and the
 * RSCTL rules (docs/protocols.md section 5). Frame layouts are in `layout.ts` and `profiles.ts`.
 *
 *   STX(FF FF) | RSCTL | DATA... | BCC | ETX(FF)      BCC = XOR(RSCTL, DATA...) before stuffing
 *   stuffing between STX and ETX (RSCTL..BCC): FF -> FE 01, FE -> FE 00; any other byte after FE is an error
 */
import { xor8 } from '../../common/checksum.ts'
import { type DecodeResult, type FrameEvent, type Framer, fail, ok } from '../../common/result.ts'

export const STX = 0xff
export const ETX = 0xff
export const ESC = 0xfe

/** Largest stuffed frame the framer accepts before it gives up and resynchronises. */
export const MAX_FRAME_BYTES = 2048

/** FF -> FE 01, FE -> FE 00. */
export function stuff(body: Uint8Array): Buffer {
  let extra = 0
  for (const b of body) if (b >= ESC) extra++
  const out = Buffer.allocUnsafe(body.length + extra)
  let n = 0
  for (const b of body) {
    if (b === 0xff) {
      out[n++] = ESC
      out[n++] = 0x01
    } else if (b === ESC) {
      out[n++] = ESC
      out[n++] = 0x00
    } else out[n++] = b
  }
  return out
}

/** The inverse of `stuff`; FE followed by anything but 00/01 (or by nothing) is refused. */
export function unstuff(body: Uint8Array): DecodeResult<Buffer> {
  const out = Buffer.alloc(body.length)
  let n = 0
  for (let i = 0; i < body.length; i++) {
    const b = body[i]!
    if (b === 0xff) return fail('unexpected_ff', `raw FF inside the frame at offset ${i}`)
    if (b !== ESC) {
      out[n++] = b
      continue
    }
    const next = body[i + 1]
    if (next === 0x00) out[n++] = 0xfe
    else if (next === 0x01) out[n++] = 0xff
    else if (next === undefined) return fail('bad_escape', 'FE at the end of the frame')
    else return fail('bad_escape', `FE followed by ${hex2(next)} at offset ${i}`)
    i++
  }
  return ok(out.subarray(0, n))
}

/** A frame without its envelope: RSCTL and DATA (frame type first); empty `data` is the empty answer. */
export interface RsuRawFrame {
  rsctl: number
  data: Buffer
}

/** Wrap RSCTL and DATA: BCC, stuffing, STX and ETX. */
export function frameRsu(rsctl: number, data: Uint8Array): Buffer {
  const body = Buffer.alloc(data.length + 2)
  body[0] = rsctl & 0xff
  body.set(data, 1)
  body[body.length - 1] = xor8(body, 0, body.length - 1)
  return Buffer.concat([Buffer.from([STX, STX]), stuff(body), Buffer.from([ETX])])
}

/** Check and strip the envelope of one complete frame (STX..ETX, nothing before or after). */
export function unframeRsu(buf: Uint8Array): DecodeResult<RsuRawFrame> {
  if (buf.length < 5) return fail('too_short', `${buf.length} bytes; a frame has at least 5`)
  if (buf[0] !== STX || buf[1] !== STX) return fail('bad_stx', 'a frame starts with FF FF')
  if (buf[buf.length - 1] !== ETX) return fail('missing_etx', 'a frame ends with FF')
  const inner = buf.subarray(2, buf.length - 1)
  const u = unstuff(inner)
  if (!u.ok) return u
  const body = u.value
  if (body.length < 2) return fail('too_short', 'a frame carries at least RSCTL and BCC')
  if (xor8(body) !== 0) {
    const want = xor8(body, 0, body.length - 1)
    return fail('bcc_mismatch', `BCC ${hex2(body[body.length - 1]!)}, computed ${hex2(want)}`)
  }
  return ok({ rsctl: body[0]!, data: Buffer.from(body.subarray(1, body.length - 1)) })
}

export function hex2(b: number): string {
  return b.toString(16).padStart(2, '0').toUpperCase()
}

/**
 * Stream framer: finds `FF FF`, reads to the next `FF` (stuffing guarantees none inside), and checks the
 * envelope. Bytes before a start, frames that fail the envelope and over-long runs come back as
 * `{ ok: false }` events with the raw bytes, so the caller can count and dead-letter them.
 */
export function createRsuFramer(maxFrameBytes = MAX_FRAME_BYTES): Framer<RsuRawFrame> {
  let buf = Buffer.alloc(0)
  return {
    reset() {
      buf = Buffer.alloc(0)
    },
    push(chunk) {
      const events: FrameEvent<RsuRawFrame>[] = []
      buf = buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([buf, chunk])
      for (;;) {
        // Start: a run of at least two FF; the last two are the STX (RSCTL is never FF after stuffing).
        let start = -1
        for (let i = 0; i + 1 < buf.length; i++) {
          if (buf[i] === 0xff && buf[i + 1] === 0xff) {
            start = i
            break
          }
        }
        if (start < 0) {
          // Keep a trailing FF (it may be half of an STX); the rest is garbage.
          const keep = buf.length > 0 && buf[buf.length - 1] === 0xff ? 1 : 0
          if (buf.length - keep > 0) events.push({ ok: false, reason: 'garbage', raw: Buffer.from(buf.subarray(0, buf.length - keep)) })
          buf = Buffer.from(buf.subarray(buf.length - keep))
          return events
        }
        let bodyStart = start + 2
        while (bodyStart < buf.length && buf[bodyStart] === 0xff) bodyStart++
        const stx = bodyStart - 2
        if (stx > 0) events.push({ ok: false, reason: 'garbage', raw: Buffer.from(buf.subarray(0, stx)) })
        if (bodyStart >= buf.length) {
          buf = Buffer.from(buf.subarray(stx))
          return events
        }
        const end = buf.indexOf(0xff, bodyStart)
        if (end < 0) {
          if (buf.length - stx > maxFrameBytes) {
            events.push({ ok: false, reason: 'frame_too_long', raw: Buffer.from(buf.subarray(stx)), detail: `no ETX within ${maxFrameBytes} bytes` })
            buf = Buffer.alloc(0)
          } else {
            buf = Buffer.from(buf.subarray(stx))
          }
          return events
        }
        const raw = Buffer.from(buf.subarray(stx, end + 1))
        buf = Buffer.from(buf.subarray(end + 1))
        if (raw.length > maxFrameBytes) {
          events.push({ ok: false, reason: 'frame_too_long', raw, detail: `${raw.length} bytes` })
          continue
        }
        const r = unframeRsu(raw)
        if (r.ok) events.push({ ok: true, frame: r.value, raw })
        else events.push(r.detail === undefined ? { ok: false, reason: r.reason, raw } : { ok: false, reason: r.reason, raw, detail: r.detail })
      }
    },
  }
}

// ---------------------------------------------------------------------------------------------------------
// RSCTL

/**
 * Which side sends a frame, from the RSCTL rule: RSU frames are `X8` (X = 0..7, 9 at power-on), controller
 * frames `8X`. `88` fits both: the document leaves X = 8 out, but field firmware sends it (the STM32 RSU
 * firmware `leizi163163/test` sends BF with RSCTL 88; some RSUs send heartbeats with it, and 金溢's lane
 * library `ansend/ebox_svc` lib/libetc.rb counts its own RSCTL 80..89), so the frame type decides.
 */
export function rsctlSender(rsctl: number): 'rsu' | 'pc' | 'either' | undefined {
  if (rsctl === 0x88) return 'either'
  const hi = rsctl >> 4
  const lo = rsctl & 0x0f
  if (lo === 8 && (hi <= 7 || hi === 9)) return 'rsu'
  if (hi === 8 && (lo <= 7 || lo === 9)) return 'pc'
  return undefined
}

/** RSCTL of the lane controller's answer to an RSU frame: nibbles swapped (X8 -> 8X). */
export function answerRsctl(rsuRsctl: number): number {
  return ((rsuRsctl & 0x0f) << 4) | (rsuRsctl >> 4)
}

/** RSU frame sequence: X8 with X = 0..7 cycling (9 at power-on). */
export function rsuRsctl(seq: number): number {
  return ((seq & 0x07) << 4) | 0x08
}
