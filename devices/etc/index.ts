import { defineDeviceKind, type LineDecoder } from '../common/kind.ts'
import type { FieldValue, Point } from '../common/point.ts'
import { timestampMs } from '../common/time.ts'
import { CLASSIC_PROFILE, decodeRsuHex, isHeartbeat, RSU_STATUS_BITS, type RsuFrame, type RsuProfile } from './rsu/index.ts'
import { EtcTransactionReading } from './schema.ts'

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

export function etcRsuLineDecoder(profile: RsuProfile = CLASSIC_PROFILE): LineDecoder {
  return {
    format: 'etc-rsu',
    protocol: 'etc-rsu',
    description: 'ETC RSU <-> lane controller frames (FF FF ... FF, stuffed, XOR BCC), one hex frame per line',
    decodeLine(line, ctx) {
      const r = decodeRsuHex(line, profile)
      if (!r.ok) return { ok: false, error: r.detail === undefined ? r.reason : `${r.reason}: ${r.detail}` }
      const fr = r.value
      const frame = { rsctl: fr.rsctl.toString(16).padStart(2, '0').toUpperCase(), type: fr.type, heartbeat: isHeartbeat(fr), fields: fr.fields }
      return { ok: true, frame, points: rsuFramePoints(fr, ctx.receivedAt) }
    },
  }
}

export const etc = defineDeviceKind({
  kind: 'etc',
  folder: 'etc',
  measurement: 'etc_transaction',
  schema: EtcTransactionReading,
  toPoints: (r, ctx) => {
    const { ts, lane, result, ...rest } = r
    return [{ measurement: 'etc_transaction', tags: { lane, result }, fields: rest as Record<string, FieldValue>, time: timestampMs(ts, ctx.receivedAt) }]
  },
  decoders: [etcRsuLineDecoder()],
})
