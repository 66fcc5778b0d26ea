/**
 * ETC roadside unit (RSU) <-> lane controller serial protocol (GB/T 20851 DSRC lanes; shared/protocols.md
 * section 5). Pure codec: framing, byte stuffing, BCC, and frame layouts kept as DATA (`RsuProfile`), so a
 * vendor variant is a profile in the configuration, not a fork of this file.
 *
 *   STX(FF FF) | RSCTL | DATA... | BCC | ETX(FF)      BCC = XOR(RSCTL, DATA...) before stuffing
 *   stuffing between STX and ETX (RSCTL..BCC): FF -> FE 01, FE -> FE 00; any other byte after FE is an error
 *
 * DATA[0] is the frame type (B0, B2, B3, B4, B5 from the RSU; C0, C1, C2, C6 from the lane controller);
 * an empty DATA is the empty answer (`FF FF RSCTL BCC FF`). Integers are big-endian.
 */
import iconv from 'iconv-lite'
import { z } from 'zod'
import { isBcd } from '../common/bcd.ts'
import { xor8 } from '../common/checksum.ts'
import { parseHex } from '../common/hex.ts'
import { type DecodeResult, type FrameEvent, type Framer, fail, ok } from '../common/result.ts'
import { beijingToUtcMs, utcMsToBeijing } from '../common/time.ts'

export const STX = 0xff
export const ETX = 0xff
export const ESC = 0xfe

/** Largest stuffed frame the framer accepts before it gives up and resynchronises. */
export const MAX_FRAME_BYTES = 2048

// ---------------------------------------------------------------------------------------------------------
// Byte stuffing and the outer frame

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
    else return fail('bad_escape', `FE followed by ${next.toString(16).padStart(2, '0').toUpperCase()} at offset ${i}`)
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

function hex2(b: number): string {
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
// Frame layouts as data

export const RSU_FIELD_TYPES = ['u8', 'u16', 'u32', 'hex', 'bcd', 'gbk', 'rest'] as const
export type RsuFieldType = (typeof RSU_FIELD_TYPES)[number]

const FIXED: Partial<Record<RsuFieldType, number>> = { u8: 1, u16: 2, u32: 4 }

/**
 * One field of a frame. `u8/u16/u32` are big-endian numbers; `hex` is `length` bytes as upper-case hex;
 * `bcd` is `length` bytes as 2*length decimal digits; `gbk` is text in `length` bytes, GBK, NUL-padded;
 * `rest` takes whatever remains (upper-case hex, maybe empty) and must be last. A field marked `optional`
 * and every field after it may be missing together (a short form, e.g. a B2 heartbeat or an error answer).
 */
export const RsuFieldSpec = z.strictObject({
  name: z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/),
  type: z.enum(RSU_FIELD_TYPES),
  length: z.number().int().min(1).max(1024).optional(),
  optional: z.boolean().optional(),
})
export type RsuFieldSpec = z.infer<typeof RsuFieldSpec>

export const RsuFrameLayout = z
  .strictObject({
    /** Who sends it: the RSU (`B*`) or the lane controller (`C*`). */
    from: z.enum(['rsu', 'pc']),
    description: z.string().optional(),
    fields: z.array(RsuFieldSpec),
  })
  .superRefine((l, ctx) => {
    let optionalSeen = false
    const names = new Set<string>()
    l.fields.forEach((f, i) => {
      if (names.has(f.name)) ctx.addIssue({ code: 'custom', path: ['fields', i, 'name'], message: `duplicate field ${f.name}` })
      names.add(f.name)
      const needsLength = f.type === 'hex' || f.type === 'bcd' || f.type === 'gbk'
      if (needsLength && f.length === undefined) ctx.addIssue({ code: 'custom', path: ['fields', i, 'length'], message: `${f.type} needs a length` })
      if (!needsLength && f.length !== undefined) ctx.addIssue({ code: 'custom', path: ['fields', i, 'length'], message: `${f.type} takes no length` })
      if (f.type === 'rest' && i !== l.fields.length - 1) ctx.addIssue({ code: 'custom', path: ['fields', i, 'type'], message: 'rest must be the last field' })
      if (f.optional) optionalSeen = true
      else if (optionalSeen && f.type !== 'rest') ctx.addIssue({ code: 'custom', path: ['fields', i, 'optional'], message: 'fields after an optional one must be optional too' })
    })
  })
