import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Source } from '../../../../gateway/core/types.ts'
import { ModbusTcpSourceConfig } from '../../../../gateway/sources/modbus/config.ts'
import { createModbusSource } from '../../../../gateway/sources/modbus/index.ts'
import { havePython, PYMODBUS_HELPERS, PYMODBUS_PACKAGES, tempDir } from '../../../helpers/env.ts'
import { ALL_TYPES, allTypesProfile, FIXTURES, ORDERS, readProfileOnce, type WireOrder, itStoresEveryTypeInEveryOrder } from '../../../helpers/modbus-peers.ts'
import { sleep, waitFor } from '../../../helpers/net.ts'
import { type PyEntry, type PymodbusServer, startPymodbus } from '../../../helpers/pymodbus.ts'
import { recordingContext } from '../../../helpers/recording-context.ts'

/** Register contents as raw typed values; pymodbus lays them out in each order with its own payload builder. */
const entries = (order: WireOrder): PyEntry[] => ALL_TYPES.map((t) => ({ table: t.table, address: t.address, type: t.type, order, value: t.raw }))

describe.skipIf(!havePython(PYMODBUS_HELPERS, PYMODBUS_PACKAGES))('modbus-tcp source against pymodbus (an independent implementation)', () => {
  const tmp = tempDir('modbus-py-')
  let py: PymodbusServer
  let source: Source
  const ctx = recordingContext(ORDERS.map((o) => ({ id: `em-${o.toLowerCase()}`, kind: 'energy_meter' as const })))

  beforeAll(async () => {
    const units: Record<number, PyEntry[]> = {}
    for (const [i, o] of ORDERS.entries()) units[i + 1] = entries(o)
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
      devices: ORDERS.map((o, i) => ({ device: `em-${o.toLowerCase()}`, unit: i + 1, profile: allTypesProfile(tmp.dir, o), intervalMs: 300 })),
    })
    source = createModbusSource(cfg)
    await source.start(ctx)
  })

  afterAll(async () => {
    await source?.stop()
    await py?.stop()
    tmp.cleanup()
  })

  itStoresEveryTypeInEveryOrder(ctx)

  it('marks the devices online and rejects nothing', async () => {
    await waitFor(() => ctx.states.filter((s) => s.online).length >= 4, 10_000, 'four devices online')
    expect(ctx.rejects).toEqual([])
  })

  it('reads coils, discrete inputs, bits of a register and strings', async () => {
    const values = await readProfileOnce(py.port, 5, join(FIXTURES, 'bits-and-strings.yaml'))
    expect(values).toEqual({ ph: 7.12, fault: true, ready: true, serial: 'SN4711', pump: true, door: false, level_low: true })
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
