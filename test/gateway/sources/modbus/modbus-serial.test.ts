/**
 * Our modbus-tcp source polls modbus-serial's ServerTCP (npm modbus-serial 8, an implementation independent of
 * ours, beside pymodbus in pymodbus.test.ts). The server's registers are laid out here with Node's Buffer methods
 * (test/helpers/modbus-serial.ts), never with our codec. Frames and exception codes: Modbus Application Protocol
 * Specification V1.1b3 (section 6 for FC 1-6, 15, 16; section 7 for exception responses, code 02 ILLEGAL DATA
 * ADDRESS, 04 SERVER DEVICE FAILURE) and Modbus Messaging on TCP/IP Implementation Guide V1.0b (MBAP header).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { IServiceVector } from 'modbus-serial'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Source } from '../../../../gateway/core/types.ts'
import type { Gateway } from '../../../../gateway/gateway.ts'
import { ModbusTcpSourceConfig } from '../../../../gateway/sources/modbus/config.ts'
import { createModbusSource } from '../../../../gateway/sources/modbus/index.ts'
import { tempDir } from '../../../helpers/env.ts'
import { gatewayFrom, metricValue } from '../../../helpers/gateway.ts'
import { ALL_TYPES, ALL_TYPES_FIELDS, allTypesProfile, FIXTURES, ORDERS, readProfileOnce, type WireOrder, itStoresEveryTypeInEveryOrder } from '../../../helpers/modbus-peers.ts'
import { layOut, type ModbusSerialServer, registersIn, startModbusSerialServer } from '../../../helpers/modbus-serial.ts'
import { freePort, sleep, waitFor } from '../../../helpers/net.ts'
import { recordingContext } from '../../../helpers/recording-context.ts'

/** A unit's tables as the server holds them: 16-bit registers and bits by address (0 where nothing is laid out). */
interface Image {
  hr: Map<number, number>
  ir: Map<number, number>
  co: Map<number, boolean>
  di: Map<number, boolean>
}
const emptyImage = (): Image => ({ hr: new Map(), ir: new Map(), co: new Map(), di: new Map() })

function place(table: Map<number, number>, address: number, bytes: Buffer): void {
  for (const [i, r] of registersIn(bytes).entries()) table.set(address + i, r)
}

// Units 1-4: every numeric type of the shared table, one order each.
const UNIT_OF = new Map<WireOrder, number>(ORDERS.map((o, i) => [o, i + 1]))
// Unit 5: bits of a register, a string, coils and discrete inputs (test/fixtures/modbus/bits-and-strings.yaml).
const BITS_UNIT = 5
// Unit 6: a meter without input registers: every FC 4 read is answered with exception 02 ILLEGAL DATA ADDRESS.
const NO_INPUTS_UNIT = 6
// Unit 7: refuses every write with exception 04 SERVER DEVICE FAILURE.
const REFUSING_UNIT = 7

type Write = { unit: number; fc: 5 | 6 | 15 | 16; address: number; values: (number | boolean)[] }

