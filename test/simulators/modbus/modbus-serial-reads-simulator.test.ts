/**
 * modbus-serial's client (npm modbus-serial 8, an implementation independent of ours) reads and writes our Modbus
 * simulators over Modbus TCP, RTU frames over TCP and RTU on a socat pseudo-terminal. What it reads is decoded
 * here with Node's Buffer methods (test/helpers/modbus-serial.ts), never with our codec, and must be the raw
 * value the simulator's model holds. Frame formats: Modbus Application Protocol Specification V1.1b3 (FC 1-6,
 * 15, 16, exception responses) and Modbus over Serial Line V1.02 (RTU framing, CRC-16).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toRaw } from '../../../devices/common/modbus/planner.ts'
import { type ModbusProfile, parseProfile, parseProfileText } from '../../../devices/common/modbus/profile.ts'
import { BUILTIN_PROFILES } from '../../../devices/modbus-profiles.ts'
import { type SimDevice, type Slave, simulateRtu, simulateRtuOverTcp, simulateTcp, startPtyPair } from '../../../simulators/modbus/index.ts'
import { have, tempDir } from '../../helpers/env.ts'
import { ALL_TYPES, allTypesProfileText, ORDERS } from '../../helpers/modbus-peers.ts'
import { type ClientLink, layOut, modbusSerialClient, readBack, registersIn, registersOf } from '../../helpers/modbus-serial.ts'
import { freePort } from '../../helpers/net.ts'

// A fixed clock: the simulator's values hold still while modbus-serial reads them.
const T = Date.UTC(2026, 10, 22, 11, 0, 0)
const now = () => T

function profile(data: unknown): ModbusProfile {
  const r = typeof data === 'string' ? parseProfileText(data) : parseProfile(data)
  if (!r.ok) throw new Error(r.problems.join('\n'))
  return r.profile
}

// A string in each order (7 bytes, so the pad byte of the last register shows), bits of a register, coils and
// discrete inputs.
const STRINGS_AND_BITS = profile({
  name: 'test-strings-and-bits',
  kind: 'water_quality',
  points: [
    { name: 'ph', function: 'holding', address: 0, type: 'uint16', scale: 0.01, field: 'ph' },
    { name: 'fault', function: 'holding', address: 1, type: 'bit', bit: 3 },
    { name: 'ready', function: 'holding', address: 1, type: 'bit', bit: 15 },
    { name: 'idle', function: 'holding', address: 1, type: 'bit', bit: 0 },
    ...ORDERS.map((o, i) => ({ name: `serial_${o.toLowerCase()}`, function: 'holding', address: 10 + 4 * i, type: 'string', length: 7, order: o })),
    { name: 'pump', function: 'coil', address: 0, type: 'bool', writable: true },
    { name: 'wipe', function: 'coil', address: 1, type: 'bool', writable: true },
    // Ten coils in all: a FC 1 answer and a FC 15 request of two data bytes.
    ...Array.from({ length: 8 }, (_, i) => ({ name: `valve_${i + 2}`, function: 'coil', address: i + 2, type: 'bool', writable: true })),
    { name: 'door', function: 'discrete_input', address: 0, type: 'bool' },
    { name: 'level_low', function: 'discrete_input', address: 3, type: 'bool' },
  ],
})
const HELD_BITS = { fault: true, ready: true, idle: false, pump: true, wipe: false, door: false, level_low: true }

// Units 1-3: the built-in profiles with the simulator's own model. Units 11-14: every numeric type in one order
// each, holding the shared table's values. Unit 20: strings, bits, coils, discrete inputs.
const BUILTINS = [...BUILTIN_PROFILES.values()]
const ALL_TYPE_UNITS = ORDERS.map((o, i) => ({ unit: 11 + i, order: o, profile: profile(allTypesProfileText(o)) }))
const DEVICES: SimDevice[] = [
  ...BUILTINS.map((p, i) => ({ unit: i + 1, profile: p })),
  ...ALL_TYPE_UNITS.map(({ unit, profile }) => ({ unit, profile })),
  { unit: 20, profile: STRINGS_AND_BITS },
]

/** Put the chosen values into the simulators' models (the same in every simulator of this file). */
function hold(slaves: Map<number, Slave>): void {
  for (const { unit } of ALL_TYPE_UNITS) for (const t of ALL_TYPES) slaves.get(unit)!.model.set(t.name, t.value)
  const s = slaves.get(20)!
  for (const [i, o] of ORDERS.entries()) s.model.set(`serial_${o.toLowerCase()}`, `S${i}-${o}`)
  for (const [name, v] of Object.entries(HELD_BITS)) s.model.set(name, v)
}

