/**
 * DL/T 645-2007/1997, one concern per file: frame.ts (link layer and framer), values.ts (value formats and
 * the data-identifier tables), messages.ts (what a frame means), encode.ts (message -> bytes), readings.ts
 * (a reply -> energy-meter `telemetry` readings). `dlt645Codec` is what `smartcity decode dlt645` runs; the
 * master (gateway/sources/dlt645/) uses the same framer, decoder and `meterReading`.
 */
import { hexLine } from '../../common/hex.ts'
import type { ProtocolCodec } from '../../common/kind.ts'
import { createDlt645Framer } from './frame.ts'
import { type Dlt645Decoded, type Dlt645State, decodeDlt645, defaultDevice, dlt645Flush, dlt645Readings } from './readings.ts'

export * from './encode.ts'
export * from './frame.ts'
export * from './messages.ts'
export * from './readings.ts'
export * from './values.ts'

/**
 * `smartcity decode dlt645 FILE`: one hex frame per line (FE preamble allowed), requests and replies as on the
 * wire. The read replies of one meter's poll cycle give one `energy_meter` point, as the gateway stores it,
 * printed on the line that closes the cycle (or at the end); requests, address and error replies carry no
 * field, and neither does a reply whose data identifier the table does not know (`known: false`, `raw` hex).
 */
export const dlt645Codec: ProtocolCodec<Buffer, Dlt645Decoded, Dlt645State> = {
  protocol: 'dlt645',
  format: 'dlt645',
  description: 'DL/T 645-2007/1997 frames, one hex frame per line',
  parseLine(line) {
    return hexLine(line)
  },
  framer: createDlt645Framer,
  decode: decodeDlt645,
  readings: dlt645Readings,
  flush: dlt645Flush,
  newState: () => ({ deviceOf: defaultDevice }),
}
