/**
 * JT/T 808-2013 and JT/T 808-2019 (道路运输车辆卫星定位系统终端通讯协议): message ids, the message types, the
 * 7D escaping and one frame -> header + body bytes (`decodePacket`). Pure.
 *
 * Wire: `7E | header | body | check | 7E`, with 0x7E -> 7D 02 and 0x7D -> 7D 01 between the flags; the check
 * is the XOR of header and body (before escaping). See docs/protocols.md section 3 and README.md.
 */
import { bcdToString, isBcd } from '../../common/bcd.ts'
import { xor8 } from '../../common/checksum.ts'
import { type DecodeResult, fail, ok } from '../../common/result.ts'

export const JT808_MSG = {
  terminalResponse: 0x0001,
  heartbeat: 0x0002,
  register: 0x0100,
  auth: 0x0102,
  location: 0x0200,
  locationBatch: 0x0704,
  platformResponse: 0x8001,
  registerResponse: 0x8100,
} as const

/** General response result codes (0x0001 / 0x8001). */
export const JT808_RESULT = { ok: 0, fail: 1, badMessage: 2, unsupported: 3, alarmConfirmed: 4 } as const
/** 0x8100 register results: 0 ok, 1 vehicle already registered, 2 no such vehicle, 3 terminal already registered, 4 no such terminal. */
export const JT808_REGISTER_RESULT = { ok: 0, vehicleTaken: 1, noVehicle: 2, terminalTaken: 3, noTerminal: 4 } as const

export interface Jt808Header {
  msgId: number
  /** 2013 header, or 2019 (attribute bit 14 set, protocol-version byte, 20-digit phone). */
  version: 2013 | 2019
  /** The 2019 protocol-version byte (1 for JT/T 808-2019); 0 for 2013 headers. */
  protocolVersion: number
  /** Terminal phone number: all BCD digits as sent (12 for 2013, 20 for 2019). */
  phone: string
  serial: number
  /** Attribute bits 10-12 (bit 10 = RSA). */
  encryption: number
  subpackage?: { total: number; index: number }
}

export type LocationItem = { id: number; value: number } | { id: number; hex: string }

export interface Jt808Location {
  alarm: number
  status: number
  /** Latitude and longitude as sent: unsigned, 1e-6 degree; the hemisphere is in status bits 2 and 3. */
  latE6: number
  lonE6: number
  altitudeM: number
  /** 0.1 km/h. */
  speed01: number
  courseDeg: number
  /** Epoch ms UTC from the BCD GMT+8 time, or null when the terminal sent no valid time (all zeros). */
  time: number | null
  items: LocationItem[]
}

export type Jt808Body =
  | { type: 'terminal_response'; ackSerial: number; ackMsgId: number; result: number }
  | { type: 'platform_response'; ackSerial: number; ackMsgId: number; result: number }
  | { type: 'heartbeat' }
  | {
      type: 'register'
      province: number
      city: number
      makerId: string
      model: string
      terminalId: string
      plateColor: number
      plate: string
      /** JT/T 808-2011 layout (model BYTE[8]): a 2013 header whose body is too short for the 2013 fields. */
      layout2011?: true
    }
  | { type: 'register_response'; ackSerial: number; result: number; authCode?: string }
  | { type: 'auth'; authCode: string; imei?: string; softwareVersion?: string }
  | ({ type: 'location' } & Jt808Location)
  | { type: 'location_batch'; batchType: number; locations: Jt808Location[] }
  /** One subpackage of a split message: the body part, joined by the reassembler. */
  | { type: 'fragment'; hex: string }
  | { type: 'unknown'; hex: string }

export interface Jt808Message {
  header: Jt808Header
  body: Jt808Body
}

const BODY_TYPE_BY_ID: Record<number, Jt808Body['type']> = {
  [JT808_MSG.terminalResponse]: 'terminal_response',
  [JT808_MSG.heartbeat]: 'heartbeat',
  [JT808_MSG.register]: 'register',
  [JT808_MSG.auth]: 'auth',
  [JT808_MSG.location]: 'location',
  [JT808_MSG.locationBatch]: 'location_batch',
  [JT808_MSG.platformResponse]: 'platform_response',
  [JT808_MSG.registerResponse]: 'register_response',
}

