import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { extractValues, planProfile } from '../../../../devices/common/modbus/planner.ts'
import { parseProfileText } from '../../../../devices/common/modbus/profile.ts'
import type { Source } from '../../../../gateway/core/types.ts'
import { ModbusTcpSourceConfig } from '../../../../gateway/sources/modbus/config.ts'
import { createModbusSource } from '../../../../gateway/sources/modbus/index.ts'
import { createLink } from '../../../../gateway/sources/modbus/link.ts'
import { havePython, PYMODBUS_HELPERS, PYMODBUS_PACKAGES, tempDir } from '../../../helpers/env.ts'
import { sleep, waitFor } from '../../../helpers/net.ts'
import { type PyEntry, type PymodbusServer, startPymodbus } from '../../../helpers/pymodbus.ts'
import { recordingContext } from '../../../helpers/recording-context.ts'
import { connect } from 'node:net'

const FIXTURES = join(import.meta.dirname, '../../../fixtures/modbus')
const ORDERS = ['ABCD', 'CDAB', 'BADC', 'DCBA'] as const

/** Register contents as raw typed values; pymodbus lays them out in each order with its own payload builder. */
function entries(order: string): PyEntry[] {
  const hr = (address: number, type: string, value: number): PyEntry => ({ table: 'hr', address, type, order, value })
  return [
    hr(0, 'int16', 2302),
    hr(1, 'uint16', 65000),
    hr(2, 'int32', 70000),
    hr(4, 'uint32', 3_000_000_000),
    hr(6, 'int64', -9_876_543_210),
    hr(10, 'uint64', 12_345_678_901_234),
    hr(20, 'int16', -873),
    hr(21, 'uint16', 5002),
    hr(22, 'uint32', 123_456_789),
    hr(24, 'float64', 98765.4321),
    { table: 'ir', address: 0, type: 'float32', order, value: -12.5 },
    { table: 'ir', address: 2, type: 'float64', order, value: -Math.PI },
  ]
}

// The canonical values the gateway must store: raw x scale, exactly.
const EXPECTED = {
  voltage_a_v: 230.2,
  voltage_b_v: 6500,
  voltage_c_v: 70,
  current_a_a: 30000,
  current_b_a: -98765.4321,
  current_c_a: 12345.678901234,
  power_factor: -0.873,
  frequency_hz: 50.02,
  import_energy_kwh: 12345678.9,
  export_energy_kwh: 98765.4321,
  active_power_kw: -12.5,
  reactive_power_kvar: -Math.PI,
}

