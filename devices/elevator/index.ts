import { defineDeviceKind } from '../common/kind.ts'
import type { FieldValue } from '../common/point.ts'
import { timestampMs } from '../common/time.ts'
import { ElevatorStatusReading } from './schema.ts'

export const elevator = defineDeviceKind({
  kind: 'elevator',
  folder: 'elevator',
  measurement: 'elevator_status',
  schema: ElevatorStatusReading,
  toPoints: (r, ctx) => {
    const { ts, ...rest } = r
    return [{ measurement: 'elevator_status', tags: {}, fields: rest as Record<string, FieldValue>, time: timestampMs(ts, ctx.receivedAt) }]
  },
  decoders: [],
})
