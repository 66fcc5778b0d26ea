/**
 * What the tests against independent Modbus peers (pymodbus, modbus-serial) share: the type/order table (one value
 * of every numeric register type at the addresses of test/fixtures/modbus/all-types.yaml, in each of the four
 * byte/word orders), the profile in each order, and one pass over a profile through our Modbus TCP link.
 * The peers lay the raw values out with their own code; our source must store `value` (raw x scale) exactly.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { extractValues, planProfile } from '../../devices/common/modbus/planner.ts'
import { parseProfileText } from '../../devices/common/modbus/profile.ts'
import type { RegisterValue } from '../../devices/common/modbus/registers.ts'
import { createModbusLink } from '../../gateway/sources/modbus/link.ts'
import { expect, it } from 'vitest'
import { waitFor } from './net.ts'
import type { RecordingContext } from './recording-context.ts'

export const FIXTURES = join(import.meta.dirname, '../fixtures/modbus')

export const ORDERS = ['ABCD', 'CDAB', 'BADC', 'DCBA'] as const
export type WireOrder = (typeof ORDERS)[number]

export type NumericType = 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'float32' | 'float64'

export interface TypedValue {
  /** Point name in all-types.yaml. */
  name: string
  table: 'hr' | 'ir'
  address: number
  type: NumericType
  /** The register value before scale, as the device holds it. */
  raw: number
  /** The canonical energy_meter field the point feeds, and the value the gateway must store. */
  field: string
  value: number
}

// Chosen to reach the high bits of each type: uint32 above 2^31, int64 below -2^32, uint64 above 2^32, negative
// int16/float32/float64, and exact float32 values (-12.5) so every order gives one exact answer.
export const ALL_TYPES: readonly TypedValue[] = [
  { name: 'v_a', table: 'hr', address: 0, type: 'int16', raw: 2302, field: 'voltage_a_v', value: 230.2 },
  { name: 'v_b', table: 'hr', address: 1, type: 'uint16', raw: 65000, field: 'voltage_b_v', value: 6500 },
  { name: 'v_c', table: 'hr', address: 2, type: 'int32', raw: 70000, field: 'voltage_c_v', value: 70 },
  { name: 'i_a', table: 'hr', address: 4, type: 'uint32', raw: 3_000_000_000, field: 'current_a_a', value: 30000 },
  { name: 'i_b', table: 'hr', address: 6, type: 'int64', raw: -9_876_543_210, field: 'current_b_a', value: -98765.4321 },
  { name: 'i_c', table: 'hr', address: 10, type: 'uint64', raw: 12_345_678_901_234, field: 'current_c_a', value: 12345.678901234 },
  { name: 'pf', table: 'hr', address: 20, type: 'int16', raw: -873, field: 'power_factor', value: -0.873 },
  { name: 'freq', table: 'hr', address: 21, type: 'uint16', raw: 5002, field: 'frequency_hz', value: 50.02 },
  { name: 'imp', table: 'hr', address: 22, type: 'uint32', raw: 123_456_789, field: 'import_energy_kwh', value: 12345678.9 },
  { name: 'exp', table: 'hr', address: 24, type: 'float64', raw: 98765.4321, field: 'export_energy_kwh', value: 98765.4321 },
  { name: 'p', table: 'ir', address: 0, type: 'float32', raw: -12.5, field: 'active_power_kw', value: -12.5 },
  { name: 'q', table: 'ir', address: 2, type: 'float64', raw: -Math.PI, field: 'reactive_power_kvar', value: -Math.PI },
]

/** The fields the gateway must store from a device laid out as ALL_TYPES, in any order. */
export const ALL_TYPES_FIELDS: Readonly<Record<string, number>> = Object.fromEntries(ALL_TYPES.map((t) => [t.field, t.value]))

/** The text of all-types.yaml with its default `order` rewritten. */
export function allTypesProfileText(order: WireOrder): string {
  const text = readFileSync(join(FIXTURES, 'all-types.yaml'), 'utf8').replace(/^order: ABCD$/m, `order: ${order}`)
  if (!text.includes(`\norder: ${order}\n`)) throw new Error('all-types.yaml lost its top-level order: ABCD line')
  return text
}

/** all-types.yaml in `order`, written into `dir`; returns the file's path (for a source's `profile`). */
export function allTypesProfile(dir: string, order: WireOrder): string {
  const file = join(dir, `all-types-${order}.yaml`)
  writeFileSync(file, allTypesProfileText(order))
  return file
}

/** Read every point of a profile file once from a Modbus TCP server on 127.0.0.1, with our link and planner. */
export async function readProfileOnce(port: number, unit: number, profileFile: string): Promise<Record<string, RegisterValue>> {
  const r = parseProfileText(readFileSync(profileFile, 'utf8'))
  if (!r.ok) throw new Error(r.problems.join('\n'))
  const link = createModbusLink({ framing: 'tcp', address: `tcp://127.0.0.1:${port}` })
  const values = new Map<string, RegisterValue>()
  try {
    for (const read of planProfile(r.profile)) {
      const a = await link.request(unit, { fc: read.fc, address: read.address, quantity: read.quantity }, 2000)
      if (!a.ok) throw new Error(JSON.stringify(a))
      const data = 'registers' in a.response ? { registers: a.response.registers } : 'bits' in a.response ? { bits: a.response.bits } : {}
      for (const [k, v] of extractValues(read, data, r.profile.order)) values.set(k, v)
    }
  } finally {
    await link.close()
  }
  return Object.fromEntries(values)
}

/**
 * The tests both peers pass (pymodbus, modbus-serial): the modbus-tcp source polling devices `em-<order>`, one
 * per word order, each laid out with every type, stores exactly ALL_TYPES_FIELDS for each.
 */
export function itStoresEveryTypeInEveryOrder(ctx: RecordingContext): void {
  for (const o of ORDERS) {
    it(`stores exactly the expected canonical values for every type in ${o} order`, async () => {
      const device = `em-${o.toLowerCase()}`
      const batch = await waitFor(() => ctx.of(device)[0], 15_000, `a batch from ${device}`)
      expect(batch).toMatchObject({ source: 'modbus-tcp', kind: 'energy_meter', protocol: 'modbus-tcp' })
      expect(batch.points).toHaveLength(1)
      expect(batch.points[0]!.measurement).toBe('energy_meter')
      expect(batch.points[0]!.fields).toEqual(ALL_TYPES_FIELDS)
    })
  }
}