export type RsuFrameLayout = z.infer<typeof RsuFrameLayout>

/** A protocol variant: frame type (two upper-case hex digits) -> layout. */
export const RsuProfile = z.strictObject({
  name: z.string().min(1),
  frames: z.record(z.string().regex(/^[0-9A-F]{2}$/, 'a frame type as two upper-case hex digits'), RsuFrameLayout),
})
export type RsuProfile = z.infer<typeof RsuProfile>

const f = (name: string, type: RsuFieldType, length?: number, optional?: boolean): RsuFieldSpec => ({
  name,
  type,
  ...(length === undefined ? {} : { length }),
  ...(optional ? { optional: true } : {}),
})

/**
 * The classic layout of the public "高速公路ETC系统DSRC设备串行口通讯协议" (protocols.md section 5), trimmed to
 * what the lane needs. Vendors add fields (2019 EF04 data, CPU card ids): give them as another profile.
 */
export const CLASSIC_PROFILE: RsuProfile = {
  name: 'gbt20851-classic',
  frames: {
    B0: {
      from: 'rsu',
      description: 'RSU status',
      fields: [
        f('rsuStatus', 'u8'),
        f('psamTerminalId', 'hex', 6),
        f('rsuAlgId', 'u8'),
        f('rsuManuId', 'u8'),
        f('rsuId', 'hex', 3),
        f('rsuVersion', 'hex', 2),
        f('reserved', 'rest'),
      ],
    },
    B2: {
      from: 'rsu',
      description: 'OBU information (heartbeat: errorCode 80, obuId 00000000, nothing after)',
      fields: [
        f('obuId', 'hex', 4),
        f('errorCode', 'u8'),
        f('contractProvider', 'hex', 8, true),
        f('contractType', 'u8', undefined, true),
        f('contractVersion', 'u8', undefined, true),
        f('applicationSerial', 'hex', 8, true),
        f('signedDate', 'bcd', 4, true),
        f('expiredDate', 'bcd', 4, true),
        f('equipmentStatus', 'u8', undefined, true),
        f('obuStatus', 'u16', undefined, true),
      ],
    },
    B3: {
      from: 'rsu',
      description: 'vehicle information',
      fields: [
        f('obuId', 'hex', 4),
        f('errorCode', 'u8'),
        f('plate', 'gbk', 12, true),
        f('plateColor', 'u16', undefined, true),
        f('vehicleClass', 'u8', undefined, true),
        f('userType', 'u8', undefined, true),
      ],
    },
    B4: {
      from: 'rsu',
      description: 'IC card information',
      fields: [
        f('obuId', 'hex', 4),
        f('errorCode', 'u8'),
        f('cardType', 'u8', undefined, true),
        f('balanceFen', 'u32', undefined, true),
        f('issuerFile', 'hex', 43, true),
        f('lastStationFile', 'hex', 43, true),
      ],
    },
    B5: {
      from: 'rsu',
      description: 'transaction result',
      fields: [
        f('obuId', 'hex', 4),
        f('errorCode', 'u8'),
        f('transTime', 'bcd', 7, true),
        f('psamSerial', 'u32', undefined, true),
        f('cardSerial', 'u16', undefined, true),
        f('transType', 'u8', undefined, true),
        f('balanceFen', 'u32', undefined, true),
        f('tac', 'hex', 4, true),
        f('keyType', 'u8', undefined, true),
      ],
    },
    C0: {
      from: 'pc',
      description: 'initialise the RSU',
      fields: [
        f('unixTime', 'u32'),
        f('dateTime', 'bcd', 7),
        f('laneMode', 'u8'),
        f('bstInterval', 'u8'),
        f('txPower', 'u8'),
        f('pllChannel', 'u8'),
        f('extra', 'rest'),
      ],
    },
    C1: {
      from: 'pc',
      description: 'continue the transaction',
      fields: [f('obuId', 'hex', 4), f('divFactor', 'hex', 8, true)],
    },
    C2: {
      from: 'pc',
      description: 'stop the transaction (stopType 1: re-search the OBU, 2: release)',
      fields: [f('obuId', 'hex', 4), f('stopType', 'u8')],
    },
    C6: {
      from: 'pc',
      description: 'deduct (consume)',
      fields: [
        f('obuId', 'hex', 4),
        f('tradeMode', 'u8'),
        f('feeFen', 'u32'),
        f('stationFile', 'hex', 43),
        f('transTime', 'bcd', 7),
        f('extra', 'rest'),
      ],
    },
  },
}

