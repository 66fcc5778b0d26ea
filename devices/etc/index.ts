import { defineDeviceKind, readingType } from '../common/kind.ts'
import type { FieldValue } from '../common/point.ts'
import { timestampMs } from '../common/time.ts'
import { etcRsuCodec } from './rsu/index.ts'
import { EtcTransactionReading, RsuStatusReading } from './schema.ts'

/** One ETC passage as an `etc_transaction` point tagged with its lane and result. */
const etcTransaction = readingType(EtcTransactionReading, (r, ctx) => {
  const { ts, lane, result, ...rest } = r
  return [{ measurement: 'etc_transaction', tags: { lane, result }, fields: rest as Record<string, FieldValue>, time: timestampMs(ts, ctx.receivedAt) }]
})

export const etc = defineDeviceKind({
  kind: 'etc',
  folder: 'etc',
  measurement: 'etc_transaction',
  readings: {
    telemetry: etcTransaction,
    /** A passage the lane controller completed (B2 -> B3/B4 -> B5): the same reading as JSON telemetry. */
    transaction: etcTransaction,
    /** The RSU's state: a B0 status frame (devices/etc/rsu/codec.ts), or the lane's link going up or down. */
    rsu_status: readingType(RsuStatusReading, (r, ctx) => {
      const { ts, ...rest } = r
      return [{ measurement: 'etc_rsu_status', tags: {}, fields: rest as Record<string, FieldValue>, time: timestampMs(ts, ctx.receivedAt) }]
    }),
  },
  /** `smartcity decode etc-rsu` (auto layouts; `--profile` picks `etcRsuCodec(profile)`). */
  decoders: [],
  codecs: [etcRsuCodec()],
})
