import { describe, expect, it } from 'vitest'
import { energyMeter } from '../../../devices/energy-meter/index.ts'

describe('energy_meter JSON readings', () => {
  it('normalizes canonical fields into one energy_meter point', () => {
    const r = energyMeter.readings.telemetry.schema.parse({ ts: 1795000000000, voltage_a_v: 229.8, active_power_kw: -1.5, import_energy_kwh: 10234.56 })
    expect(energyMeter.readings.telemetry.toPoints(r, { receivedAt: 0 })).toEqual([{ measurement: 'energy_meter', tags: {}, fields: { voltage_a_v: 229.8, active_power_kw: -1.5, import_energy_kwh: 10234.56 }, time: 1795000000000 }])
  })
  it('refuses a power factor above 1 and negative energy', () => {
    expect(energyMeter.readings.telemetry.schema.safeParse({ power_factor: 1.2 }).success).toBe(false)
    expect(energyMeter.readings.telemetry.schema.safeParse({ import_energy_kwh: -1 }).success).toBe(false)
  })
})
