import type { ModbusProfileInput } from '../../common/modbus/profile.ts'

const f32 = (name: string, address: number, unit: string, field?: string, scale?: number) => ({
  name,
  function: 'input' as const,
  address,
  type: 'float32' as const,
  unit,
  ...(field ? { field } : {}),
  ...(scale !== undefined ? { scale } : {}),
})

/**
 * Eastron SDM630 three-phase meter: input registers (FC 04), IEEE float32, big-endian, high word first.
 * Register facts: docs/protocols.md section 7 (Tasmota xnrg_10_sdm630.ino, Eastron manuals); totals of
 * VAr and PF (30061, 30063) from the Eastron SDM630 Modbus protocol table.
 */
export const eastronSdm630 = {
  name: 'eastron-sdm630',
  kind: 'energy_meter',
  manufacturer: 'Eastron',
  model: 'SDM630-Modbus',
  description: 'Three-phase DIN-rail meter, RS-485 Modbus RTU, float32 input registers',
  source: 'docs/protocols.md section 7; Tasmota xnrg_10_sdm630.ino',
  order: 'ABCD',
  maxGap: 16,
  // The meter answers at most 80 registers per request.
  maxRegisters: 80,
  points: [
    f32('voltage_l1', 0x0000, 'V', 'voltage_a_v'),
    f32('voltage_l2', 0x0002, 'V', 'voltage_b_v'),
    f32('voltage_l3', 0x0004, 'V', 'voltage_c_v'),
    f32('current_l1', 0x0006, 'A', 'current_a_a'),
    f32('current_l2', 0x0008, 'A', 'current_b_a'),
    f32('current_l3', 0x000a, 'A', 'current_c_a'),
    f32('power_l1', 0x000c, 'W'),
    f32('power_l2', 0x000e, 'W'),
    f32('power_l3', 0x0010, 'W'),
    f32('reactive_power_l1', 0x0018, 'var'),
    f32('reactive_power_l2', 0x001a, 'var'),
    f32('reactive_power_l3', 0x001c, 'var'),
    f32('power_factor_l1', 0x001e, ''),
    f32('power_factor_l2', 0x0020, ''),
    f32('power_factor_l3', 0x0022, ''),
    // Total system power is in W; the canonical field is kW.
    f32('total_power', 0x0034, 'W', 'active_power_kw', 0.001),
    f32('total_reactive_power', 0x003c, 'var', 'reactive_power_kvar', 0.001),
    f32('total_power_factor', 0x003e, '', 'power_factor'),
    f32('frequency', 0x0046, 'Hz', 'frequency_hz'),
    f32('import_energy', 0x0048, 'kWh', 'import_energy_kwh'),
    f32('export_energy', 0x004a, 'kWh', 'export_energy_kwh'),
    f32('total_active_energy', 0x0156, 'kWh'),
    f32('total_reactive_energy', 0x0158, 'kvarh'),
  ],
} satisfies ModbusProfileInput
