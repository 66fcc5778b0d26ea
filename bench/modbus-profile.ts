import type { ModbusProfileInput } from '../devices/common/modbus/profile.ts'

const FIELDS = [
  'voltage_a_v',
  'voltage_b_v',
  'voltage_c_v',
  'current_a_a',
  'current_b_a',
  'current_c_a',
  'active_power_kw',
  'reactive_power_kvar',
  'power_factor',
  'frequency_hz',
] as const

/** 10 float32 points = 20 contiguous input registers: one read per poll. */
export const BENCH_PROFILE = {
  name: 'bench-20-registers',
  kind: 'energy_meter',
  points: FIELDS.map((field, i) => ({ name: field, function: 'input' as const, address: 2 * i, type: 'float32' as const, field })),
} satisfies ModbusProfileInput