/** The message id a typed body must travel under (undefined for fragment/unknown bodies). */
export function msgIdOf(body: Jt808Body): number | undefined {
  for (const [id, t] of Object.entries(BODY_TYPE_BY_ID)) if (t === body.type) return Number(id)
  return undefined
}

// ---------------------------------------------------------------- escaping

/** Undo 7D 01 / 7D 02 escaping. Returns undefined on 7D followed by anything else. */
export function unescape808(buf: Uint8Array): Buffer | undefined {
  const out = Buffer.allocUnsafe(buf.length)
  let n = 0
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i]!
    if (b === 0x7d) {
      const next = buf[i + 1]
      if (next === 0x01) out[n++] = 0x7d
      else if (next === 0x02) out[n++] = 0x7e
      else return undefined
      i++
    } else if (b === 0x7e) {
      return undefined
    } else {
      out[n++] = b
    }
  }
  return out.subarray(0, n)
}

export function escape808(buf: Uint8Array): Buffer {
  let extra = 0
  for (const b of buf) if (b === 0x7d || b === 0x7e) extra++
  const out = Buffer.allocUnsafe(buf.length + extra)
  let n = 0
  for (const b of buf) {
    if (b === 0x7e) {
      out[n++] = 0x7d
      out[n++] = 0x02
    } else if (b === 0x7d) {
      out[n++] = 0x7d
      out[n++] = 0x01
    } else out[n++] = b
  }
  return out
}

// ---------------------------------------------------------------- packet (header + body bytes)

export interface Jt808Packet {
  header: Jt808Header
  body: Buffer
}

/**
 * One frame -> header and body bytes. Accepts the content between the flags or the whole frame with its
 * flags. Reasons: `bad_escape`, `too_short`, `bad_check`, `bad_length`, `bad_phone`.
 */
export function decodePacket(frame: Uint8Array): DecodeResult<Jt808Packet> {
  let content = frame
  if (content.length >= 2 && content[0] === 0x7e && content[content.length - 1] === 0x7e) content = content.subarray(1, content.length - 1)
  const buf = unescape808(content)
  if (!buf) return fail('bad_escape', '7D not followed by 01 or 02, or a 7E inside the frame')
  if (buf.length < 13) return fail('too_short', `${buf.length} bytes`)
  const check = buf[buf.length - 1]!
  const calc = xor8(buf, 0, buf.length - 1)
  if (check !== calc) return fail('bad_check', `check code ${hex2(check)}, computed ${hex2(calc)}`)
  const msgId = buf.readUInt16BE(0)
  const attr = buf.readUInt16BE(2)
  const bodyLen = attr & 0x3ff
  const encryption = (attr >> 10) & 0x7
  const split = (attr & 0x2000) !== 0
  const v2019 = (attr & 0x4000) !== 0
  let off = 4
  let protocolVersion = 0
  let phoneBytes = 6
  if (v2019) {
    protocolVersion = buf[off++]!
    phoneBytes = 10
  }
  const headerLen = off + phoneBytes + 2 + (split ? 4 : 0)
  if (buf.length - 1 < headerLen) return fail('too_short', `header needs ${headerLen} bytes`)
  if (!isBcd(buf, off, off + phoneBytes)) return fail('bad_phone', 'terminal phone number is not BCD')
  const phone = bcdToString(buf, off, off + phoneBytes)
  off += phoneBytes
  const serial = buf.readUInt16BE(off)
  off += 2
  const header: Jt808Header = { msgId, version: v2019 ? 2019 : 2013, protocolVersion, phone, serial, encryption }
  if (split) {
    const total = buf.readUInt16BE(off)
    const index = buf.readUInt16BE(off + 2)
    off += 4
    if (total < 1 || index < 1 || index > total) return fail('bad_subpackage', `packet ${index} of ${total}`)
    header.subpackage = { total, index }
  }
  const body = buf.subarray(off, buf.length - 1)
  if (body.length !== bodyLen) return fail('bad_length', `body attribute says ${bodyLen} bytes, frame has ${body.length}`)
  return ok({ header, body: Buffer.from(body) })
}

export function hex2(n: number): string {
  return n.toString(16).toUpperCase().padStart(2, '0')
}
