import { z } from 'zod'
import { Timestamp } from '../common/time.ts'

/** Elevator running status (GB/T 24476-2017 clause 9 data items) as the monitor publishes it over MQTT. */
export const ElevatorStatusReading = z.strictObject({
  ts: Timestamp.optional(),
  floor: z.number().int().min(-10).max(300).optional(),
  direction: z.enum(['up', 'down', 'stop']).optional(),
  door_open: z.boolean().optional(),
  moving: z.boolean().optional(),
  speed_m_s: z.number().min(-30).max(30).optional(),
  in_leveling_zone: z.boolean().optional(),
  occupied: z.boolean().optional(),
  run_count: z.number().int().min(0).optional(),
  service_mode: z.enum(['normal', 'inspection', 'fire', 'out_of_service']).optional(),
})
export type ElevatorStatusReading = z.infer<typeof ElevatorStatusReading>