type Client = Awaited<ReturnType<typeof modbusSerialClient>>

/** Read one point with modbus-serial and decode it with Buffer methods. */
async function readPoint(c: Client, unit: number, p: ModbusProfile['points'][number], order: (typeof ORDERS)[number]): Promise<unknown> {
  c.setID(unit)
  if (p.function === 'coil') return (await c.readCoils(p.address, 1)).data[0]
  if (p.function === 'discrete_input') return (await c.readDiscreteInputs(p.address, 1)).data[0]
  if (p.type === 'bool') throw new Error(`${p.name}: bool on a register table`)
  const n = p.type === 'bit' ? 1 : registersOf(p.type, p.length)
  const r = p.function === 'holding' ? await c.readHoldingRegisters(p.address, n) : await c.readInputRegisters(p.address, n)
  expect(r.buffer.length, p.name).toBe(2 * n)
  if (p.type === 'bit') return ((r.data[0]! >> p.bit!) & 1) === 1
  return readBack(p.type, p.order ?? order, r.buffer, p.length)
}

/** What modbus-serial must read for a point: the model's value as raw register contents. */
function expected(slave: Slave, p: ModbusProfile['points'][number]): unknown {
  const w = slave.model.values(T).get(p.name)
  if (typeof w !== 'number') return w
  const raw = toRaw(w, p)
  if (p.type === 'float32') return Math.fround(raw)
  if (p.type === 'int64' || p.type === 'uint64') return BigInt(raw)
  return raw
}

/** Read every point of every unit and compare with the model; returns what was read, by unit and point name. */
async function readAll(c: Client, slaves: Map<number, Slave>): Promise<Map<number, Map<string, unknown>>> {
  const out = new Map<number, Map<string, unknown>>()
  for (const d of DEVICES) {
    const slave = slaves.get(d.unit)!
    const got = new Map<string, unknown>()
    for (const p of d.profile.points) {
      const g = await readPoint(c, d.unit, p, d.profile.order)
      expect(g, `unit ${d.unit} ${p.name}`).toStrictEqual(expected(slave, p))
      got.set(p.name, g)
    }
    out.set(d.unit, got)
  }
  return out
}

/** Independent of the model: the table's raw values, the strings and the bits as held. */
function checkHeld(got: Map<number, Map<string, unknown>>): void {
  for (const { unit } of ALL_TYPE_UNITS) {
    for (const t of ALL_TYPES) expect(got.get(unit)!.get(t.name), `unit ${unit} ${t.name}`).toStrictEqual(t.type === 'int64' || t.type === 'uint64' ? BigInt(t.raw) : t.raw)
  }
  const s = got.get(20)!
  for (const [i, o] of ORDERS.entries()) expect(s.get(`serial_${o.toLowerCase()}`)).toBe(`S${i}-${o}`)
  for (const [name, v] of Object.entries(HELD_BITS)) expect(s.get(name), name).toBe(v)
}

