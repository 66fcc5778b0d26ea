/**
 * HJ 212-2017 (and HJ/T 212-2005) data transmission: pure codec, one concern per file. No I/O, clock or logging.
 *
 * - crc.ts: the Appendix A CRC. framer.ts: bytes -> packets.
 * - segment.ts: packet <-> message (`decodeHj212`, `encodeHj212`), CP text, times.
 * - data.ts: CP -> DataTime and per-factor values; the water factor codes.
 * - reassembly.ts: PNUM/PNO split packets, per connection. answers.ts: the platform's 9011/9012/9014.
 * - readings.ts: a data upload -> an `hj212` reading of the water-quality kind.
 * - this file: the public surface and `hj212Codec`, the ProtocolCodec the gateway source and
 *   `smartcity decode hj212` both use.
 */
import type { ProtocolCodec, Reading } from '../../common/kind.ts'
import { type DecodeResult, fail, ok } from '../../common/result.ts'
import { DATA_CNS, type Hj212Data, hj212Data } from './data.ts'
import { createHj212Framer } from './framer.ts'
import { createHj212Reassembler, type Hj212Reassembler } from './reassembly.ts'
import { hj212Reading } from './readings.ts'
import { decodeHj212, type Hj212Message } from './segment.ts'

export * from './answers.ts'
export * from './crc.ts'
export * from './data.ts'
export * from './framer.ts'
export * from './readings.ts'
export * from './reassembly.ts'
export * from './segment.ts'

/** Per-connection state (per capture file for decode): split uploads waiting for their other parts. */
export interface Hj212State {
  reassembler: Hj212Reassembler
}

/**
 * The readings of a data upload (CN 2011/2051/2061/2031; other CNs carry none). A PNUM/PNO part is kept in
 * `state` until the upload is whole (`now` drives expiry); an upload with no factor values is valid and
 * gives no reading (a heartbeat); a DataTime that is not a time is refused (`bad_time`). The GB 3838 class
 * uses the device's `waterBody` option (`lake`, else river).
 */
export function hj212Readings(m: Hj212Message, state: Hj212State, now: number, options?: Readonly<Record<string, unknown>>): DecodeResult<Reading[]> {
  if (!DATA_CNS.has(m.cn)) return ok([])
  let whole = m
  if (m.pnum !== undefined && m.pnum > 1) {
    const r = state.reassembler.add(m, now)
    if (!r.done) return ok([])
    whole = r.message
  }
  const data = hj212Data(whole.cp)
  if (!data.ok) return fail(data.reason, data.detail)
  const value = hj212Reading(whole, data.value, options?.['waterBody'] === 'lake' ? 'lake' : 'river')
  return ok(value === undefined ? [] : [{ kind: 'water_quality', type: 'hj212', device: whole.mn, value }])
}

/** A packet as decode prints it: the message and its CP's data view (DataTime, factors, parameters). */
export type Hj212Decoded = Hj212Message & { data: Hj212Data }

export const hj212Codec: ProtocolCodec<Buffer, Hj212Decoded, Hj212State> = {
  protocol: 'hj212',
  format: 'hj212',
  description: 'HJ 212-2017 / HJ/T 212-2005 packets, one per line (## ... CRC)',
  parseLine: (line) => ok(Buffer.from(line.trim(), 'utf8')),
  framer: () => createHj212Framer(),
  decode(frame) {
    const m = decodeHj212(frame)
    if (!m.ok) return m
    const data = hj212Data(m.value.cp)
    return data.ok ? ok({ ...m.value, data: data.value }) : data
  },
  readings(m, state, ctx) {
    const r = hj212Readings(m, state, ctx.receivedAt, ctx.options)
    if (r.ok) return { readings: r.value }
    return { readings: [], refused: [r.detail === undefined ? { reason: r.reason } : { reason: r.reason, detail: r.detail }] }
  },
  newState: () => ({ reassembler: createHj212Reassembler() }),
}
