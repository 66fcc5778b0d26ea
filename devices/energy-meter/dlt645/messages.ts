/**
 * DL/T 645 messages: what a frame means, for requests AND replies (the master and the meter simulators
 * share it), and the error word of an abnormal reply as a catalogued reason.
 */
import { bcdToByte, isBcd } from '../../common/bcd.ts'
import { isReason, type Reason } from '../../common/reasons.ts'
import { type DecodeResult, fail, ok } from '../../common/result.ts'
import { bytesToAddress, decodeFrame, type Dlt645Frame, type Dlt645Version } from './frame.ts'
// ---------------------------------------------------------------------------------------------------
// Messages

/** Error word bits of an abnormal reply (bit1 verified; the others per the standard, unverified). */
export const ERROR_BITS = ['other', 'no_data', 'unauthorized', 'baud_unchangeable', 'too_many_year_zones', 'too_many_day_periods', 'too_many_tariffs'] as const

export function errorWordNames(word: number): string[] {
  const names: string[] = []
  ERROR_BITS.forEach((n, i) => {
    if (word & (1 << i)) names.push(n)
  })
  if (word & 0x80) names.push('reserved_bit7')
  return names
}

/**
 * The catalogued reject reason for an abnormal reply: `meter_error_<bit>` (e.g. `meter_error_no_data`) when
 * one error bit is set, `meter_error_multiple` when several are (the detail names them: errorWordNames),
 * `meter_error` when none is.
 */
export function errorReason(word: number): Reason {
  const names = errorWordNames(word)
  if (names.length === 0) return 'meter_error'
  if (names.length > 1) return 'meter_error_multiple'
  const r = `meter_error_${names[0]}`
  return isReason(r) ? r : 'meter_error_multiple'
}

export interface ClockTime {
  year: number
  month: number
  day: number
  hour: number
  minute: number
  second: number
}

export type Dlt645Message =
  | { kind: 'read_request'; version: Dlt645Version; address: string; di: number }
  | { kind: 'read_reply'; version: Dlt645Version; address: string; di: number; data: Buffer; more: boolean }
  | { kind: 'error_reply'; version: Dlt645Version; address: string; errorWord: number }
  | { kind: 'read_address_request'; address: string }
  | { kind: 'read_address_reply'; address: string }
  | { kind: 'broadcast_time'; address: string; time: ClockTime }
  /** A valid frame with a function this codec does not interpret (write, freeze...). */
  | { kind: 'other'; address: string; control: number; data: Buffer }

export const diBytes = (v: Dlt645Version) => (v === '2007' ? 4 : 2)

function readDi(data: Uint8Array, n: number): number {
  let di = 0
  for (let i = n - 1; i >= 0; i--) di = di * 256 + data[i]!
  return di
}

export function writeDi(di: number, n: number): Buffer {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = Math.floor(di / 256 ** i) & 0xff
  return b
}

/** A frame -> what it means. Reasons: `bad_length`, `bad_bcd`, `bad_time`. */
export function interpretFrame(f: Dlt645Frame): DecodeResult<Dlt645Message> {
  const c = f.control
  const fn = c & 0x1f
  const reply = (c & 0x80) !== 0
  const abnormal = (c & 0x40) !== 0
  const version: Dlt645Version | undefined = fn === 0x11 || fn === 0x12 ? '2007' : fn === 0x01 || fn === 0x02 ? '1997' : undefined
  if (version) {
    const n = diBytes(version)
    if (!reply) {
      if (f.data.length < n) return fail('bad_length', `read request with ${f.data.length} data bytes`)
      return ok({ kind: 'read_request', version, address: f.address, di: readDi(f.data, n) })
    }
    if (abnormal) {
      if (f.data.length !== 1) return fail('bad_length', `abnormal reply with ${f.data.length} data bytes`)
      return ok({ kind: 'error_reply', version, address: f.address, errorWord: f.data[0]! })
    }
    if (f.data.length < n) return fail('bad_length', `read reply with ${f.data.length} data bytes`)
    return ok({ kind: 'read_reply', version, address: f.address, di: readDi(f.data, n), data: Buffer.from(f.data.subarray(n)), more: (c & 0x20) !== 0 })
  }
  if (fn === 0x13) {
    if (!reply) return ok({ kind: 'read_address_request', address: f.address })
    if (abnormal) return ok({ kind: 'error_reply', version: '2007', address: f.address, errorWord: f.data[0] ?? 0 })
    if (f.data.length !== 6) return fail('bad_length', `address reply with ${f.data.length} data bytes`)
    const a = bytesToAddress(f.data, 0)
    if (a === undefined) return fail('bad_bcd', 'address in the reply is not BCD')
    return ok({ kind: 'read_address_reply', address: a })
  }
  if (fn === 0x08 && !reply) {
    if (f.data.length !== 6) return fail('bad_length', `broadcast time with ${f.data.length} data bytes`)
    if (!isBcd(f.data)) return fail('bad_bcd', 'broadcast time is not BCD')
    const [ss, mm, hh, dd, mo, yy] = Array.from(f.data, bcdToByte) as [number, number, number, number, number, number]
    if (mo < 1 || mo > 12 || dd < 1 || dd > 31 || hh > 23 || mm > 59 || ss > 59) return fail('bad_time', 'broadcast time out of range')
    return ok({ kind: 'broadcast_time', address: f.address, time: { year: 2000 + yy, month: mo, day: dd, hour: hh, minute: mm, second: ss } })
  }
  return ok({ kind: 'other', address: f.address, control: c, data: Buffer.from(f.data) })
}


/** Wire bytes of one frame -> message. */
export function decodeMessage(buf: Uint8Array): DecodeResult<{ frame: Dlt645Frame; message: Dlt645Message }> {
  const f = decodeFrame(buf)
  if (!f.ok) return f
  const m = interpretFrame(f.value)
  if (!m.ok) return m
  return ok({ frame: f.value, message: m.value })
}
