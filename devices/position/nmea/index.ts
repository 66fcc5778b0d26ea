/**
 * NMEA 0183 (with BeiDou), one concern per file: framer.ts (bytes -> sentence lines), sentences.ts (a line ->
 * a decoded sentence), encode.ts (the inverse, for simulators), epoch.ts (sentences of one fix epoch -> one
 * epoch), readings.ts (an epoch -> position `telemetry` and `satellites` readings). `nmeaCodec` is what the
 * serial source (gateway/sources/nmea/) and `smartcity decode nmea` both use. Pure: no I/O, clock or logging.
 */
import type { ProtocolCodec } from '../../common/kind.ts'
import { ok } from '../../common/result.ts'
import { createNmeaFramer } from './framer.ts'
import { type NmeaState, newNmeaState, nmeaFlush, nmeaReadings } from './readings.ts'
import { decodeSentence, type NmeaSentence } from './sentences.ts'

export * from './encode.ts'
export * from './epoch.ts'
export * from './framer.ts'
export * from './readings.ts'
export * from './sentences.ts'

/**
 * `smartcity decode nmea FILE`: one sentence per line, assembled into epochs exactly as the serial source does
 * (one state per file): a fix epoch's points are printed on the line of the sentence that closes it (a new
 * time of day), the last epoch's at the end of the file; satellites points too, as the source's default.
 */
export const nmeaCodec: ProtocolCodec<string, NmeaSentence, NmeaState> = {
  protocol: 'nmea',
  format: 'nmea',
  description: 'NMEA 0183 sentences (GPS/BeiDou/GNSS), one per line, assembled into fix epochs as the gateway does',
  parseLine: (line) => ok(line.trim()),
  framer: () => createNmeaFramer(),
  decode: decodeSentence,
  readings: nmeaReadings,
  flush: nmeaFlush,
  newState: () => newNmeaState(),
}
