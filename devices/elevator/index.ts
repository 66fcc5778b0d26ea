import { z } from 'zod'
import { defineDeviceKind, type NormalizeContext, readingType } from '../common/kind.ts'
import type { FieldValue, Point } from '../common/point.ts'
import { timestampMs } from '../common/time.ts'
import { ElevatorEventMessage, ElevatorStatusReading } from './schema.ts'

/**
 * A monitor's own event report (`/event` topic) as an `elevator_event_report` point: the raw report, kept
 * for audit. The canonical `elevator_event` start/clear points are written by the gateway's elevator
 * processor, which reconciles these reports with the events it derives (so a fault is never doubled).
 */
export function elevatorEventReportPoints(m: ElevatorEventMessage, ctx: NormalizeContext): Point[] {
  const fields: Record<string, FieldValue> = { active: m.active }
  if (m.floor !== undefined) fields['floor'] = m.floor
  if (m.detail !== undefined) fields['detail'] = m.detail
  return [{ measurement: 'elevator_event_report', tags: { event: m.event }, fields, time: timestampMs(m.ts, ctx.receivedAt) }]
}

/** The `event` reading type (`city/<district>/elevator/<device>/event`): validate with `schema`, then `toPoints`. */
export const elevatorEvents = readingType(ElevatorEventMessage, elevatorEventReportPoints)

/**
 * The JSON Schema of the `/event` payload (draft 2020-12), for monitor vendors. `event.schema.json` next to
 * this file is this function's output; a test keeps the two equal.
 */
export function elevatorEventJsonSchema(): Record<string, unknown> {
  return { ...z.toJSONSchema(ElevatorEventMessage, { io: 'input' }), title: 'Elevator monitor event (city/<district>/elevator/<device>/event)' }
}

/** Back from an `elevator_event_report` point to the message (the processor reads reports from batches). */
export function reportFromPoint(p: Point): ElevatorEventMessage | undefined {
  if (p.measurement !== 'elevator_event_report') return undefined
  const r = ElevatorEventMessage.safeParse({ event: p.tags['event'], ts: p.time, ...p.fields })
  return r.success ? r.data : undefined
}

export const elevator = defineDeviceKind({
  kind: 'elevator',
  folder: 'elevator',
  measurement: 'elevator_status',
  readings: {
    telemetry: readingType(ElevatorStatusReading, (r, ctx) => {
      const { ts, ...rest } = r
      return [{ measurement: 'elevator_status', tags: {}, fields: rest as Record<string, FieldValue>, time: timestampMs(ts, ctx.receivedAt) }]
    }),
    event: elevatorEvents,
  },
  decoders: [],
})
