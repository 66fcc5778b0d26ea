/**
 * DL/T 645-2007 (and the 1997 variant) codec: framer, frame decode/encode, message interpretation for
 * requests AND replies (the master and the meter simulators share it), data-identifier table and value
 * formats (docs/protocols.md section 2). Pure: no I/O, clock or logging; nothing here throws on input.
 *
 * Wire: `[FE..] 68 A0..A5 68 C L DATA CS 16`; address BCD low byte first; every DATA byte +0x33;
 * CS = sum mod 256 from the first 68 through the last data byte.
 */
import { bcdToByte, byteToBcd, isBcd } from '../common/bcd.ts'
import { sum8 } from '../common/checksum.ts'
import { type DecodeResult, type FrameEvent, type Framer, fail, ok } from '../common/result.ts'
import { isReason, type Reason } from '../common/reasons.ts'

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

function addressToBytes(address: string): Buffer | undefined {
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

function bytesToAddress(b: Uint8Array, start: number): string | undefined {
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

// ---------------------------------------------------------------------------------------------------
// Values

/** How a data item is formatted on the wire (after -0x33), least significant byte first. */
export interface ValueFormat {
  bytes: number
  decimals: number
  /** MSB of the most significant byte is the sign (currents, powers, power factor). */
  signed?: boolean
}

/** BCD value bytes (LSB first) -> number. `undefined` for all-FF (item absent, e.g. a missing phase). */
export function decodeValue(b: Uint8Array, fmt: ValueFormat): DecodeResult<number | undefined> {
  if (b.length !== fmt.bytes) return fail('bad_length', `value of ${b.length} bytes, expected ${fmt.bytes}`)
  if (b.every((x) => x === 0xff)) return ok(undefined)
  const bytes = Uint8Array.from(b)
  let negative = false
  if (fmt.signed) {
    negative = (bytes[fmt.bytes - 1]! & 0x80) !== 0
    bytes[fmt.bytes - 1] = bytes[fmt.bytes - 1]! & 0x7f
  }
  if (!isBcd(bytes)) return fail('bad_bcd', `value bytes ${Buffer.from(b).toString('hex')} are not BCD`)
  let n = 0
  for (let i = fmt.bytes - 1; i >= 0; i--) n = n * 100 + bcdToByte(bytes[i]!)
  const v = n / 10 ** fmt.decimals
  return ok(negative ? -v : v)
}

/** number -> BCD value bytes (LSB first); rounds to the format's decimals, saturates at its maximum. */
export function encodeValue(v: number | undefined, fmt: ValueFormat): Buffer {
  const out = Buffer.alloc(fmt.bytes)
  if (v === undefined) return out.fill(0xff)
  // signed: the top nibble keeps its sign bit, so it holds 0..7
  const max = fmt.signed ? 8 * 10 ** (fmt.bytes * 2 - 1) - 1 : 10 ** (fmt.bytes * 2) - 1
  let n = Math.min(max, Math.round(Math.abs(v) * 10 ** fmt.decimals))
  for (let i = 0; i < fmt.bytes; i++) {
    out[i] = byteToBcd(n % 100)
    n = Math.floor(n / 100)
  }
  if (fmt.signed && v < 0 && out.some((x) => x !== 0)) out[fmt.bytes - 1] = out[fmt.bytes - 1]! | 0x80
  return out
}

/** The canonical `energy_meter` fields a data item can fill. */
export type EnergyField =
  | 'voltage_a_v'
  | 'voltage_b_v'
  | 'voltage_c_v'
  | 'current_a_a'
  | 'current_b_a'
  | 'current_c_a'
  | 'active_power_kw'
  | 'reactive_power_kvar'
  | 'power_factor'
  | 'frequency_hz'
  | 'import_energy_kwh'
  | 'export_energy_kwh'
  | 'trip_count'
  | 'cover_open_count'

/**
 * A data identifier. `items` lists the values of the reply in order (a block DI has several); each maps to a
 * canonical field or to none (`field` undefined: decoded, shown by `decode`, not stored). `kind: 'date'`
 * and `'time'` are the meter clock, `'datetime'` a YYMMDDhhmm instant (a freeze time).
 */
export interface DataItem {
  di: number
  name: string
  unit?: string
  kind?: 'date' | 'time' | 'datetime'
  items: { field?: EnergyField; name: string; fmt: ValueFormat }[]
}

const E = { bytes: 4, decimals: 2 } as const
const V07 = { bytes: 2, decimals: 1 } as const
const I07 = { bytes: 3, decimals: 3, signed: true } as const
const P07 = { bytes: 3, decimals: 4, signed: true } as const
const one = (di: number, name: string, fmt: ValueFormat, field?: EnergyField, unit?: string): DataItem => ({
  di,
  name,
  ...(unit ? { unit } : {}),
  items: [field ? { field, name, fmt } : { name, fmt }],
})
/** Total and four tariffs, XXXXXX.XX each (4 x (1 + 4) bytes); a meter with fewer tariffs sends fewer. */
const tariffs = (di: number, name: string): DataItem => ({
  di,
  name,
  unit: 'kWh',
  items: [{ name: `${name}_kwh`, fmt: E }, ...[1, 2, 3, 4].map((t) => ({ name: `${name}_tariff_${t}_kwh`, fmt: E }))],
})
/** An event counter, XXXXXX (3 bytes). */
const COUNT = { bytes: 3, decimals: 0 } as const
/** A block read of the three phases, each item named as its field. */
const phases = (di: number, name: string, fmt: ValueFormat, unit: string, fields: readonly EnergyField[]): DataItem => ({
  di,
  name,
  unit,
  items: fields.map((field) => ({ field, name: field, fmt })),
})

/**
 * DL/T 645-2007 data identifiers (DI3 DI2 DI1 DI0 as a number), protocols.md section 2. The freeze and event
 * identifiers (DL/T 645-2007 Appendix A, frozen data and event records) follow the lengths public meter
 * reading software uses for them: Clou's concentrator (GitHub wuhuangrui/C82_DL689,
 * ClouSoft/MeterPro/DL645V07.cpp: 05060001 5 bytes, 05060101/05060201 20 bytes = total + 4 tariffs,
 * 03300000/03110000 3 bytes), and 1D000001 trip count / 1E000001 close count as 3-byte counters in public
 * DL/T 645-2007 parsers and meter test benches (read as `ReadData("1D000001", 3)`, "跳闸次数").
 */
export const DI_2007: readonly DataItem[] = [
  one(0x00000000, 'combined_active_energy_kwh', E, undefined, 'kWh'),
  one(0x00010000, 'import_energy_kwh', E, 'import_energy_kwh', 'kWh'),
  one(0x00020000, 'export_energy_kwh', E, 'export_energy_kwh', 'kWh'),
  one(0x00030000, 'combined_reactive_1_kvarh', E, undefined, 'kvarh'),
  one(0x00040000, 'combined_reactive_2_kvarh', E, undefined, 'kvarh'),
  {
    di: 0x0001ff00,
    name: 'import_energy_block',
    unit: 'kWh',
    items: [
      { field: 'import_energy_kwh', name: 'import_energy_kwh', fmt: E },
      { name: 'tariff_1_kwh', fmt: E },
      { name: 'tariff_2_kwh', fmt: E },
      { name: 'tariff_3_kwh', fmt: E },
      { name: 'tariff_4_kwh', fmt: E },
    ],
  },
  one(0x02010100, 'voltage_a_v', V07, 'voltage_a_v', 'V'),
  one(0x02010200, 'voltage_b_v', V07, 'voltage_b_v', 'V'),
  one(0x02010300, 'voltage_c_v', V07, 'voltage_c_v', 'V'),
  phases(0x0201ff00, 'voltage_block', V07, 'V', ['voltage_a_v', 'voltage_b_v', 'voltage_c_v']),
  one(0x02020100, 'current_a_a', I07, 'current_a_a', 'A'),
  one(0x02020200, 'current_b_a', I07, 'current_b_a', 'A'),
  one(0x02020300, 'current_c_a', I07, 'current_c_a', 'A'),
  phases(0x0202ff00, 'current_block', I07, 'A', ['current_a_a', 'current_b_a', 'current_c_a']),
  one(0x02030000, 'active_power_kw', P07, 'active_power_kw', 'kW'),
  one(0x02030100, 'active_power_a_kw', P07, undefined, 'kW'),
  one(0x02030200, 'active_power_b_kw', P07, undefined, 'kW'),
  one(0x02030300, 'active_power_c_kw', P07, undefined, 'kW'),
  one(0x02040000, 'reactive_power_kvar', P07, 'reactive_power_kvar', 'kvar'),
  one(0x02050000, 'apparent_power_kva', P07, undefined, 'kVA'),
  one(0x02060000, 'power_factor', { bytes: 2, decimals: 3, signed: true }, 'power_factor'),
  one(0x02800002, 'frequency_hz', { bytes: 2, decimals: 2 }, 'frequency_hz', 'Hz'),
  one(0x00900200, 'remaining_money_yuan', E, undefined, 'yuan'),
  one(0x03300d00, 'cover_open_count', COUNT, 'cover_open_count'),
  one(0x03300000, 'programming_count', COUNT),
  one(0x03110000, 'power_down_count', COUNT),
  one(0x1d000001, 'trip_count', COUNT, 'trip_count'),
  one(0x1e000001, 'close_count', COUNT),
  // (last 1) daily freeze: its time, then the frozen registers. Not stored: see the kind README.
  { di: 0x05060001, name: 'daily_freeze_time', kind: 'datetime', items: [{ name: 'daily_freeze_time', fmt: { bytes: 5, decimals: 0 } }] },
  tariffs(0x05060101, 'daily_frozen_import_energy'),
  tariffs(0x05060201, 'daily_frozen_export_energy'),
  { di: 0x04000101, name: 'date', kind: 'date', items: [{ name: 'date', fmt: { bytes: 4, decimals: 0 } }] },
  { di: 0x04000102, name: 'time', kind: 'time', items: [{ name: 'time', fmt: { bytes: 3, decimals: 0 } }] },
]

/**
 * DL/T 645-1997 data identifiers (DI1 DI0). 9010/9020 and B611.. (integer volts) are verified; the current,
 * power and power-factor formats are [unverified] in protocols.md.
 */
export const DI_1997: readonly DataItem[] = [
  one(0x9010, 'import_energy_kwh', E, 'import_energy_kwh', 'kWh'),
  one(0x9020, 'export_energy_kwh', E, 'export_energy_kwh', 'kWh'),
  one(0xb611, 'voltage_a_v', { bytes: 2, decimals: 0 }, 'voltage_a_v', 'V'),
  one(0xb612, 'voltage_b_v', { bytes: 2, decimals: 0 }, 'voltage_b_v', 'V'),
  one(0xb613, 'voltage_c_v', { bytes: 2, decimals: 0 }, 'voltage_c_v', 'V'),
  one(0xb621, 'current_a_a', { bytes: 2, decimals: 2 }, 'current_a_a', 'A'),
  one(0xb622, 'current_b_a', { bytes: 2, decimals: 2 }, 'current_b_a', 'A'),
  one(0xb623, 'current_c_a', { bytes: 2, decimals: 2 }, 'current_c_a', 'A'),
  one(0xb630, 'active_power_kw', { bytes: 3, decimals: 4 }, 'active_power_kw', 'kW'),
  one(0xb650, 'power_factor', { bytes: 2, decimals: 3 }, 'power_factor'),
  { di: 0xc010, name: 'date', kind: 'date', items: [{ name: 'date', fmt: { bytes: 4, decimals: 0 } }] },
  { di: 0xc011, name: 'time', kind: 'time', items: [{ name: 'time', fmt: { bytes: 3, decimals: 0 } }] },
]

const TABLES = { '2007': new Map(DI_2007.map((d) => [d.di, d])), '1997': new Map(DI_1997.map((d) => [d.di, d])) }

export function dataItem(version: Dlt645Version, di: number): DataItem | undefined {
  return TABLES[version].get(di)
}

/** DI as printed (`02010100`, `9010`). */
export function diToString(version: Dlt645Version, di: number): string {
  return di.toString(16).toUpperCase().padStart(version === '2007' ? 8 : 4, '0')
}

export function parseDi(version: Dlt645Version, text: string): number | undefined {
  const t = text.replace(/^0x/i, '')
  if (!(version === '2007' ? /^[0-9A-Fa-f]{8}$/ : /^[0-9A-Fa-f]{4}$/).test(t)) return undefined
  return Number.parseInt(t, 16)
}

/**
 * The value of a read reply: canonical fields, and every item by name (for `decode`). A data identifier the
 * table does not know is still a good reply: `known: false`, no fields, its data (already -0x33) as `raw` hex.
 */
export interface DataValue {
  di: number
  name: string
  known: boolean
  fields: Partial<Record<EnergyField, number>>
  values: Record<string, number | string | null>
  raw?: string
}

const p2 = (n: number) => String(n).padStart(2, '0')

/** The data bytes of a read reply (after the DI) -> values. */
export function decodeDataValue(version: Dlt645Version, di: number, bytes: Uint8Array): DecodeResult<DataValue> {
  const item = dataItem(version, di)
  if (!item) return ok({ di, name: 'unknown', known: false, fields: {}, values: {}, raw: Buffer.from(bytes).toString('hex').toUpperCase() })
  const out: DataValue = { di, name: item.name, known: true, fields: {}, values: {} }
  if (item.kind) {
    const n = item.kind === 'date' ? 4 : item.kind === 'time' ? 3 : 5
    if (bytes.length !== n) return fail('bad_length', `${item.name}: ${bytes.length} bytes, expected ${n}`)
    if (item.kind === 'datetime' && bytes.every((b) => b === 0xff)) {
      out.values[item.name] = null // not frozen yet
      return ok(out)
    }
    if (!isBcd(bytes)) return fail('bad_bcd', `${item.name} is not BCD`)
    const v = Array.from(bytes, bcdToByte)
    // date: sent WW DD MM YY; time: ss mm hh; datetime (YYMMDDhhmm): mm hh DD MM YY
    out.values[item.name] =
      item.kind === 'date'
        ? `20${p2(v[3]!)}-${p2(v[2]!)}-${p2(v[1]!)}`
        : item.kind === 'time'
          ? `${p2(v[2]!)}:${p2(v[1]!)}:${p2(v[0]!)}`
          : `20${p2(v[4]!)}-${p2(v[3]!)}-${p2(v[2]!)} ${p2(v[1]!)}:${p2(v[0]!)}`
    return ok(out)
  }
  const need = item.items.reduce((a, it) => a + it.fmt.bytes, 0)
  // blocks may be shorter (a meter without tariffs); single items must be exact
  if (bytes.length !== need && (item.items.length === 1 || bytes.length > need)) {
    return fail('bad_length', `${item.name}: ${bytes.length} bytes, expected ${need}`)
  }
  let p = 0
  for (const it of item.items) {
    if (p + it.fmt.bytes > bytes.length) break
    const r = decodeValue(bytes.subarray(p, p + it.fmt.bytes), it.fmt)
    if (!r.ok) return fail(r.reason, `${it.name}: ${r.detail ?? ''}`)
    p += it.fmt.bytes
    out.values[it.name] = r.value ?? null
    if (it.field && r.value !== undefined) out.fields[it.field] = r.value
  }
  return ok(out)
}

/** Values by item name -> the data bytes of a read reply (simulators). Missing items are sent as FF. */
export function encodeDataValue(version: Dlt645Version, di: number, values: Readonly<Record<string, number | undefined>>): Buffer | undefined {
  const item = dataItem(version, di)
  if (!item || item.kind) return undefined
  return Buffer.concat(item.items.map((it) => encodeValue(values[it.name], it.fmt)))
}

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

const diBytes = (v: Dlt645Version) => (v === '2007' ? 4 : 2)

function readDi(data: Uint8Array, n: number): number {
  let di = 0
  for (let i = n - 1; i >= 0; i--) di = di * 256 + data[i]!
  return di
}

function writeDi(di: number, n: number): Buffer {
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

/** A message -> its frame (the inverse of `interpretFrame`). */
export function messageToFrame(m: Dlt645Message): Dlt645Frame {
  switch (m.kind) {
    case 'read_request':
      return { address: m.address, control: m.version === '2007' ? 0x11 : 0x01, data: writeDi(m.di, diBytes(m.version)) }
    case 'read_reply':
      return {
        address: m.address,
        control: (m.version === '2007' ? 0x91 : 0x81) | (m.more ? 0x20 : 0),
        data: Buffer.concat([writeDi(m.di, diBytes(m.version)), m.data]),
      }
    case 'error_reply':
      return { address: m.address, control: m.version === '2007' ? 0xd1 : 0xc1, data: Buffer.from([m.errorWord]) }
    case 'read_address_request':
      return { address: m.address, control: 0x13, data: Buffer.alloc(0) }
    case 'read_address_reply':
      return { address: m.address, control: 0x93, data: addressToBytes(m.address)! }
    case 'broadcast_time': {
      const t = m.time
      return {
        address: m.address,
        control: 0x08,
        data: Buffer.from([t.second, t.minute, t.hour, t.day, t.month, t.year % 100].map(byteToBcd)),
      }
    }
    case 'other':
      return { address: m.address, control: m.control, data: m.data }
  }
}

/** Message -> wire bytes with the usual 4-byte FE wake-up preamble (configurable). */
export function encodeMessage(m: Dlt645Message, preamble = 4): Buffer {
  return encodeFrame(messageToFrame(m), preamble)
}

/** Wire bytes of one frame -> message. */
export function decodeMessage(buf: Uint8Array): DecodeResult<{ frame: Dlt645Frame; message: Dlt645Message }> {
  const f = decodeFrame(buf)
  if (!f.ok) return f
  const m = interpretFrame(f.value)
  if (!m.ok) return m
  return ok({ frame: f.value, message: m.value })
}
