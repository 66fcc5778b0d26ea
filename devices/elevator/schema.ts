import { z } from 'zod'
import { Timestamp } from '../common/time.ts'

/**
 * Elevator running status (GB/T 24476-2017 clause 9 data items) as the monitor publishes it over MQTT on
 * `city/<district>/elevator/<device>/telemetry`. `door_state` and `power_ok` are this project's additions
 * (README.md): they let the gateway see failed door cycles and a monitor running on its battery.
 */
export const ElevatorStatusReading = z.strictObject({
  ts: Timestamp.optional(),
  floor: z.number().int().min(-10).max(300).optional(),
  direction: z.enum(['up', 'down', 'stop']).optional(),
  door_open: z.boolean().optional(),
  /** Door operator state, finer than `door_open`: a `closing` followed by `opening` is a failed close. */
  door_state: z.enum(['open', 'closed', 'opening', 'closing']).optional(),
  moving: z.boolean().optional(),
  speed_m_s: z.number().min(-30).max(30).optional(),
  in_leveling_zone: z.boolean().optional(),
  occupied: z.boolean().optional(),
  run_count: z.number().int().min(0).optional(),
  service_mode: z.enum(['normal', 'inspection', 'fire', 'out_of_service']).optional(),
  /** Mains power present (false: the monitor runs on its backup battery). */
  power_ok: z.boolean().optional(),
})
export type ElevatorStatusReading = z.infer<typeof ElevatorStatusReading>

/** Events the gateway derives itself (docs/data-model.md `elevator_event`). */
export const DERIVED_ELEVATOR_EVENTS = [
  'trapped',
  'door_open_while_moving',
  'overspeed',
  'stopped_outside_leveling',
  'power_loss',
  'door_fault',
  'overrun_top',
  'overrun_bottom',
] as const

/** Every event type a monitor may report (GB/T 24476 clause 11 items commonly reported, protocols.md 6). */
export const ELEVATOR_EVENTS = [...DERIVED_ELEVATOR_EVENTS, 'safety_circuit_open', 'door_lock_open'] as const
export const ElevatorEventName = z.enum(ELEVATOR_EVENTS)
export type ElevatorEventName = z.infer<typeof ElevatorEventName>

/**
 * An event the monitor reports itself on `city/<district>/elevator/<device>/event`
 * (docs/data-model.md: `{"ts": …, "event": "door_fault", "active": true, "floor": 7}`).
 */
export const ElevatorEventMessage = z.strictObject({
  ts: Timestamp.optional(),
  event: ElevatorEventName,
  active: z.boolean(),
  floor: z.number().int().min(-10).max(300).optional(),
  detail: z.string().max(256).optional(),
})
export type ElevatorEventMessage = z.infer<typeof ElevatorEventMessage>
