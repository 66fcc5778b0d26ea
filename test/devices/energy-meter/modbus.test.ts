import { describe, expect, it } from 'vitest'
import { parseHex } from '../../../devices/common/hex.ts'
import { decodeResponse } from '../../../devices/common/modbus/pdu.ts'
import { extractValues, planProfile, toFields } from '../../../devices/common/modbus/planner.ts'
import { parseProfile } from '../../../devices/common/modbus/profile.ts'
import { decodeRtu } from '../../../devices/common/modbus/rtu.ts'
import { energyMeter } from '../../../devices/energy-meter/index.ts'
import { builtinProfile } from '../../../devices/modbus-profiles.ts'
import { waterQualityPoint } from '../../../devices/water-quality/index.ts'

function registersOf(hex: string): number[] {
  const f = decodeRtu(parseHex(hex)!)
  if (!f.ok) throw new Error(f.reason)
  const r = decodeResponse(f.value.pdu)
  if (!r.ok || !('registers' in r.value)) throw new Error('not a register response')
  return r.value.registers
}

describe('golden Modbus frames through the built-in profiles (docs/protocols.md section 7)', () => {
  it('SDM630 01 04 04 43 66 33 34 1B 38 -> energy_meter voltage_a_v 230.20001', () => {
    const sdm = builtinProfile('eastron-sdm630')!
    // The published frame answers a 2-register read at 0: cut it out of the planned read.
    const read = { ...planProfile(sdm)[0]!, quantity: 2, points: sdm.points.filter((p) => p.address === 0) }
    const fields = toFields(sdm, extractValues(read, { registers: registersOf('01 04 04 43 66 33 34 1B 38') }, sdm.order))
    expect(fields).toEqual({ voltage_a_v: 230.20001 })
    const reading = energyMeter.readings.telemetry.schema.parse(fields)
    expect(energyMeter.readings.telemetry.toPoints(reading, { receivedAt: 1_795_000_000_000 })).toEqual([
      { measurement: 'energy_meter', tags: {}, fields: { voltage_a_v: 230.20001 }, time: 1_795_000_000_000 },
    ])
  })

  it('Chint DDSU666 01 04 04 43 65 E6 66 34 55 -> 229.9 V', () => {
    expect(registersOf('01 04 04 43 65 E6 66 34 55')).toEqual([0x4365, 0xe666])
    const p = parseProfile({ name: 'ddsu666', kind: 'energy_meter', points: [{ name: 'u', function: 'input', address: 0x2000, type: 'float32', field: 'voltage_a_v' }] })
    if (!p.ok) throw new Error(p.problems.join())
    const read = planProfile(p.profile)[0]!
    expect(toFields(p.profile, extractValues(read, { registers: [0x4365, 0xe666] }, 'ABCD'))).toEqual({ voltage_a_v: 229.9 })
  })

  it('Dragino DR-DO1 14 03 02 03 78 B5 55 -> water_quality DO 8.88 mg/L, GB 3838 class I', () => {
    const p = parseProfile({ name: 'dr-do1', kind: 'water_quality', points: [{ name: 'do', function: 'holding', address: 0x14, type: 'uint16', scale: 0.01, field: 'dissolved_oxygen_mg_l' }] })
    if (!p.ok) throw new Error(p.problems.join())
    const read = planProfile(p.profile)[0]!
    expect([read.fc, read.address, read.quantity]).toEqual([3, 0x14, 1])
    const fields = toFields(p.profile, extractValues(read, { registers: registersOf('14 03 02 03 78 B5 55') }, 'ABCD'))
    expect(waterQualityPoint(fields, { receivedAt: 0 }).fields).toEqual({ dissolved_oxygen_mg_l: 8.88, gb3838_class: 1, gb3838_factor: 'dissolved_oxygen_mg_l' })
  })
})
