/**
 * JT/T 808 bodies: header + body bytes (a whole message, subpackages joined) -> a typed body, and a whole
 * frame -> message (`decodeJt808`; a subpackage's body is a `fragment`, joined by reassembly.ts). Pure.
 */
import { bcdToString, isBcd } from '../../common/bcd.ts'
import { type DecodeResult, fail, ok } from '../../common/result.ts'
import { beijingToUtcMs, utcMsToBeijing } from '../../common/time.ts'
import { decodePacket, hex2, JT808_MSG, type Jt808Body, type Jt808Header, type Jt808Location, type Jt808Message, type LocationItem } from './header.ts'

const gbkDecoder = new TextDecoder('gbk')

/** GBK bytes -> string, NUL padding on the right removed. */
function gbk(buf: Uint8Array): string {
  let end = buf.length
  while (end > 0 && buf[end - 1] === 0) end--
  return gbkDecoder.decode(buf.subarray(0, end))
}


/** Additional-item ids whose value is an unsigned big-endian integer of the given size. */
export const NUMERIC_ITEMS = new Map<number, 1 | 2 | 4>([
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
