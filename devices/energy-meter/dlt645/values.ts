/**
 * DL/T 645 values: the value formats (BCD with decimals, signed) and the data-identifier tables of 2007 and
 * 1997, each DI with its named values and the canonical energy-meter fields it gives.
 */
import { bcdToByte, byteToBcd, isBcd } from '../../common/bcd.ts'
import { type DecodeResult, fail, ok } from '../../common/result.ts'
import type { Dlt645Version } from './frame.ts'
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