/** modbus-serial's ServerTCP over the images, logging every write (and keeping it, as a device would). */
function vectorOver(images: Map<number, Image>, writes: Write[]): IServiceVector {
  const image = (unit: number) => {
    const i = images.get(unit)
    // modbus-serial answers a thrown { modbusErrorCode } with that exception.
    if (!i) throw { modbusErrorCode: 0x0b }
    return i
  }
  const refuse = (unit: number) => {
    if (unit === REFUSING_UNIT) throw { modbusErrorCode: 0x04 }
  }
  // setCoilArray is not in modbus-serial's IServiceVector type, but its FC 15 handler calls it.
  const vector: IServiceVector & { setCoilArray(addr: number, values: boolean[], unit: number): void } = {
    getHoldingRegister: (addr: number, unit: number) => image(unit).hr.get(addr) ?? 0,
    getInputRegister: (addr: number, unit: number) => {
      if (unit === NO_INPUTS_UNIT) throw { modbusErrorCode: 0x02 }
      return image(unit).ir.get(addr) ?? 0
    },
    getCoil: (addr: number, unit: number) => image(unit).co.get(addr) ?? false,
    getDiscreteInput: (addr: number, unit: number) => image(unit).di.get(addr) ?? false,
    // FC 6 comes here, FC 16 to setRegisterArray, FC 5 to setCoil and FC 15 to setCoilArray.
    setRegister: (addr: number, value: number, unit: number) => {
      refuse(unit)
      writes.push({ unit, fc: 6, address: addr, values: [value] })
      image(unit).hr.set(addr, value)
    },
    setRegisterArray: (addr: number, values: number[], unit: number) => {
      refuse(unit)
      writes.push({ unit, fc: 16, address: addr, values: [...values] })
      for (const [i, v] of values.entries()) image(unit).hr.set(addr + i, v)
    },
    setCoil: (addr: number, value: boolean, unit: number) => {
      refuse(unit)
      writes.push({ unit, fc: 5, address: addr, values: [value] })
      image(unit).co.set(addr, value)
    },
    setCoilArray: (addr: number, values: boolean[], unit: number) => {
      refuse(unit)
      writes.push({ unit, fc: 15, address: addr, values: [...values] })
      for (const [i, v] of values.entries()) image(unit).co.set(addr + i, v)
    },
  }
  return vector
}

function images(): Map<number, Image> {
  const m = new Map<number, Image>()
  const numeric: [WireOrder, number][] = [...UNIT_OF, ['ABCD', NO_INPUTS_UNIT], ['ABCD', REFUSING_UNIT]]
  for (const [o, unit] of numeric) {
    const img = emptyImage()
    for (const t of ALL_TYPES) place(img[t.table], t.address, layOut(t.type, o, t.raw))
    m.set(unit, img)
  }
  // bits-and-strings.yaml: ph 7.12 (uint16 712), bits 3 and 15 of register 1, serial "SN4711" at 4, coil 2,
  // discrete input 6.
  const b = emptyImage()
  place(b.hr, 0, layOut('uint16', 'ABCD', 712))
  place(b.hr, 1, layOut('uint16', 'ABCD', (1 << 15) | (1 << 3)))
  place(b.hr, 4, layOut('string', 'ABCD', 'SN4711', 6))
  b.co.set(2, true)
  b.di.set(6, true)
  m.set(BITS_UNIT, b)
  return m
}

/** The registers a value takes in `order`, as a client must write them. */
const words = (type: 'float32' | 'int32' | 'uint16', order: WireOrder, v: number) => registersIn(layOut(type, order, v))

