import { type DecodeLineResult, defineDeviceKind, type LineDecoder, type NormalizeContext, readingType } from '../common/kind.ts'
import type { FieldValue, Point } from '../common/point.ts'
import { timestampMs } from '../common/time.ts'
import { parseHex } from '../common/hex.ts'
import { createRsuReader, isHeartbeat, RSU_STATUS_BITS, type RsuFrame, type RsuProfileChoice, unframeRsu } from './rsu/index.ts'
import { EtcTransactionReading, RsuStatusReading } from './schema.ts'

/** `etc_rsu_status` from a B0 (RSU status) frame. */
export function rsuStatusPoint(frame: RsuFrame, time: number): Point | undefined {
  const status = frame.fields['rsuStatus']
  if (frame.type !== 'B0' || typeof status !== 'number') return undefined
  return {
    measurement: 'etc_rsu_status',
    tags: {},
    fields: {
      online: true,
      antenna_ok: (status & RSU_STATUS_BITS.antennaFault) === 0,
      psam_ok: (status & RSU_STATUS_BITS.psamFault) === 0,
      rsu_status: status,
    },
    time,
  }
}

/**
 * Points one frame gives on its own: B0 gives `etc_rsu_status`. A passage (`etc_transaction`) needs the
 * whole B2 -> B3/B4 -> B5 exchange, so the gateway's ETC source writes it, not a single frame.
 */
export function rsuFramePoints(frame: RsuFrame, receivedAt: number): Point[] {
  const p = rsuStatusPoint(frame, receivedAt)
  return p ? [p] : []
}

/**
 * `smartcity decode etc-rsu [--profile classic|2019|auto]`: one hex frame per line. With `auto` (the
 * default) a capture file is read as one connection: a frame only one layout can read tells the layout,
 * and frames both can read differently are read in it from then on (devices/etc/README.md).
 */
export function etcRsuLineDecoder(profile: RsuProfileChoice = 'auto'): LineDecoder {
  const session = () => {
    const reader = createRsuReader(profile)
    return (line: string, ctx: NormalizeContext): DecodeLineResult => {
      const b = parseHex(line)
      if (!b) return { ok: false, error: 'bad_hex: the line is not an even number of hex digits' }
      const u = unframeRsu(b)
      const r = u.ok ? reader.read(u.value) : u
      if (!r.ok) return { ok: false, error: r.detail === undefined ? r.reason : `${r.reason}: ${r.detail}` }
      const { frame: fr, profile: used, ambiguous } = r.value
      const frame = {
        rsctl: fr.rsctl.toString(16).padStart(2, '0').toUpperCase(),
        type: fr.type,
        heartbeat: isHeartbeat(fr),
        profile: used.name,
        ...(ambiguous ? { ambiguous: true } : {}),
        fields: fr.fields,
      }
      return { ok: true, frame, points: rsuFramePoints(fr, ctx.receivedAt) }
    }
  }
  return {
    format: 'etc-rsu',
    protocol: 'etc-rsu',
    description: 'ETC RSU <-> lane controller frames (FF FF ... FF, stuffed, XOR BCC), one hex frame per line; --profile classic|2019|auto',
    decodeLine: (line, ctx) => session()(line, ctx),
    session,
  }
}

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
    rsu_status: readingType(RsuStatusReading, (r, ctx) => {
      const { ts, ...rest } = r
      return [{ measurement: 'etc_rsu_status', tags: {}, fields: rest as Record<string, FieldValue>, time: timestampMs(ts, ctx.receivedAt) }]
    }),
  },
  decoders: [etcRsuLineDecoder()],
})
