import { defineDeviceKind } from '../common/kind.ts'
import type { FieldValue } from '../common/point.ts'
import { timestampMs } from '../common/time.ts'
import { EtcTransactionReading } from './schema.ts'

export const etc = defineDeviceKind({
  kind: 'etc',
  folder: 'etc',
  measurement: 'etc_transaction',
  schema: EtcTransactionReading,
  toPoints: (r, ctx) => {
    const { ts, lane, result, ...rest } = r
    return [{ measurement: 'etc_transaction', tags: { lane, result }, fields: rest as Record<string, FieldValue>, time: timestampMs(ts, ctx.receivedAt) }]
  },
  decoders: [],
})
