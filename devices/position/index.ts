import { defineDeviceKind } from '../common/kind.ts'
import type { FieldValue } from '../common/point.ts'
import { timestampMs } from '../common/time.ts'
import { PositionReading } from './schema.ts'

export const position = defineDeviceKind({
  kind: 'position',
  folder: 'position',
  measurement: 'position',
  schema: PositionReading,
  toPoints: (r, ctx) => {
    const { ts, system, ...rest } = r
    return [{ measurement: 'position', tags: { system: system ?? 'GNSS' }, fields: rest as Record<string, FieldValue>, time: timestampMs(ts, ctx.receivedAt) }]
  },
  decoders: [],
})