// ---------------------------------------------------------------------------------------------------------
// Frame decode / encode

export type RsuFieldValue = number | string

/** A decoded frame: `type` is the frame type as two hex digits, or `ACK` for the empty answer. */
export interface RsuFrame {
  rsctl: number
  type: string
  fields: Record<string, RsuFieldValue>
}

const gbkDecoder = new TextDecoder('gbk', { fatal: true })

function fieldSize(spec: RsuFieldSpec): number {
  return FIXED[spec.type] ?? spec.length ?? 0
}

/** Which side sends a frame type, from the RSCTL rule: RSU frames are `X8`, controller frames `8X`. */
export function rsctlSender(rsctl: number): 'rsu' | 'pc' | undefined {
  const hi = rsctl >> 4
  const lo = rsctl & 0x0f
  if (lo === 8 && (hi <= 7 || hi === 9)) return 'rsu'
  if (hi === 8 && (lo <= 7 || lo === 9)) return 'pc'
  return undefined
}

/** DATA (type byte first) -> fields, by the profile's layout. Never throws. */
export function decodeRsuFrame(raw: RsuRawFrame, profile: RsuProfile = CLASSIC_PROFILE): DecodeResult<RsuFrame> {
  const sender = rsctlSender(raw.rsctl)
  if (sender === undefined) return fail('bad_rsctl', `RSCTL ${hex2(raw.rsctl)} is neither X8 nor 8X`)
  const data = raw.data
  if (data.length === 0) return ok({ rsctl: raw.rsctl, type: 'ACK', fields: {} })
  const type = hex2(data[0]!)
  const layout = profile.frames[type]
  if (!layout) return fail('unknown_frame_type', `frame type ${type} is not in profile ${profile.name}`)
  if (layout.from !== sender) return fail('bad_rsctl', `frame ${type} comes from the ${layout.from} but RSCTL ${hex2(raw.rsctl)} says ${sender}`)
  const fields: Record<string, RsuFieldValue> = {}
  let pos = 1
  for (const spec of layout.fields) {
    if (spec.type === 'rest') {
      fields[spec.name] = data.subarray(pos).toString('hex').toUpperCase()
      pos = data.length
      break
    }
    if (pos === data.length && spec.optional) break
    const size = fieldSize(spec)
    if (pos + size > data.length) return fail('truncated', `frame ${type} ends inside ${spec.name} (${data.length} bytes)`)
    const slice = data.subarray(pos, pos + size)
    switch (spec.type) {
      case 'u8':
        fields[spec.name] = slice[0]!
        break
      case 'u16':
        fields[spec.name] = slice.readUInt16BE(0)
        break
      case 'u32':
        fields[spec.name] = slice.readUInt32BE(0)
        break
      case 'hex':
        fields[spec.name] = slice.toString('hex').toUpperCase()
        break
      case 'bcd':
        if (!isBcd(slice)) return fail('bad_bcd', `${spec.name} is not BCD: ${slice.toString('hex')}`)
        fields[spec.name] = slice.toString('hex')
        break
      case 'gbk': {
        let end = slice.length
        while (end > 0 && slice[end - 1] === 0) end--
        try {
          const text = gbkDecoder.decode(slice.subarray(0, end))
          if (text.includes('\u0000')) return fail('bad_text', `${spec.name} has a NUL inside the text`)
          fields[spec.name] = text
        } catch {
          return fail('bad_text', `${spec.name} is not GBK: ${slice.toString('hex')}`)
        }
        break
      }
    }
    pos += size
  }
  if (pos !== data.length) return fail('trailing_bytes', `frame ${type} has ${data.length - pos} bytes after its last field`)
  return ok({ rsctl: raw.rsctl, type, fields })
}

