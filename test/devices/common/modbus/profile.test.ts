import { describe, expect, it } from 'vitest'
import { planProfile, planReads, extractValues, toFields } from '../../../../devices/common/modbus/planner.ts'
import { parseProfile, parseProfileText, type ProfilePoint } from '../../../../devices/common/modbus/profile.ts'
import { BUILTIN_PROFILE_DATA, builtinProfile } from '../../../../devices/modbus-profiles.ts'

const pt = (name: string, address: number, type: ProfilePoint['type'] = 'float32', fn: ProfilePoint['function'] = 'input'): ProfilePoint => ({
  name,
  function: fn,
  address,
  type,
  scale: 1,
  offset: 0,
  writable: false,
})

describe('profiles', () => {
  it('every built-in profile is valid', () => {
    for (const p of BUILTIN_PROFILE_DATA) expect(parseProfile(p), p.name).toMatchObject({ ok: true })
    expect(builtinProfile('eastron-sdm630')?.points.length).toBeGreaterThan(10)
  })

  it('refuses a wrong profile with the key path of each problem', () => {
    const r = parseProfileText(`
name: my-meter
kind: energy_meter
points:
  - { name: v, function: input, address: 0, type: float32, field: voltage_a_v }
  - { name: i, function: input, address: 2, type: float32, field: current_a_a }
  - { name: p, function: input, address: 4, type: float32, field: power_w }
  - { name: w, function: input, address: 6, type: uint16, writable: true }
  - { name: c, function: coil, address: 0, type: uint16 }
`)
    expect(r.ok).toBe(false)
    if (r.ok) return
    const text = r.problems.join('\n')
    expect(text).toMatch(/^points\[2\]\.field: power_w is not a field of energy_meter/m)
    expect(text).toMatch(/^points\[3\]\.writable: input points are read-only/m)
    expect(text).toMatch(/^points\[4\]\.type: coil points are bool/m)
  })

  it('names the key path of a wrong type', () => {
    const r = parseProfile({ name: 'x', kind: 'water_quality', points: [{ name: 'a', function: 'holding', address: 0, type: 'float33' }] })
    expect(r.ok === false && r.problems[0]).toMatch(/^points\[0\]\.type: /)
  })

  it('reports YAML syntax errors', () => {
    expect(parseProfileText('name: [')).toMatchObject({ ok: false })
  })
})

describe('request planner', () => {
  it('merges adjacent points into one read and splits at gaps and the register limit', () => {
    const reads = planReads([pt('a', 0), pt('b', 2), pt('c', 10), pt('d', 100), pt('e', 0, 'uint16', 'holding')], { maxGap: 8 })
    expect(reads.map((r) => [r.fc, r.address, r.quantity])).toEqual([
      [3, 0, 1],
      [4, 0, 12],
      [4, 100, 2],
    ])
    const many = Array.from({ length: 100 }, (_, i) => pt(`p${i}`, i * 2))
    const big = planReads(many, { maxGap: 0 })
    expect(big.map((r) => r.quantity)).toEqual([124, 76])
    expect(big.every((r) => r.quantity <= 125)).toBe(true)
  })

  it('plans the SDM630 in two reads within its 80-register limit', () => {
    const reads = planProfile(builtinProfile('eastron-sdm630')!)
    expect(reads.map((r) => [r.fc, r.address, r.quantity])).toEqual([
      [4, 0x0000, 0x4c],
      [4, 0x0156, 4],
    ])
  })

  it('cuts an answer back into scaled values and canonical fields', () => {
    const sonde = builtinProfile('generic-sonde')!
    const reads = planProfile(sonde)
    const holding = reads.find((r) => r.fc === 3 && r.address === 0)!
    const regs = Array.from({ length: holding.quantity }, () => 0)
    regs[0] = 712
    regs[1] = 0xffec // -2.0 degC
    regs[2] = 888
    regs[8] = 0b10
    const v = extractValues(holding, { registers: regs }, 'ABCD')
    expect(v.get('ph')).toBe(7.12)
    expect(v.get('temperature')).toBe(-2)
    expect(v.get('sensor_fault')).toBe(true)
    expect(toFields(sonde, v)).toMatchObject({ ph: 7.12, water_temp_c: -2, dissolved_oxygen_mg_l: 8.88 })
  })
})