describe('modbus-tcp source against modbus-serial ServerTCP (a second independent implementation)', () => {
  const tmp = tempDir('modbus-serial-src-')
  const writes: Write[] = []
  let server: ModbusSerialServer
  let source: Source
  const devices = [
    ...ORDERS.map((o) => ({ device: `em-${o.toLowerCase()}`, unit: UNIT_OF.get(o)!, order: o })),
    { device: 'em-no-inputs', unit: NO_INPUTS_UNIT, order: 'ABCD' as const },
  ]
  const ctx = recordingContext([...devices.map((d) => ({ id: d.device, kind: 'energy_meter' as const })), { id: 'wq-bits', kind: 'water_quality' }])

  beforeAll(async () => {
    server = await startModbusSerialServer(vectorOver(images(), writes))
    const cfg = ModbusTcpSourceConfig.parse({
      type: 'modbus-tcp',
      port: server.port,
      timeoutMs: 2000,
      devices: [
        ...devices.map((d) => ({ device: d.device, unit: d.unit, profile: allTypesProfile(tmp.dir, d.order), intervalMs: 300 })),
        { device: 'wq-bits', unit: BITS_UNIT, profile: join(FIXTURES, 'bits-and-strings.yaml'), intervalMs: 300 },
      ],
    })
    source = createModbusSource(cfg)
    await source.start(ctx)
  })

  afterAll(async () => {
    await source?.stop()
    await server?.close()
    tmp.cleanup()
  })

  itStoresEveryTypeInEveryOrder(ctx)

  it('reads coils, discrete inputs, bits of a register and strings', async () => {
    const batch = await waitFor(() => ctx.of('wq-bits')[0], 15_000, 'a batch from wq-bits')
    expect(batch.points[0]!.fields).toMatchObject({ ph: 7.12 })
    // The points that feed no field, read once through our link and planner.
    const values = await readProfileOnce(server.port, BITS_UNIT, join(FIXTURES, 'bits-and-strings.yaml'))
    expect(values).toEqual({ ph: 7.12, fault: true, ready: true, serial: 'SN4711', pump: true, door: false, level_low: true })
  })

  it('an exception reply is dead-lettered with its reason and the frame; the rest of the poll still arrives', async () => {
    const r = await waitFor(() => ctx.rejects.find((x) => x.device === 'em-no-inputs'), 15_000, 'a reject from em-no-inputs')
    expect(r).toMatchObject({ source: 'modbus-tcp', reason: 'modbus_exception', address: `127.0.0.1:${server.port}` })
    expect(r.detail).toMatch(/^unit 6: .*\(2\)$/)
    // The MBAP frame of the exception response ends with its PDU: FC 4 | 0x80, exception code 2.
    const raw = Buffer.from(r.raw as Uint8Array)
    expect(raw.subarray(-2)).toEqual(Buffer.from([0x84, 0x02]))
    expect(raw.readUInt16BE(2)).toBe(0) // protocol id
    expect(raw[6]).toBe(NO_INPUTS_UNIT)
    // The holding registers answered: every field but the two from input registers.
    const batch = await waitFor(() => ctx.of('em-no-inputs')[0], 15_000, 'a batch from em-no-inputs')
    const { active_power_kw: _p, reactive_power_kvar: _q, ...holding } = ALL_TYPES_FIELDS
    expect(batch.points[0]!.fields).toEqual(holding)
    // Nothing else was refused.
    expect(ctx.rejects.filter((x) => x.device !== 'em-no-inputs')).toEqual([])
  })

  it("writes arrive in the server's setCoil (FC 5), setRegister (FC 6), setCoilArray (FC 15) and setRegisterArray (FC 16) with the right words", async () => {
    writes.length = 0
    const w = source.write!
    expect(await w('em-abcd', { field: 'setpoint', value: 250.5 })).toMatchObject({ ok: true })
    expect(await w('em-cdab', { field: 'setpoint', value: 250.5 })).toMatchObject({ ok: true })
    expect(await w('em-badc', { field: 'limit', value: -70_000 })).toMatchObject({ ok: true })
    expect(await w('em-dcba', { field: 'mode', value: 3 })).toMatchObject({ ok: true })
    expect(await w('em-abcd', { address: 46, value: 2 })).toMatchObject({ ok: true })
    expect(await w('em-abcd', { field: 'relay', value: true })).toMatchObject({ ok: true })
    expect(await w('em-abcd', { field: 'relay2', value: true })).toMatchObject({ ok: true })
    // 250.5 is 0x437A8000 in float32 (IEEE 754); -70000 is 0xFFFEEE90 in int32; 3 byte-swapped is 0x0300.
    expect(words('float32', 'ABCD', 250.5)).toEqual([0x437a, 0x8000])
    expect(words('int32', 'BADC', -70_000)).toEqual([0xfeff, 0x90ee])
    expect(writes).toEqual([
      { unit: 1, fc: 16, address: 40, values: [0x437a, 0x8000] },
      { unit: 2, fc: 16, address: 40, values: words('float32', 'CDAB', 250.5) },
      { unit: 3, fc: 16, address: 44, values: words('int32', 'BADC', -70_000) },
      { unit: 4, fc: 6, address: 46, values: [0x0300] },
      { unit: 1, fc: 6, address: 46, values: [2] },
      { unit: 1, fc: 5, address: 0, values: [true] },
      { unit: 1, fc: 15, address: 1, values: [true] },
    ])
  })

  it('refuses a write to a read-only point or out of range before anything reaches the server', async () => {
    const before = writes.length
    const w = source.write!
    expect(await w('em-abcd', { field: 'voltage_a_v', value: 1 })).toMatchObject({ ok: false, code: 'not_writable' })
    expect(await w('em-abcd', { field: 'mode', value: 4 })).toMatchObject({ ok: false, code: 'out_of_range' })
    await sleep(200)
    expect(writes.length).toBe(before)
  })
})