/** FC 5, 6, 15 and 16 from modbus-serial reach the model; a write to a read-only register is refused (exception 2). */
async function checkWrites(c: Client, slaves: Map<number, Slave>, unit: number): Promise<void> {
  const { order } = ALL_TYPE_UNITS.find((u) => u.unit === unit)!
  const model = slaves.get(unit)!.model
  c.setID(unit)
  const u16 = (v: number) => registersIn(layOut('uint16', order, v))[0]!
  // 250.5 is exactly 0x437A8000 in float32 (IEEE 754).
  expect(await c.writeRegisters(40, registersIn(layOut('float32', order, 250.5)))).toEqual({ address: 40, length: 2 })
  expect(await c.writeRegisters(44, registersIn(layOut('int32', order, -70_000)))).toEqual({ address: 44, length: 2 })
  expect(await c.writeRegister(46, u16(3))).toEqual({ address: 46, value: u16(3) })
  expect(await c.writeCoil(0, true)).toEqual({ address: 0, state: true })
  expect(await c.writeCoils(1, [true])).toEqual({ address: 1, length: 1 })
  const v = model.values(T)
  expect([v.get('setpoint'), v.get('limit'), v.get('mode'), v.get('relay'), v.get('relay2')]).toEqual([250.5, -70_000, 3, true, true])
  // Read back through modbus-serial too.
  expect(readBack('float32', order, (await c.readHoldingRegisters(40, 2)).buffer)).toBe(250.5)
  expect(readBack('int32', order, (await c.readHoldingRegisters(44, 2)).buffer)).toBe(-70_000)
  expect(readBack('uint16', order, (await c.readHoldingRegisters(46, 1)).buffer)).toBe(3)
  expect((await c.readCoils(0, 2)).data.slice(0, 2)).toEqual([true, true])
  // Out of the profile's range (mode: 0..3), and read-only: the simulator answers exception 2.
  await expect(c.writeRegister(46, u16(4))).rejects.toMatchObject({ modbusCode: 2 })
  await expect(c.writeRegister(0, 1)).rejects.toMatchObject({ modbusCode: 2 })
  expect(model.values(T).get('mode')).toBe(3)
  // Undo, so that every reader of this model sees the values it held.
  await c.writeRegisters(40, registersIn(layOut('float32', order, 0)))
  await c.writeRegisters(44, registersIn(layOut('int32', order, 0)))
  await c.writeRegister(46, 0)
  await c.writeCoils(0, [false, false])
  expect((await c.readCoils(0, 2)).data.slice(0, 2)).toEqual([false, false])
}

describe('modbus-serial reads our Modbus TCP and RTU-over-TCP simulators', () => {
  let tcp: Awaited<ReturnType<typeof simulateTcp>>
  let rtuTcp: Awaited<ReturnType<typeof simulateRtuOverTcp>>

  beforeAll(async () => {
    tcp = await simulateTcp({ port: await freePort(), now, devices: DEVICES })
    rtuTcp = await simulateRtuOverTcp({ port: await freePort(), now, devices: DEVICES })
    hold(tcp.slaves)
    hold(rtuTcp.slaves)
  })
  afterAll(async () => {
    await tcp?.close()
    await rtuTcp?.close()
  })

  const links: { name: string; link: () => ClientLink; slaves: () => Map<number, Slave> }[] = [
    { name: 'connectTCP (Modbus TCP)', link: () => ({ via: 'tcp', port: tcp.port }), slaves: () => tcp.slaves },
    { name: 'connectTcpRTUBuffered (Modbus TCP, buffered)', link: () => ({ via: 'tcp-rtu-buffered', port: tcp.port }), slaves: () => tcp.slaves },
    { name: 'connectTelnet (RTU frames over TCP)', link: () => ({ via: 'telnet', port: rtuTcp.port }), slaves: () => rtuTcp.slaves },
  ]
  for (const l of links) {
    it(`${l.name}: every point of every type and order is the value the model holds`, async () => {
      const c = await modbusSerialClient(l.link())
      try {
        const got = await readAll(c, l.slaves())
        checkHeld(got)
        // Plausible values from the simulator's own model: a meter at 230 V nominal, 50 Hz; a sonde's pH.
        expect(got.get(1)!.get('voltage_l1') as number).toBeGreaterThan(200)
        expect(got.get(1)!.get('frequency') as number).toBeCloseTo(50, 0)
        expect(got.get(3)!.get('serial_number')).toBe('SIM0003')
      } finally {
        await c.end()
      }
    })
  }

  it('writes with FC 5, 6, 15 and 16 reach the simulator in every word order', async () => {
    const c = await modbusSerialClient({ via: 'tcp', port: tcp.port })
    try {
      for (const { unit } of ALL_TYPE_UNITS) await checkWrites(c, tcp.slaves, unit)
    } finally {
      await c.end()
    }
  })

  it('writes through RTU frames over TCP reach the simulator too', async () => {
    const c = await modbusSerialClient({ via: 'telnet', port: rtuTcp.port })
    try {
      await checkWrites(c, rtuTcp.slaves, 12)
    } finally {
      await c.end()
    }
  })

  it('FC 15 and FC 1 over ten coils: bit i of data byte i / 8 is coil i, the pad bits of the last byte are zero', async () => {
    const c = await modbusSerialClient({ via: 'tcp', port: tcp.port })
    const model = tcp.slaves.get(20)!.model
    const pattern = [true, false, true, true, false, false, false, true, false, true]
    try {
      c.setID(20)
      expect(await c.writeCoils(0, pattern)).toEqual({ address: 0, length: 10 })
      const v = model.values(T)
      expect(['pump', 'wipe', ...Array.from({ length: 8 }, (_, i) => `valve_${i + 2}`)].map((n) => v.get(n))).toEqual(pattern)
      const r = await c.readCoils(0, 10)
      // 1 0 1 1 0 0 0 1 | 0 1: LSB first, 0x8D then 0x02 (V1.1b3 section 6.1).
      expect(r.buffer).toEqual(Buffer.from([0x8d, 0x02]))
      expect(r.data.slice(0, 10)).toEqual(pattern)
    } finally {
      await c.writeCoils(0, [HELD_BITS.pump, HELD_BITS.wipe, ...Array.from({ length: 8 }, () => false)])
      await c.end()
    }
  })

  it('answers malformed or unsupported requests with the exception codes of V1.1b3 (sections 6 and 7)', async () => {
    const c = await modbusSerialClient({ via: 'tcp', port: tcp.port })
    try {
      c.setID(11)
      // Quantity of registers outside 1..125 (section 6.3): 03 ILLEGAL DATA VALUE.
      await expect(c.readHoldingRegisters(0, 126)).rejects.toMatchObject({ modbusCode: 3 })
      // Quantity of coils outside 1..2000 (section 6.1): 03.
      await expect(c.readCoils(0, 2001)).rejects.toMatchObject({ modbusCode: 3 })
      // Registers the device does not have (section 6.3): 02 ILLEGAL DATA ADDRESS.
      await expect(c.readHoldingRegisters(1000, 2)).rejects.toMatchObject({ modbusCode: 2 })
      await expect(c.readInputRegisters(0, 7)).rejects.toMatchObject({ modbusCode: 2 })
      // FC 5 with an output value other than FF00 or 0000 (section 6.5): 03.
      await expect(c.customFunction(5, [0x00, 0x00, 0x12, 0x34])).rejects.toMatchObject({ modbusCode: 3 })
      // FC 22 (mask write register) is not implemented: 01 ILLEGAL FUNCTION.
      await expect(c.maskWriteRegister(46, 0x00ff, 0x0000)).rejects.toMatchObject({ modbusCode: 1 })
      // Still serving after all that.
      expect(readBack('int16', 'ABCD', (await c.readHoldingRegisters(0, 1)).buffer)).toBe(2302)
    } finally {
      await c.end()
    }
  })

  it('a unit nobody answers for gets exception 11 (gateway target device failed to respond) over Modbus TCP', async () => {
    const c = await modbusSerialClient({ via: 'tcp', port: tcp.port })
    try {
      c.setID(99)
      await expect(c.readHoldingRegisters(0, 1)).rejects.toMatchObject({ modbusCode: 11 })
    } finally {
      await c.end()
    }
  })
})

