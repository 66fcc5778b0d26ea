/**
 * The etc-rsu `ProtocolCodec` (issue 11 decision 5): what the gateway's lane controller and `smartcity decode
 * etc-rsu` both use. The per-connection state is the frame reader, which holds the layout detected so far
 * (`auto`: a frame only one layout can read tells it; README.md "Frame layouts"), so a capture file is read
 * as one connection. One frame on its own gives one reading: a B0 the RSU's status (`rsu_status`). A passage
 * (`transaction`) needs the whole B2 -> B3/B4 -> B5 exchange, so the lane controller
 * (gateway/sources/etc-rsu/lane.ts) makes that reading, not a single frame.
 */
import type { NormalizeContext, ProtocolCodec, Reading } from '../../common/kind.ts'
import { hexLine } from '../../common/hex.ts'
import type { RsuStatusReading } from '../schema.ts'
import { createRsuReader, type RsuRead, type RsuReader } from './decode.ts'
import { createRsuFramer, type RsuRawFrame, unframeRsu } from './framing.ts'
import type { RsuFrame } from './layout.ts'
import { isHeartbeat, RSU_STATUS_BITS } from './meaning.ts'
import type { RsuProfileChoice } from './profiles.ts'

/** The `rsu_status` value of a B0 (RSU status) frame: online, the fault bits and the raw status byte. */
export function rsuStatusValue(frame: RsuFrame): RsuStatusReading | undefined {
  const status = frame.fields['rsuStatus']
  if (frame.type !== 'B0' || typeof status !== 'number') return undefined
  return {
    online: true,
    antenna_ok: (status & RSU_STATUS_BITS.antennaFault) === 0,
    psam_ok: (status & RSU_STATUS_BITS.psamFault) === 0,
    rsu_status: status,
  }
}

/** What `smartcity decode etc-rsu` prints as a frame: RSCTL in hex, the layout it was read in. */
export function rsuFrameJson(d: RsuRead): unknown {
  const { frame: fr, profile, ambiguous } = d
  return {
    rsctl: fr.rsctl.toString(16).padStart(2, '0').toUpperCase(),
    type: fr.type,
    heartbeat: isHeartbeat(fr),
    profile: profile.name,
    ...(ambiguous ? { ambiguous: true } : {}),
    fields: fr.fields,
  }
}

/**
 * The codec with the frame layouts `profile` (`classic`, `2019`, `auto`, or a vendor's RsuProfile); the kind
 * lists the `auto` one, `smartcity decode etc-rsu --profile P` and the source's `profile:` pick another.
 */
export function etcRsuCodec(profile: RsuProfileChoice = 'auto'): ProtocolCodec<RsuRawFrame, RsuRead, RsuReader> {
  return {
    protocol: 'etc-rsu',
    format: 'etc-rsu',
    description: 'ETC RSU <-> lane controller frames (FF FF ... FF, stuffed, XOR BCC), one hex frame per line; --profile classic|2019|auto',
    parseLine(line) {
      const b = hexLine(line)
      return b.ok ? unframeRsu(b.value) : b
    },
    framer: () => createRsuFramer(),
    decode: (frame, reader) => reader.read(frame),
    readings(d, _reader, ctx: NormalizeContext) {
      const value = rsuStatusValue(d.frame)
      const readings: Reading[] = value ? [{ kind: 'etc', type: 'rsu_status', device: '', value, receivedAt: ctx.receivedAt }] : []
      return { readings }
    },
    newState: () => createRsuReader(profile),
    frameJson: rsuFrameJson,
  }
}
