/** JT/T 808 encoding: message -> frame bytes, the exact inverse of `decodeJt808` (simulators and answers use it). */
import iconv from 'iconv-lite'
import { byteToBcd, stringToBcd } from '../../common/bcd.ts'
import { xor8 } from '../../common/checksum.ts'
import { utcMsToBeijing } from '../../common/time.ts'
import { NUMERIC_ITEMS } from './body.ts'
import { escape808, hex2, type Jt808Body, type Jt808Header, type Jt808Location, type Jt808Message } from './header.ts'

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


function encodeBcdTime(t: number | null): Buffer {
  if (t === null) return Buffer.alloc(6)
  const b = utcMsToBeijing(t)
  if (b.y < 2000 || b.y > 2099) throw new RangeError(`time ${t} outside 2000..2099`)
  return Buffer.from([b.y - 2000, b.mo, b.d, b.h, b.mi, b.s].map(byteToBcd))
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