describe.skipIf(!have('socat'))('modbus-serial reads our RTU simulator on a socat pseudo-terminal (connectRTUBuffered)', () => {
  const tmp = tempDir('modbus-serial-rtu-')
  let pty: Awaited<ReturnType<typeof startPtyPair>>
  let rtu: Awaited<ReturnType<typeof simulateRtu>>

  beforeAll(async () => {
    pty = await startPtyPair(tmp.dir)
    rtu = await simulateRtu({ path: pty.b, now, devices: DEVICES })
    hold(rtu.slaves)
  })
  afterAll(async () => {
    await rtu?.close()
    await pty?.stop()
    tmp.cleanup()
  })

  it('every point of every type and order, our CRCs accepted; writes reach the simulator', async () => {
    const c = await modbusSerialClient({ via: 'rtu-buffered', path: pty.a })
    try {
      checkHeld(await readAll(c, rtu.slaves))
      await checkWrites(c, rtu.slaves, 14)
      expect(rtu.counters.badFrames).toBe(0)
    } finally {
      await c.end()
    }
  })

  it('a unit that is not on the bus stays silent: modbus-serial times out', async () => {
    const c = await modbusSerialClient({ via: 'rtu-buffered', path: pty.a }, 300)
    try {
      c.setID(99)
      await expect(c.readHoldingRegisters(0, 1)).rejects.toMatchObject({ errno: 'ETIMEDOUT' })
    } finally {
      await c.end()
    }
  })
})