describe.skipIf(!havePython(PYMODBUS_HELPERS, PYMODBUS_PACKAGES))('modbus-tcp source against pymodbus (an independent implementation)', () => {
  const tmp = tempDir('modbus-py-')
  let py: PymodbusServer
  let source: Source
  const ctx = recordingContext(ORDERS.map((o) => ({ id: `em-${o.toLowerCase()}`, kind: 'energy_meter' as const })))

  beforeAll(async () => {
    const units: Record<number, PyEntry[]> = {}
    ORDERS.forEach((o, i) => {
      units[i + 1] = entries(o)
      const text = readFileSync(join(FIXTURES, 'all-types.yaml'), 'utf8').replace(/^order: ABCD$/m, `order: ${o}`)
      writeFileSync(join(tmp.dir, `all-types-${o}.yaml`), text)
    })
    units[5] = [
      { table: 'hr', address: 0, value: 712 },
      { table: 'hr', address: 1, value: 0x8008 },
      { table: 'hr', address: 4, type: 'string', value: 'SN4711' },
      { table: 'co', address: 2, value: true },
      { table: 'di', address: 6, value: true },
    ]
    py = await startPymodbus(tmp.dir, units)
    const cfg = ModbusTcpSourceConfig.parse({
      type: 'modbus-tcp',
      port: py.port,
      timeoutMs: 2000,
      devices: ORDERS.map((o, i) => ({ device: `em-${o.toLowerCase()}`, unit: i + 1, profile: join(tmp.dir, `all-types-${o}.yaml`), intervalMs: 300 })),
    })
    source = createModbusSource(cfg)
    await source.start(ctx)
  })

  afterAll(async () => {
    await source?.stop()
    await py?.stop()
    tmp.cleanup()
  })

  for (const o of ORDERS) {
    it(`stores exactly the expected canonical values for every type in ${o} order`, async () => {
      const device = `em-${o.toLowerCase()}`
      const batch = await waitFor(() => ctx.of(device)[0], 15_000, `a batch from ${device}`)
      expect(batch).toMatchObject({ source: 'modbus-tcp', kind: 'energy_meter', protocol: 'modbus-tcp' })
      expect(batch.points).toHaveLength(1)
      expect(batch.points[0]!.measurement).toBe('energy_meter')
      expect(batch.points[0]!.fields).toEqual(EXPECTED)
    })
  }

  it('marks the devices online and rejects nothing', async () => {
    await waitFor(() => ctx.states.filter((s) => s.online).length >= 4, 10_000, 'four devices online')
    expect(ctx.rejects).toEqual([])
  })

  it('reads coils, discrete inputs, bits of a register and strings', async () => {
    const r = parseProfileText(readFileSync(join(FIXTURES, 'bits-and-strings.yaml'), 'utf8'))
    if (!r.ok) throw new Error(r.problems.join('\n'))
    const link = createLink({
      framing: 'tcp',
      address: `127.0.0.1:${py.port}`,
      open: () => new Promise((resolve, reject) => {
        const s = connect(py.port, '127.0.0.1', () => resolve(s))
        s.once('error', reject)
      }),
    })
    const values = new Map<string, unknown>()
    for (const read of planProfile(r.profile)) {
      const a = await link.request(5, { fc: read.fc, address: read.address, quantity: read.quantity }, 2000)
      if (!a.ok) throw new Error(JSON.stringify(a))
      const data = 'registers' in a.response ? { registers: a.response.registers } : 'bits' in a.response ? { bits: a.response.bits } : {}
      for (const [k, v] of extractValues(read, data, 'ABCD')) values.set(k, v)
    }
    await link.close()
    expect(Object.fromEntries(values)).toEqual({ ph: 7.12, fault: true, ready: true, serial: 'SN4711', pump: true, door: false, level_low: true })
  })

  it('writes reach the pymodbus registers through FC 5, 6, 15 and 16', async () => {
    const w = source.write!
    expect(await w('em-abcd', { field: 'setpoint', value: 250.5 })).toMatchObject({ ok: true })
    expect(await w('em-cdab', { field: 'setpoint', value: 250.5 })).toMatchObject({ ok: true })
    expect(await w('em-abcd', { field: 'limit', value: -2 })).toMatchObject({ ok: true })
    expect(await w('em-abcd', { address: 46, value: 3 })).toMatchObject({ ok: true })
    expect(await w('em-abcd', { field: 'relay', value: true })).toMatchObject({ ok: true })
    expect(await w('em-abcd', { field: 'relay2', value: true })).toMatchObject({ ok: true })
    // pymodbus logs each write on its stdout, which may trail its answer on the socket.
    await waitFor(() => py.writes.length >= 6, 10_000, 'six writes logged by pymodbus')
    // 250.5 as float32 is 0x437A8000 (IEEE 754), high word first in ABCD, low word first in CDAB.
    expect(py.writes).toEqual([
      { unit: 1, fc: 16, address: 40, values: [0x437a, 0x8000] },
      { unit: 2, fc: 16, address: 40, values: [0x8000, 0x437a] },
      { unit: 1, fc: 16, address: 44, values: [0xffff, 0xfffe] },
      { unit: 1, fc: 6, address: 46, values: [3] },
      { unit: 1, fc: 5, address: 0, values: [true] },
      { unit: 1, fc: 15, address: 1, values: [true] },
    ])
  })

  it('refuses a write to a read-only point, out of range or of the wrong type, and writes nothing', async () => {
    const before = py.writes.length
    const w = source.write!
    expect(await w('em-abcd', { field: 'voltage_a_v', value: 1 })).toMatchObject({ ok: false, code: 'not_writable' })
    expect(await w('em-abcd', { field: 'p', value: 1 })).toMatchObject({ ok: false, code: 'not_writable' })
    expect(await w('em-abcd', { field: 'mode', value: 4 })).toMatchObject({ ok: false, code: 'out_of_range' })
    expect(await w('em-abcd', { field: 'limit', value: 2 ** 31 })).toMatchObject({ ok: false, code: 'out_of_range' })
    expect(await w('em-abcd', { field: 'relay', value: 5 })).toMatchObject({ ok: false, code: 'wrong_type' })
    expect(await w('em-abcd', { field: 'nope', value: 1 })).toMatchObject({ ok: false, code: 'unknown_point' })
    expect(await w('em-xyz', { field: 'mode', value: 1 })).toMatchObject({ ok: false, code: 'unknown_device' })
    await sleep(300)
    expect(py.writes.length).toBe(before)
    expect(source.owns!('em-abcd')).toBe(true)
    expect(source.owns!('em-xyz')).toBe(false)
  })
})
