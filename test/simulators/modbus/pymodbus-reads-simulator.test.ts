import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ModbusProfile } from '../../../devices/common/modbus/profile.ts'
import { toRaw } from '../../../devices/common/modbus/planner.ts'
import { BUILTIN_PROFILES } from '../../../devices/modbus-profiles.ts'
import { simulateRtu, simulateTcp, startPtyPair } from '../../../simulators/modbus/index.ts'
import { have, havePython, PYMODBUS_HELPERS, PYMODBUS_PACKAGES, tempDir } from '../../helpers/env.ts'
import { freePort } from '../../helpers/net.ts'
import { pymodbusRead, type PyReadSpec } from '../../helpers/pymodbus.ts'

const TABLE = { holding: 'hr', input: 'ir', coil: 'co', discrete_input: 'di' } as const
// A fixed clock: the simulator's values hold still while pymodbus reads them.
const T = Date.UTC(2026, 10, 22, 11, 0, 0)

describe.skipIf(!havePython(PYMODBUS_HELPERS, PYMODBUS_PACKAGES))('pymodbus reads our Modbus TCP simulator', () => {
  let sim: Awaited<ReturnType<typeof simulateTcp>>
  const profiles = [...BUILTIN_PROFILES.values()]

  beforeAll(async () => {
    sim = await simulateTcp({ port: await freePort(), now: () => T, devices: profiles.map((profile, i) => ({ unit: i + 1, profile })) })
  })
  afterAll(async () => {
    await sim?.close()
  })

  const check = async (unit: number, profile: ModbusProfile) => {
    const spec: PyReadSpec[] = profile.points.map((p) => ({
      unit,
      table: TABLE[p.function],
      address: p.address,
      ...(p.type !== 'bool' ? { type: p.type } : {}),
      order: p.order ?? profile.order,
      ...(p.length !== undefined ? { length: p.length } : {}),
      ...(p.bit !== undefined ? { bit: p.bit } : {}),
    }))
    const got = await pymodbusRead(sim.port, spec)
    const want = sim.slaves.get(unit)!.model.values(T)
    profile.points.forEach((p, i) => {
      const w = want.get(p.name)
      const g = got[i]
      if (typeof w === 'number') {
        expect(typeof g, p.name).toBe('number')
        const raw = toRaw(w, p)
        if (p.type === 'float32') expect(g as number, p.name).toBeCloseTo(raw, Math.max(0, 5 - Math.ceil(Math.log10(Math.abs(raw) + 1))))
        else expect(g, p.name).toBe(raw)
      } else expect(g, p.name).toEqual(w)
    })
    return { got, want }
  }

  it('Eastron SDM630: every point pymodbus reads is the profile value the simulator holds', async () => {
    const { want } = await check(1, profiles[0]!)
    // Plausible: a three-phase meter at 230 V nominal, 50 Hz.
    expect(want.get('voltage_l1')).toBeGreaterThan(200)
    expect(want.get('frequency')).toBeCloseTo(50, 0)
  })

  it('Chint DTSU666: scaled float32 values in 0.1 V, 0.001 A, 0.1 W', async () => {
    const { got } = await check(2, profiles[1]!)
    // 0x2006 Ua travels in 0.1 V: about 2300.
    expect(got[3] as number).toBeGreaterThan(2000)
  })

  it('generic sonde: scaled integers, bits and the serial-number string', async () => {
    const { got, want } = await check(3, profiles[2]!)
    expect(Number.isInteger(got[0])).toBe(true)
    expect(want.get('ph')).toBeGreaterThan(6)
    expect(want.get('serial_number')).toBe('SIM0003')
  })

  it('over RTU on a socat pty pair too: same values, our CRCs accepted by pymodbus', async () => {
    if (!have('socat')) return
    const tmp = tempDir('modbus-pyrtu-')
    const pty = await startPtyPair(tmp.dir)
    const rtu = await simulateRtu({ path: pty.b, now: () => T, devices: [{ unit: 5, profile: profiles[2]! }] })
    try {
      const p = profiles[2]!
      const regs = p.points.filter((x) => x.function === 'holding' && x.type === 'uint16' && x.field)
      const got = await pymodbusRead(pty.a, regs.map((x) => ({ unit: 5, table: 'hr' as const, address: x.address, type: x.type })))
      const want = rtu.slaves.get(5)!.model.values(T)
      expect(got).toEqual(regs.map((x) => toRaw(want.get(x.name) as number, x)))
    } finally {
      await rtu.close()
      await pty.stop()
      tmp.cleanup()
    }
  })

  it('a unit nobody answers for gets exception 11 (gateway target failed to respond)', async () => {
    const [r] = await pymodbusRead(sim.port, [{ unit: 99, table: 'hr', address: 0, type: 'uint16' }])
    expect(JSON.stringify(r)).toMatch(/error/i)
  })
})