describe('the gateway with a modbus-tcp source against modbus-serial ServerTCP: HTTP writes, counted exceptions', () => {
  const tmp = tempDir('modbus-serial-gw-')
  const writes: Write[] = []
  let server: ModbusSerialServer
  let gw: Gateway
  let http = ''
  const SOURCE = 'meters'

  beforeAll(async () => {
    server = await startModbusSerialServer(vectorOver(images(), writes))
    gw = gatewayFrom(
      {
        dataDir: join(tmp.dir, 'gw'),
        http: { port: await freePort() },
        sources: [
          {
            type: 'modbus-tcp',
            id: SOURCE,
            port: server.port,
            timeoutMs: 2000,
            devices: [
              { device: 'em-dcba', unit: UNIT_OF.get('DCBA')!, profile: allTypesProfile(tmp.dir, 'DCBA'), intervalMs: 300 },
              { device: 'em-no-inputs', unit: NO_INPUTS_UNIT, profile: allTypesProfile(tmp.dir, 'ABCD'), intervalMs: 300 },
              { device: 'em-refusing', unit: REFUSING_UNIT, profile: allTypesProfile(tmp.dir, 'ABCD'), intervalMs: 300 },
            ],
          },
        ],
        devices: [
          { id: 'em-dcba', kind: 'energy_meter', district: 'test' },
          { id: 'em-no-inputs', kind: 'energy_meter', district: 'test' },
          { id: 'em-refusing', kind: 'energy_meter', district: 'test' },
        ],
      },
      { mqttPort: await freePort() },
    )
    await gw.start()
    http = gw.endpoints().http!
  })

  afterAll(async () => {
    await gw?.stop()
    await server?.close()
    tmp.cleanup()
  })

  const post = (id: string, body: unknown) => fetch(`${http}/api/devices/${id}/write`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

  it('counts the exception reply by reason and keeps it in the dead-letter log', async () => {
    await waitFor(async () => (await metricValue(gw, 'smartcity_readings_rejected_total', { source: SOURCE, reason: 'modbus_exception' })) >= 1, 15_000, 'a counted modbus_exception')
    const file = join(tmp.dir, 'gw', 'deadletter', 'deadletter.jsonl')
    const entry = await waitFor(() => {
      try {
        return readFileSync(file, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .find((e) => e['reason'] === 'modbus_exception')
      } catch {
        return undefined
      }
    }, 10_000, 'a modbus_exception line in deadletter.jsonl')
    expect(entry).toMatchObject({ source: SOURCE, device: 'em-no-inputs', address: `127.0.0.1:${server.port}` })
    expect(entry['detail']).toMatch(/^unit 6: .*\(2\)$/)
    expect(String(entry['raw_hex'])).toMatch(/8402$/)
  })

  it('POST /api/devices/:id/write reaches setRegisterArray/setRegister with the words in the device order', async () => {
    writes.length = 0
    const ok = await post('em-dcba', { field: 'setpoint', value: 250.5 })
    expect(ok.status).toBe(200)
    expect(await post('em-dcba', { field: 'mode', value: 1 }).then((r) => r.status)).toBe(200)
    // 250.5 as float32 is 43 7A 80 00; in DCBA it travels 00 80 7A 43, registers 0x0080 0x7A43.
    expect(writes).toEqual([
      { unit: 4, fc: 16, address: 40, values: [0x0080, 0x7a43] },
      { unit: 4, fc: 6, address: 46, values: [0x0100] },
    ])
    const ro = await post('em-dcba', { field: 'voltage_a_v', value: 1 })
    expect(ro.status).toBe(422)
    expect(await ro.json()).toMatchObject({ error: 'not_writable' })
  })

  it('a write the device refuses with an exception is a 422 modbus_exception naming the code', async () => {
    const r = await post('em-refusing', { field: 'mode', value: 1 })
    expect(r.status).toBe(422)
    const body = (await r.json()) as { error: string; message: string }
    expect(body.error).toBe('modbus_exception')
    expect(body.message).toMatch(/\(4\)$/)
  })
})