/** The error `encodeRsuFrame` throws for a frame its profile cannot express (a programming error). */
export class RsuEncodeError extends Error {
  readonly code = 'ETC_RSU_ENCODE'
}

/** Fields -> DATA (type byte first). The exact inverse of `decodeRsuFrame`; throws RsuEncodeError on bad input. */
export function encodeRsuData(frame: Omit<RsuFrame, 'rsctl'>, profile: RsuProfile = CLASSIC_PROFILE): Buffer {
  if (frame.type === 'ACK') return Buffer.alloc(0)
  const layout = profile.frames[frame.type]
  if (!layout) throw new RsuEncodeError(`frame type ${frame.type} is not in profile ${profile.name}`)
  const parts: Buffer[] = [Buffer.from([Number.parseInt(frame.type, 16)])]
  let missingFrom: string | undefined
  for (const spec of layout.fields) {
    const v = frame.fields[spec.name]
    if (v === undefined) {
      if (!spec.optional && spec.type !== 'rest') throw new RsuEncodeError(`${frame.type}.${spec.name} is missing`)
      missingFrom ??= spec.name
      continue
    }
    if (missingFrom !== undefined) throw new RsuEncodeError(`${frame.type}.${spec.name} given but ${missingFrom} before it is missing`)
    parts.push(encodeField(frame.type, spec, v))
  }
  for (const k of Object.keys(frame.fields)) {
    if (!layout.fields.some((s) => s.name === k)) throw new RsuEncodeError(`${frame.type} has no field ${k}`)
  }
  return Buffer.concat(parts)
}

function encodeField(type: string, spec: RsuFieldSpec, v: RsuFieldValue): Buffer {
  const where = `${type}.${spec.name}`
  const num = (max: number): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new RsuEncodeError(`${where}: ${String(v)} is not an integer 0..${max}`)
    return v
  }
  const hexOf = (s: RsuFieldValue, len: number | undefined, digitsOnly: boolean): Buffer => {
    const re = digitsOnly ? /^(\d\d)*$/ : /^([0-9A-Fa-f]{2})*$/
    if (typeof s !== 'string' || !re.test(s)) throw new RsuEncodeError(`${where}: ${String(s)} is not ${digitsOnly ? 'BCD digits' : 'hex'}`)
    const b = Buffer.from(s, 'hex')
    if (len !== undefined && b.length !== len) throw new RsuEncodeError(`${where}: ${b.length} bytes, needs ${len}`)
    return b
  }
  switch (spec.type) {
    case 'u8':
      return Buffer.from([num(0xff)])
    case 'u16': {
      const b = Buffer.alloc(2)
      b.writeUInt16BE(num(0xffff))
      return b
    }
    case 'u32': {
      const b = Buffer.alloc(4)
      b.writeUInt32BE(num(0xffffffff))
      return b
    }
    case 'hex':
      return hexOf(v, spec.length, false)
    case 'bcd':
      return hexOf(v, spec.length, true)
    case 'rest':
      return hexOf(v, undefined, false)
    case 'gbk': {
      if (typeof v !== 'string' || v.includes('\u0000')) throw new RsuEncodeError(`${where}: not text`)
      const enc = encodeGbk(v)
      const len = spec.length ?? 0
      if (enc.length > len) throw new RsuEncodeError(`${where}: ${enc.length} GBK bytes, room for ${len}`)
      const out = Buffer.alloc(len)
      enc.copy(out)
      return out
    }
  }
}

/** Text -> GBK bytes (iconv-lite); refuses characters GBK cannot hold instead of writing `?`. */
export function encodeGbk(text: string): Buffer {
  const b = iconv.encode(text, 'gbk')
  if (decodeGbk(b) !== text) throw new RsuEncodeError(`not representable in GBK: ${text}`)
  return b
}

/** GBK bytes -> text (the WHATWG decoder in Node's ICU); undefined when the bytes are not GBK. */
export function decodeGbk(bytes: Uint8Array): string | undefined {
  try {
    return gbkDecoder.decode(bytes)
  } catch {
    return undefined
  }
}

/** A whole frame on the wire. */
export function encodeRsu(frame: RsuFrame, profile: RsuProfile = CLASSIC_PROFILE): Buffer {
  return frameRsu(frame.rsctl, encodeRsuData(frame, profile))
}

