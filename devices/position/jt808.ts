/**
 * JT/T 808-2013 and JT/T 808-2019 (道路运输车辆卫星定位系统终端通讯协议): pure codec. No I/O, clock or logging.
 *
 * Wire: `7E | header | body | check | 7E`, with 0x7E -> 7D 02 and 0x7D -> 7D 01 between the flags; the check
 * is the XOR of header and body (before escaping). See docs/protocols.md section 3 and README.md.
 *
 * Layers, each usable alone:
 * - `createJt808Framer`: byte stream -> escaped frames between 7E flags (split/concatenated reads, garbage).
 * - `decodePacket`: one frame -> header + raw body (unescape, check code, header, subpackage fields).
 * - `decodeBody`: header + body bytes -> a typed body; `createJt808Reassembler` joins subpackages first.
 * - `decodeJt808` = both; `encodeJt808` is its exact inverse (simulators use it).
 * - `locationPoints` / `alarmPoints`: a location body -> canonical `position` and `alarm` points
 *   (`alarmChanges`: the alarm bits that changed between two alarm words).
 */
import iconv from 'iconv-lite'
import { bcdToString, byteToBcd, isBcd, stringToBcd } from '../common/bcd.ts'
import { xor8 } from '../common/checksum.ts'
import { evictOldest, expireOlder } from '../common/parts.ts'
import type { Point } from '../common/point.ts'
import { type DecodeResult, type FrameEvent, type Framer, fail, ok } from '../common/result.ts'
import { beijingToUtcMs, utcMsToBeijing } from '../common/time.ts'

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

// ---------------------------------------------------------------- framer

export interface Jt808FramerOptions {
  /** Escaped bytes between the flags above which a frame is refused as `frame_too_long`. */
  maxFrameBytes?: number
}

/**
 * Bytes -> frames. A frame event's `frame` is the escaped content between two 7E flags and `raw` includes
 * the flags. Bytes outside flags come back as one `garbage` event per run. `7E 7E` between frames is the end
 * flag of one and the start flag of the next.
 */
