/**
 * Fields -> DATA by a profile's layout: the exact inverse of `decodeRsuFrame`, so the simulator sends the
 * bytes the gateway reads.
 */
import iconv from 'iconv-lite'
import { decodeGbk } from './decode.ts'
import { frameRsu } from './framing.ts'
import type { RsuFieldSpec, RsuFieldValue, RsuFrame, RsuProfile } from './layout.ts'
import { CLASSIC_PROFILE } from './profiles.ts'

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
    if (!layout.fields.some((s) => s.name === k)) throw new RsuEncodeError(`${frame.type} has no field ${k} in profile ${profile.name}`)
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

/** A whole frame on the wire. */
export function encodeRsu(frame: RsuFrame, profile: RsuProfile = CLASSIC_PROFILE): Buffer {
  return frameRsu(frame.rsctl, encodeRsuData(frame, profile))
}
