import type { ModbusProfileInput } from '../../common/modbus/profile.ts'

const f32 = (name: string, address: number, unit: string, scale: number, field?: string) => ({
  name,
  function: 'holding' as const,
  address,
  type: 'float32' as const,
  unit,
  scale,
  ...(field ? { field } : {}),
})

/**
 * Chint DTSU666 three-phase meter: float32 registers whose unit differs per quantity (0.1 V, 0.001 A, 0.1 W,
 * 0.001 PF, 0.01 Hz), so every point carries its own scale. Read with FC 03 as most public scripts do
 * (OpenEMS uses FC 04; the meter answers both). Facts: docs/protocols.md section 7 (OpenEMS
 * MeterChintDtsu666Impl.java, gerontec/dtsu666).
 */
export const chintDtsu666 = {
  name: 'chint-dtsu666',
  kind: 'energy_meter',
  manufacturer: 'Chint',
  model: 'DTSU666',
  description: 'Three-phase four-wire meter, RS-485 Modbus RTU, float32 with per-quantity scaling',
  source: 'docs/protocols.md section 7; OpenEMS MeterChintDtsu666Impl.java',
  order: 'ABCD',
  maxGap: 16,
  maxRegisters: 125,
  points: [
    f32('uab', 0x2000, 'V', 0.1),
    f32('ubc', 0x2002, 'V', 0.1),
    f32('uca', 0x2004, 'V', 0.1),
    f32('ua', 0x2006, 'V', 0.1, 'voltage_a_v'),
    f32('ub', 0x2008, 'V', 0.1, 'voltage_b_v'),
    f32('uc', 0x200a, 'V', 0.1, 'voltage_c_v'),
    f32('ia', 0x200c, 'A', 0.001, 'current_a_a'),
    f32('ib', 0x200e, 'A', 0.001, 'current_b_a'),
    f32('ic', 0x2010, 'A', 0.001, 'current_c_a'),
    // 0.1 W on the wire, kW in the canonical field.
    f32('pt', 0x2012, 'kW', 0.0001, 'active_power_kw'),
    f32('pa', 0x2014, 'W', 0.1),
    f32('pb', 0x2016, 'W', 0.1),
    f32('pc', 0x2018, 'W', 0.1),
    f32('qt', 0x201a, 'kvar', 0.0001, 'reactive_power_kvar'),
    f32('pft', 0x202a, '', 0.001, 'power_factor'),
    f32('freq', 0x2044, 'Hz', 0.01, 'frequency_hz'),
    f32('imp_ep', 0x401e, 'kWh', 1, 'import_energy_kwh'),
    f32('exp_ep', 0x4028, 'kWh', 1, 'export_energy_kwh'),
  ],
} satisfies ModbusProfileInput