export function createJt808Framer(opts: Jt808FramerOptions = {}): Framer<Buffer> {
  const max = opts.maxFrameBytes ?? 2048
  let inFrame = false
  let skipping = false
  let parts: Buffer[] = []
  let size = 0
  const reset = () => {
    inFrame = false
    skipping = false
    parts = []
    size = 0
  }
  return {
    reset,
    push(chunk: Buffer): FrameEvent<Buffer>[] {
      const events: FrameEvent<Buffer>[] = []
      let i = 0
      while (i < chunk.length) {
        if (!inFrame) {
          const start = chunk.indexOf(0x7e, i)
          if (start < 0) {
            events.push({ ok: false, reason: 'garbage', raw: Buffer.from(chunk.subarray(i)) })
            break
          }
          if (start > i) events.push({ ok: false, reason: 'garbage', raw: Buffer.from(chunk.subarray(i, start)) })
          inFrame = true
          skipping = false
          parts = []
          size = 0
          i = start + 1
          continue
        }
        const end = chunk.indexOf(0x7e, i)
        const stop = end < 0 ? chunk.length : end
        if (!skipping) {
          const piece = chunk.subarray(i, stop)
          size += piece.length
          if (size > max) {
            skipping = true
            const head = Buffer.concat([Buffer.from([0x7e]), ...parts, piece]).subarray(0, 64)
            events.push({ ok: false, reason: 'frame_too_long', raw: Buffer.from(head), detail: `more than ${max} bytes between flags` })
            parts = []
          } else if (piece.length > 0) parts.push(Buffer.from(piece))
        }
        if (end < 0) break
        i = end + 1
        if (skipping) {
          // The flag that ends an oversized frame: start looking for a fresh one.
          inFrame = false
          skipping = false
          parts = []
          size = 0
          continue
        }
        if (size === 0) continue // 7E 7E: this flag starts the next frame
        const frame = Buffer.concat(parts, size)
        events.push({ ok: true, frame, raw: Buffer.concat([Buffer.from([0x7e]), frame, Buffer.from([0x7e])]) })
        inFrame = false
        parts = []
        size = 0
      }
      return events
    },
  }
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

function hex2(n: number): string {
  return n.toString(16).toUpperCase().padStart(2, '0')
}

// ---------------------------------------------------------------- text

const gbkDecoder = new TextDecoder('gbk')

/** GBK bytes -> string, NUL padding on the right removed. */
function gbk(buf: Uint8Array): string {
  let end = buf.length
  while (end > 0 && buf[end - 1] === 0) end--
  return gbkDecoder.decode(buf.subarray(0, end))
}

function gbkBytes(s: string): Buffer {
  return iconv.encode(s, 'gbk')
}

/** A string in a fixed-size field, NUL-padded on the right. Throws when it does not fit (encode side). */
function fixed(s: string, size: number, what: string): Buffer {
  const b = gbkBytes(s)
  if (b.length > size) throw new RangeError(`${what} "${s}" is longer than ${size} bytes`)
  const out = Buffer.alloc(size)
  b.copy(out)
  return out
}

// ---------------------------------------------------------------- bodies

/** Additional-item ids whose value is an unsigned big-endian integer of the given size. */
const NUMERIC_ITEMS = new Map<number, 1 | 2 | 4>([
  [0x01, 4], // mileage, 0.1 km
  [0x02, 2], // fuel, 0.1 L
  [0x03, 2], // tachograph speed, 0.1 km/h
  [0x04, 2], // manual-alarm event id
  [0x25, 4], // extended vehicle signals
  [0x2a, 2], // IO status
  [0x2b, 4], // analog
  [0x30, 1], // network signal strength
  [0x31, 1], // GNSS satellites
])

function readUInt(buf: Buffer, off: number, size: 1 | 2 | 4): number {
  return size === 1 ? buf[off]! : size === 2 ? buf.readUInt16BE(off) : buf.readUInt32BE(off)
}

function decodeBcdTime(buf: Buffer, off: number): number | null | undefined {
  let zero = true
  for (let i = 0; i < 6; i++) if (buf[off + i] !== 0) zero = false
  if (zero) return null
  if (!isBcd(buf, off, off + 6)) return undefined
  const d = bcdToString(buf, off, off + 6)
  const [yy, mo, dd, hh, mi, ss] = [0, 2, 4, 6, 8, 10].map((i) => Number(d.slice(i, i + 2))) as [number, number, number, number, number, number]
  if (mo < 1 || mo > 12 || dd < 1 || dd > 31 || hh > 23 || mi > 59 || ss > 59) return undefined
  const t = beijingToUtcMs(2000 + yy, mo, dd, hh, mi, ss)
  // Reject impossible dates (31 February) that Date.UTC would silently roll over.
  const back = utcMsToBeijing(t)
  if (back.d !== dd || back.mo !== mo) return undefined
  return t
}

function encodeBcdTime(t: number | null): Buffer {
  if (t === null) return Buffer.alloc(6)
  const b = utcMsToBeijing(t)
  if (b.y < 2000 || b.y > 2099) throw new RangeError(`time ${t} outside 2000..2099`)
  return Buffer.from([b.y - 2000, b.mo, b.d, b.h, b.mi, b.s].map(byteToBcd))
}

function decodeLocation(buf: Buffer): DecodeResult<Jt808Location> {
  if (buf.length < 28) return fail('bad_body', `location body ${buf.length} bytes, needs 28`)
  const time = decodeBcdTime(buf, 22)
  if (time === undefined) return fail('bad_time', `time ${buf.subarray(22, 28).toString('hex')}`)
  const items: LocationItem[] = []
  let off = 28
  while (off < buf.length) {
    if (off + 2 > buf.length) return fail('bad_body', 'truncated additional item')
    const id = buf[off]!
    const len = buf[off + 1]!
    if (off + 2 + len > buf.length) return fail('bad_body', `additional item 0x${hex2(id)} runs past the body`)
    const size = NUMERIC_ITEMS.get(id)
    if (size !== undefined && size === len) items.push({ id, value: readUInt(buf, off + 2, size) })
    else items.push({ id, hex: buf.subarray(off + 2, off + 2 + len).toString('hex') })
    off += 2 + len
  }
  return ok({
    alarm: buf.readUInt32BE(0),
    status: buf.readUInt32BE(4),
    latE6: buf.readUInt32BE(8),
    lonE6: buf.readUInt32BE(12),
    altitudeM: buf.readUInt16BE(16),
    speed01: buf.readUInt16BE(18),
    courseDeg: buf.readUInt16BE(20),
    time,
    items,
  })
}

function encodeLocation(l: Jt808Location): Buffer {
  const head = Buffer.alloc(22)
  head.writeUInt32BE(l.alarm >>> 0, 0)
  head.writeUInt32BE(l.status >>> 0, 4)
  head.writeUInt32BE(l.latE6, 8)
  head.writeUInt32BE(l.lonE6, 12)
  head.writeUInt16BE(l.altitudeM, 16)
  head.writeUInt16BE(l.speed01, 18)
  head.writeUInt16BE(l.courseDeg, 20)
  const parts = [head, encodeBcdTime(l.time)]
  for (const it of l.items) {
    let v: Buffer
    if ('value' in it) {
      const size = NUMERIC_ITEMS.get(it.id)
      if (size === undefined) throw new RangeError(`item 0x${hex2(it.id)} has no numeric form`)
      v = Buffer.alloc(size)
      if (size === 1) v[0] = it.value
      else if (size === 2) v.writeUInt16BE(it.value)
      else v.writeUInt32BE(it.value)
    } else v = Buffer.from(it.hex, 'hex')
    if (v.length > 255) throw new RangeError('additional item longer than 255 bytes')
    parts.push(Buffer.from([it.id, v.length]), v)
  }
  return Buffer.concat(parts)
}

/** Header + body bytes (a whole message, subpackages already joined) -> typed body. Never throws. */
export function decodeBody(header: Jt808Header, body: Buffer): DecodeResult<Jt808Body> {
  try {
    return decodeBodyUnsafe(header, body)
  } catch (err) {
    // Buffer reads past the end throw RangeError; every such case is a malformed body.
    return fail('bad_body', (err as Error).message)
  }
}

function decodeBodyUnsafe(header: Jt808Header, b: Buffer): DecodeResult<Jt808Body> {
  if (header.encryption !== 0) return fail('encrypted', `encryption bits ${header.encryption}`)
  const v19 = header.version === 2019
  switch (header.msgId) {
    case JT808_MSG.terminalResponse:
    case JT808_MSG.platformResponse: {
      if (b.length !== 5) return fail('bad_body', `general response body ${b.length} bytes, needs 5`)
      const type = header.msgId === JT808_MSG.terminalResponse ? 'terminal_response' : 'platform_response'
      return ok({ type, ackSerial: b.readUInt16BE(0), ackMsgId: b.readUInt16BE(2), result: b[4]! })
    }
    case JT808_MSG.heartbeat:
      return ok({ type: 'heartbeat' })
    case JT808_MSG.register: {
      // 2011 terminals still send model BYTE[8]; their bodies are shorter than the 2013 fixed part (37 bytes).
      const v11 = !v19 && b.length < 37
      const [maker, model, term] = v19 ? [11, 30, 30] : v11 ? [5, 8, 7] : [5, 20, 7]
      const fixedLen = 4 + maker + model + term + 1
      if (b.length < fixedLen) return fail('bad_body', `register body ${b.length} bytes, needs at least ${fixedLen}`)
      const o1 = 4 + maker
      const o2 = o1 + model
      const o3 = o2 + term
      const makerId = gbk(b.subarray(4, o1))
      const mdl = gbk(b.subarray(o1, o2))
      const terminalId = gbk(b.subarray(o2, o3))
      const plateColor = b[o3]!
      const plate = gbk(b.subarray(o3 + 1))
      const r: Jt808Body = { type: 'register', province: b.readUInt16BE(0), city: b.readUInt16BE(2), makerId, model: mdl, terminalId, plateColor, plate }
      if (v11) r.layout2011 = true
      return ok(r)
    }
    case JT808_MSG.registerResponse: {
      if (b.length < 3) return fail('bad_body', `register response body ${b.length} bytes`)
      const result = b[2]!
      const r: Jt808Body = { type: 'register_response', ackSerial: b.readUInt16BE(0), result }
      if (b.length > 3) r.authCode = gbk(b.subarray(3))
      return ok(r)
    }
    case JT808_MSG.auth: {
      if (!v19) return ok({ type: 'auth', authCode: gbk(b) })
      if (b.length < 1) return fail('bad_body', 'empty authentication body')
      const n = b[0]!
      if (b.length !== 1 + n + 15 + 20) return fail('bad_body', `2019 authentication body ${b.length} bytes, code length ${n}`)
      return ok({
        type: 'auth',
        authCode: gbk(b.subarray(1, 1 + n)),
        imei: gbk(b.subarray(1 + n, 16 + n)),
        softwareVersion: gbk(b.subarray(16 + n, 36 + n)),
      })
    }
    case JT808_MSG.location: {
      const l = decodeLocation(b)
      return l.ok ? ok({ type: 'location', ...l.value }) : l
    }
    case JT808_MSG.locationBatch: {
      if (b.length < 3) return fail('bad_body', 'batch body too short')
      const count = b.readUInt16BE(0)
      const batchType = b[2]!
      const locations: Jt808Location[] = []
      let off = 3
      for (let i = 0; i < count; i++) {
        if (off + 2 > b.length) return fail('bad_body', `batch says ${count} locations, found ${i}`)
        const len = b.readUInt16BE(off)
        off += 2
        if (off + len > b.length) return fail('bad_body', `batch location ${i} runs past the body`)
        const l = decodeLocation(b.subarray(off, off + len))
        if (!l.ok) return fail(l.reason, `batch location ${i}: ${l.detail ?? ''}`)
        locations.push(l.value)
        off += len
      }
      if (off !== b.length) return fail('bad_body', `${b.length - off} bytes after the last batch location`)
      return ok({ type: 'location_batch', batchType, locations })
    }
    default:
      return ok({ type: 'unknown', hex: b.toString('hex') })
  }
}

/** A whole frame -> message. A subpackage's body is a `fragment` (join with `createJt808Reassembler`). */
export function decodeJt808(frame: Uint8Array): DecodeResult<Jt808Message> {
  const p = decodePacket(frame)
  if (!p.ok) return p
  if (p.value.header.subpackage) return ok({ header: p.value.header, body: { type: 'fragment', hex: p.value.body.toString('hex') } })
  const body = decodeBody(p.value.header, p.value.body)
  return body.ok ? ok({ header: p.value.header, body: body.value }) : body
}

export function encodeBody(header: Jt808Header, body: Jt808Body): Buffer {
  const v19 = header.version === 2019
  switch (body.type) {
    case 'terminal_response':
    case 'platform_response': {
      const b = Buffer.alloc(5)
      b.writeUInt16BE(body.ackSerial, 0)
      b.writeUInt16BE(body.ackMsgId, 2)
      b[4] = body.result
      return b
    }
    case 'heartbeat':
      return Buffer.alloc(0)
    case 'register': {
      const [maker, model, term] = v19 ? [11, 30, 30] : body.layout2011 ? [5, 8, 7] : [5, 20, 7]
      const head = Buffer.alloc(4)
      head.writeUInt16BE(body.province, 0)
      head.writeUInt16BE(body.city, 2)
      return Buffer.concat([
        head,
        fixed(body.makerId, maker, 'maker id'),
        fixed(body.model, model, 'model'),
        fixed(body.terminalId, term, 'terminal id'),
        Buffer.from([body.plateColor]),
        gbkBytes(body.plate),
      ])
    }
    case 'register_response': {
      const head = Buffer.alloc(3)
      head.writeUInt16BE(body.ackSerial, 0)
      head[2] = body.result
      return body.authCode === undefined ? head : Buffer.concat([head, gbkBytes(body.authCode)])
    }
    case 'auth': {
      if (!v19) return gbkBytes(body.authCode)
      const code = gbkBytes(body.authCode)
      if (code.length > 255) throw new RangeError('auth code longer than 255 bytes')
      return Buffer.concat([Buffer.from([code.length]), code, fixed(body.imei ?? '', 15, 'IMEI'), fixed(body.softwareVersion ?? '', 20, 'software version')])
    }
    case 'location': {
      const { type: _t, ...l } = body
      return encodeLocation(l)
    }
    case 'location_batch': {
      const head = Buffer.alloc(3)
      head.writeUInt16BE(body.locations.length, 0)
      head[2] = body.batchType
      const parts: Buffer[] = [head]
      for (const l of body.locations) {
        const e = encodeLocation(l)
        const len = Buffer.alloc(2)
        len.writeUInt16BE(e.length)
        parts.push(len, e)
      }
      return Buffer.concat(parts)
    }
    case 'fragment':
    case 'unknown':
      return Buffer.from(body.hex, 'hex')
  }
}

/** Header + raw body -> a whole escaped frame with flags. Throws RangeError on values that do not fit. */
export function encodePacket(header: Jt808Header, body: Uint8Array): Buffer {
  if (body.length > 0x3ff) throw new RangeError(`body of ${body.length} bytes exceeds 1023: split it into subpackages`)
  const v19 = header.version === 2019
  const attr = body.length | ((header.encryption & 7) << 10) | (header.subpackage ? 0x2000 : 0) | (v19 ? 0x4000 : 0)
  const head = Buffer.alloc(4)
  head.writeUInt16BE(header.msgId, 0)
  head.writeUInt16BE(attr, 2)
  const serial = Buffer.alloc(2)
  serial.writeUInt16BE(header.serial)
  const parts: Buffer[] = [head]
  if (v19) parts.push(Buffer.from([header.protocolVersion]))
  parts.push(stringToBcd(header.phone, v19 ? 10 : 6), serial)
  if (header.subpackage) {
    const sp = Buffer.alloc(4)
    sp.writeUInt16BE(header.subpackage.total, 0)
    sp.writeUInt16BE(header.subpackage.index, 2)
    parts.push(sp)
  }
  parts.push(Buffer.from(body))
  const plain = Buffer.concat(parts)
  const withCheck = Buffer.concat([plain, Buffer.from([xor8(plain)])])
  return Buffer.concat([Buffer.from([0x7e]), escape808(withCheck), Buffer.from([0x7e])])
}

/** Message -> frame bytes: the exact inverse of `decodeJt808`. */
export function encodeJt808(msg: Jt808Message): Buffer {
  return encodePacket(msg.header, encodeBody(msg.header, msg.body))
}

/** Split a body into subpackage frames of at most `maxBody` bytes each, serials counting up from the header's. */
export function encodeSubpackages(header: Jt808Header, body: Uint8Array, maxBody = 1023): Buffer[] {
  const total = Math.max(1, Math.ceil(body.length / maxBody))
  const frames: Buffer[] = []
  for (let i = 0; i < total; i++) {
    const h: Jt808Header = { ...header, serial: (header.serial + i) & 0xffff, subpackage: { total, index: i + 1 } }
    frames.push(encodePacket(h, body.subarray(i * maxBody, (i + 1) * maxBody)))
  }
  return frames
}

// ---------------------------------------------------------------- subpackage reassembly

export interface Jt808Reassembler {
  /**
   * Offer a packet. Whole packets come straight back; a subpackage is kept until all its parts arrived,
   * then the joined body comes back under the first part's header (without `subpackage`). `now` drives expiry.
   */
  add(p: Jt808Packet, now: number): { done: true; packet: Jt808Packet } | { done: false }
  /** Drop partial messages older than `maxAgeMs`; returns how many were dropped (count them as rejects). */
  expire(now: number): number
  pending(): number
}

export function createJt808Reassembler(opts: { maxAgeMs?: number; maxPending?: number; maxBytes?: number } = {}): Jt808Reassembler {
  const maxAge = opts.maxAgeMs ?? 60_000
  const maxPending = opts.maxPending ?? 64
  const maxBytes = opts.maxBytes ?? 256 * 1024
  const parts = new Map<string, { first: number; header: Jt808Header; total: number; got: Map<number, Buffer>; bytes: number }>()
  return {
    add(p, now) {
      const sp = p.header.subpackage
      if (!sp) return { done: true, packet: p }
      // Parts of one message carry consecutive serials, so serial - index is the same for all of them.
      const base = (p.header.serial - sp.index + 1 + 0x10000) & 0xffff
      const key = `${p.header.phone}:${p.header.msgId}:${sp.total}:${base}`
      let e = parts.get(key)
      if (!e) {
        evictOldest(parts, maxPending)
        e = { first: now, header: { ...p.header, serial: base }, total: sp.total, got: new Map(), bytes: 0 }
        parts.set(key, e)
      }
      if (!e.got.has(sp.index)) {
        e.got.set(sp.index, p.body)
        e.bytes += p.body.length
      }
      if (e.bytes > maxBytes) {
        parts.delete(key)
        return { done: false }
      }
      if (e.got.size < e.total) return { done: false }
      parts.delete(key)
      const bodies: Buffer[] = []
      for (let i = 1; i <= e.total; i++) bodies.push(e.got.get(i)!)
      const { subpackage: _s, ...header } = e.header
      return { done: true, packet: { header, body: Buffer.concat(bodies) } }
    },
    expire: (now) => expireOlder(parts, now, maxAge),
    pending: () => parts.size,
  }
}

// ---------------------------------------------------------------- to points

/** Status bits (protocols.md section 3). */
export const JT808_STATUS = {
  acc: 1 << 0,
  positioned: 1 << 1,
  south: 1 << 2,
  west: 1 << 3,
  gps: 1 << 18,
  bds: 1 << 19,
  glonass: 1 << 20,
  galileo: 1 << 21,
} as const

/** Alarm bits 0..31: rule name and severity (protocols.md section 3). Reserved bits are absent. */
export const JT808_ALARMS: Readonly<Record<number, { rule: string; severity: 'info' | 'warning' | 'critical' }>> = {
  0: { rule: 'emergency', severity: 'critical' },
  1: { rule: 'overspeed', severity: 'warning' },
  2: { rule: 'fatigue_driving', severity: 'warning' },
  3: { rule: 'danger_warning', severity: 'warning' },
  4: { rule: 'gnss_module_fault', severity: 'warning' },
  5: { rule: 'gnss_antenna_cut', severity: 'warning' },
  6: { rule: 'gnss_antenna_short', severity: 'warning' },
  7: { rule: 'power_undervoltage', severity: 'warning' },
  8: { rule: 'power_off', severity: 'critical' },
  9: { rule: 'display_fault', severity: 'info' },
  10: { rule: 'tts_fault', severity: 'info' },
  11: { rule: 'camera_fault', severity: 'info' },
  12: { rule: 'ic_card_fault', severity: 'info' },
  13: { rule: 'overspeed_warning', severity: 'info' },
  14: { rule: 'fatigue_warning', severity: 'info' },
  18: { rule: 'daily_driving_overtime', severity: 'warning' },
  19: { rule: 'overtime_parking', severity: 'warning' },
  20: { rule: 'area_in_out', severity: 'info' },
  21: { rule: 'route_in_out', severity: 'info' },
  22: { rule: 'road_section_time', severity: 'warning' },
  23: { rule: 'route_deviation', severity: 'warning' },
  24: { rule: 'vss_fault', severity: 'warning' },
  25: { rule: 'fuel_abnormal', severity: 'warning' },
  26: { rule: 'vehicle_stolen', severity: 'critical' },
  27: { rule: 'illegal_ignition', severity: 'critical' },
  28: { rule: 'illegal_displacement', severity: 'critical' },
  29: { rule: 'collision_warning', severity: 'critical' },
  30: { rule: 'rollover_warning', severity: 'critical' },
  31: { rule: 'illegal_door_open', severity: 'warning' },
}

/** The `system` tag from status bits 18-21: one system by name, several `GNSS`, none `GNSS`. */
export function gnssSystem(status: number): 'BDS' | 'GPS' | 'GLONASS' | 'GALILEO' | 'GNSS' {
  const used = [
    [JT808_STATUS.bds, 'BDS'],
    [JT808_STATUS.gps, 'GPS'],
    [JT808_STATUS.glonass, 'GLONASS'],
    [JT808_STATUS.galileo, 'GALILEO'],
  ].filter(([bit]) => (status & (bit as number)) !== 0)
  return used.length === 1 ? (used[0]![1] as 'BDS' | 'GPS' | 'GLONASS' | 'GALILEO') : 'GNSS'
}

function itemValue(l: Jt808Location, id: number): number | undefined {
  for (const it of l.items) if (it.id === id && 'value' in it) return it.value
  return undefined
}

/**
 * A location -> one `position` point. Without the positioned bit (status bit 1) the point carries
 * `fix_quality: 0` and no coordinates. Refuses (`out_of_range`) latitudes above 90 or longitudes above 180.
 */
export function locationPoint(l: Jt808Location, receivedAt: number): DecodeResult<Point> {
  const fields: Point['fields'] = {}
  const fixed = (l.status & JT808_STATUS.positioned) !== 0
  if (fixed) {
    if (l.latE6 > 90_000_000 || l.lonE6 > 180_000_000) return fail('out_of_range', `lat ${l.latE6 / 1e6}, lon ${l.lonE6 / 1e6}`)
    fields['lat'] = ((l.status & JT808_STATUS.south) !== 0 ? -1 : 1) * (l.latE6 / 1e6)
    fields['lon'] = ((l.status & JT808_STATUS.west) !== 0 ? -1 : 1) * (l.lonE6 / 1e6)
    fields['alt_m'] = l.altitudeM
    fields['speed_kmh'] = l.speed01 / 10
    if (l.courseDeg > 360) return fail('out_of_range', `course ${l.courseDeg}`)
    fields['course_deg'] = l.courseDeg
  }
  fields['fix_quality'] = fixed ? 1 : 0
  fields['alarm_flags'] = l.alarm >>> 0
  fields['status_flags'] = l.status >>> 0
  const mileage = itemValue(l, 0x01)
  if (mileage !== undefined) fields['mileage_km'] = mileage / 10
  const fuel = itemValue(l, 0x02)
  if (fuel !== undefined) fields['fuel_l'] = fuel / 10
  const rec = itemValue(l, 0x03)
  if (rec !== undefined) fields['recorder_speed_kmh'] = rec / 10
  const signal = itemValue(l, 0x30)
  if (signal !== undefined) fields['signal_strength'] = signal
  const sats = itemValue(l, 0x31)
  if (sats !== undefined) fields['satellites_used'] = sats
  return ok({ measurement: 'position', tags: { system: gnssSystem(l.status) }, fields, time: l.time ?? receivedAt })
}

/** One alarm bit that changed between two alarm words. */
export interface Jt808AlarmChange {
  bit: number
  /** `jt808_<name>` (`jt808_bit_<n>` for a reserved bit). */
  rule: string
  severity: 'info' | 'warning' | 'critical'
  /** true: the bit went 0 -> 1 (raised); false: 1 -> 0 (cleared). */
  active: boolean
  message: string
}

/**
 * The alarm bits that changed between the alarm words `prev` and `cur`, lowest bit first: a bit that
 * appears is `active: true`, one that clears `active: false`. With `prev = 0` every set bit is reported.
 * Severity per bit is JT808_ALARMS (reserved bits: `info`).
 */
export function alarmChanges(prev: number, cur: number): Jt808AlarmChange[] {
  const out: Jt808AlarmChange[] = []
  const changed = (prev ^ cur) >>> 0
  if (changed === 0) return out
  for (let bit = 0; bit < 32; bit++) {
    if ((changed & (1 << bit)) === 0) continue
    const a = JT808_ALARMS[bit] ?? { rule: `bit_${bit}`, severity: 'info' as const }
    const active = (cur & (1 << bit)) !== 0
    out.push({ bit, rule: `jt808_${a.rule}`, severity: a.severity, active, message: `JT/T 808 alarm bit ${bit} ${a.rule.replaceAll('_', ' ')} ${active ? 'raised' : 'cleared'}` })
  }
  return out
}

/** The `alarm` point of one change (data model: tags rule, severity; fields active, value = the bit, message). */
export function alarmPoint(c: Jt808AlarmChange, time: number): Point {
  return { measurement: 'alarm', tags: { rule: c.rule, severity: c.severity }, fields: { active: c.active, value: c.bit, message: c.message }, time }
}

/**
 * `alarm` points for alarm bits that changed between `prev` and the location's flags (`alarmChanges`).
 * The gateway derives them in gateway/processors/jt808-alarms.ts, per terminal; `jt808Points` (stateless)
 * uses `prev = 0`.
 */
export function alarmPoints(prev: number, l: Jt808Location, receivedAt: number): Point[] {
  const changes = alarmChanges(prev, l.alarm)
  return changes.length === 0 ? [] : changes.map((c) => alarmPoint(c, l.time ?? receivedAt))
}

/** The `device` tag of a terminal: its phone number without the BCD left padding. */
export function terminalId(phone: string): string {
  const t = phone.replace(/^0+/, '')
  return t === '' ? '0' : t
}

/** Locations a message carries (0x0200 one, 0x0704 several, others none). */
export function locationsOf(body: Jt808Body): Jt808Location[] {
  if (body.type === 'location') {
    const { type: _t, ...l } = body
    return [l]
  }
  return body.type === 'location_batch' ? body.locations : []
}

/**
 * Every point a message gives, for a stateless reader (`smartcity decode`): one `position` point per valid
 * location and an `alarm` point per set alarm bit. Locations out of range are listed in `refused`.
 */
export function jt808Points(msg: Jt808Message, receivedAt: number): { points: Point[]; refused: { reason: string; detail?: string }[] } {
  const points: Point[] = []
  const refused: { reason: string; detail?: string }[] = []
  for (const l of locationsOf(msg.body)) {
    const p = locationPoint(l, receivedAt)
    if (!p.ok) {
      refused.push(p.detail === undefined ? { reason: p.reason } : { reason: p.reason, detail: p.detail })
      continue
    }
    points.push(p.value, ...alarmPoints(0, l, receivedAt))
  }
  return { points, refused }
}