/** One complete frame on the wire -> decoded frame. Never throws. */
export function decodeRsu(bytes: Uint8Array, profile: RsuProfile = CLASSIC_PROFILE): DecodeResult<RsuFrame> {
  const r = unframeRsu(bytes)
  return r.ok ? decodeRsuFrame(r.value, profile) : r
}

/** A hex line (as `smartcity decode etc-rsu` reads it) -> decoded frame. */
export function decodeRsuHex(line: string, profile: RsuProfile = CLASSIC_PROFILE): DecodeResult<RsuFrame> {
  const b = parseHex(line)
  if (!b) return fail('bad_hex', 'the line is not an even number of hex digits')
  return decodeRsu(b, profile)
}

// ---------------------------------------------------------------------------------------------------------
// Meaning of the frames

/** RSCTL of the lane controller's answer to an RSU frame: nibbles swapped (X8 -> 8X). */
export function answerRsctl(rsuRsctl: number): number {
  return ((rsuRsctl & 0x0f) << 4) | (rsuRsctl >> 4)
}

/** RSU frame sequence: X8 with X = 0..7 cycling (9 at power-on). */
export function rsuRsctl(seq: number): number {
  return ((seq & 0x07) << 4) | 0x08
}

export const HEARTBEAT_ERROR_CODE = 0x80
export const NO_OBU = '00000000'

/** B2 in its heartbeat form: ErrorCode 80 and OBUID 00000000 (sent when no OBU is present; never answered). */
export function isHeartbeat(frame: RsuFrame): boolean {
  return frame.type === 'B2' && frame.fields['errorCode'] === HEARTBEAT_ERROR_CODE && frame.fields['obuId'] === NO_OBU
}

/** OBU status byte 0 (the high byte of `obuStatus`), classic document. */
export const OBU_STATUS_BITS = {
  cardAbsent: 0x80,
  contactless: 0x20,
  logicCard: 0x10,
  cardError: 0x08,
  obuLocked: 0x04,
  obuTampered: 0x02,
  batteryLow: 0x01,
} as const

export type ObuStatusFlags = { -readonly [K in keyof typeof OBU_STATUS_BITS]: boolean }

export function obuStatusFlags(obuStatus: number): ObuStatusFlags {
  const b0 = (obuStatus >> 8) & 0xff
  const out = {} as ObuStatusFlags
  for (const [k, bit] of Object.entries(OBU_STATUS_BITS) as [keyof typeof OBU_STATUS_BITS, number][]) out[k] = (b0 & bit) !== 0
  return out
}

/**
 * RSU status (B0 `rsuStatus`): the document says 00 = normal. This project reads bit 0 as a PSAM fault and
 * bit 1 as an antenna (RF) fault; other bits are kept in `rsu_status` as sent.
 */
export const RSU_STATUS_BITS = { psamFault: 0x01, antennaFault: 0x02 } as const

/** The card id of the 0015 issuer file: card network number (bytes 10..11) and internal number (12..19). */
export function cardIdFromIssuerFile(issuerFileHex: string): string | undefined {
  if (issuerFileHex.length < 40) return undefined
  return issuerFileHex.slice(20, 40).toUpperCase()
}

/** A 7-byte BCD time `YYYYMMDDhhmmss` (Beijing time) -> epoch ms, or undefined when not a valid date. */
export function bcdTimeToMs(digits: string): number | undefined {
  const m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)$/.exec(digits)
  if (!m) return undefined
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number]
  const t = beijingToUtcMs(y, mo, d, h, mi, s)
  const back = utcMsToBeijing(t)
  if (back.mo !== mo || back.d !== d || h > 23 || mi > 59 || s > 59) return undefined
  return t
}

/** Epoch ms -> `YYYYMMDDhhmmss` Beijing time (for C0 and C6). */
export function msToBcdTime(t: number): string {
  const b = utcMsToBeijing(t)
  const p = (n: number, w = 2) => String(n).padStart(w, '0')
  return `${p(b.y, 4)}${p(b.mo)}${p(b.d)}${p(b.h)}${p(b.mi)}${p(b.s)}`
}
