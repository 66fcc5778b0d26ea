import { z } from 'zod'
import { Timestamp } from '../common/time.ts'

/** An energy-meter reading in canonical field names (docs/data-model.md), with plausibility ranges. */
export const EnergyMeterReading = z.strictObject({
  ts: Timestamp.optional(),
  voltage_a_v: z.number().min(0).max(1_000_000).optional(),
  voltage_b_v: z.number().min(0).max(1_000_000).optional(),
  voltage_c_v: z.number().min(0).max(1_000_000).optional(),
  current_a_a: z.number().min(-100_000).max(100_000).optional(),
  current_b_a: z.number().min(-100_000).max(100_000).optional(),
  current_c_a: z.number().min(-100_000).max(100_000).optional(),
  active_power_kw: z.number().min(-1_000_000).max(1_000_000).optional(),
  reactive_power_kvar: z.number().min(-1_000_000).max(1_000_000).optional(),
  power_factor: z.number().min(-1).max(1).optional(),
  frequency_hz: z.number().min(40).max(70).optional(),
  import_energy_kwh: z.number().min(0).optional(),
  export_energy_kwh: z.number().min(0).optional(),
  // event counters the meter keeps (DL/T 645 1D000001, 03300D00)
  trip_count: z.number().int().min(0).optional(),
  cover_open_count: z.number().int().min(0).optional(),
})
export type EnergyMeterReading = z.infer<typeof EnergyMeterReading>
