/**
 * JT/T 808-2013 and JT/T 808-2019 (道路运输车辆卫星定位系统终端通讯协议): pure codec, one concern per file.
 * No I/O, clock or logging.
 *
 * - framer.ts: byte stream -> escaped frames between 7E flags (split/concatenated reads, garbage).
 * - header.ts: message ids and types, 7D escaping, `decodePacket` (one frame -> header + raw body).
 * - body.ts: `decodeBody` (header + body bytes -> typed body), `decodeJt808` (both).
 * - encode.ts: `encodeJt808`, its exact inverse (simulators and the platform's answers use it).
 * - reassembly.ts: subpackages joined, per connection.
 * - readings.ts: a location -> a `location` reading of the position kind; status and alarm bits.
 * - this file: the public surface and `jt808Codec`, the ProtocolCodec the gateway source and
 *   `smartcity decode jt808` both use.
 */
import { hexLine } from '../../common/hex.ts'
import type { ProtocolCodec, Reading } from '../../common/kind.ts'
import type { Reason } from '../../common/reasons.ts'
import { type DecodeResult, fail, type Framer, ok } from '../../common/result.ts'
import { decodeBody, decodeJt808 } from './body.ts'
import { createJt808Framer } from './framer.ts'
import type { Jt808Message } from './header.ts'
import { createJt808Reassembler, type Jt808Reassembler } from './reassembly.ts'
import { locationReading, locationsOf, terminalId } from './readings.ts'

export * from './body.ts'
export * from './encode.ts'
export * from './framer.ts'
export * from './header.ts'
export * from './readings.ts'
export * from './reassembly.ts'

/**
 * Per-connection state (per capture file for decode): split messages waiting for their other parts. The
 * reassembler is made on the first sub-package: most terminals never split a message, and a gateway holds
 * tens of thousands of connections, so an idle one costs no reassembler.
 */
export interface Jt808State {
  reassembler?: Jt808Reassembler
}

/** The state's reassembler, made when first needed. */
export function reassemblerOf(state: Jt808State): Jt808Reassembler {
  state.reassembler ??= createJt808Reassembler()
  return state.reassembler
}

/**
 * A decoded message whose parts are all there: a whole message comes straight back; a subpackage is kept
 * in `state` until its last part arrives, then the joined message comes back (its body decoded, under the
 * first part's header without `subpackage`). `now` drives expiry of parts that never completed. A joined
 * body that does not decode is refused with its reason.
 */
export function assembleJt808(state: Jt808State, msg: Jt808Message, now: number): DecodeResult<Jt808Message | undefined> {
  if (!msg.header.subpackage || msg.body.type !== 'fragment') return ok(msg)
  const r = reassemblerOf(state).add({ header: msg.header, body: Buffer.from(msg.body.hex, 'hex') }, now)
  if (!r.done) return ok(undefined)
  const body = decodeBody(r.packet.header, r.packet.body)
  return body.ok ? ok({ header: r.packet.header, body: body.value }) : fail(body.reason, body.detail)
}

/** The readings of a whole message: one `location` reading per location it carries (none for others). */
export function jt808Readings(msg: Jt808Message): Reading[] {
  const device = terminalId(msg.header.phone)
  return locationsOf(msg.body).map((l) => ({ kind: 'position', type: 'location', device, value: locationReading(l) }))
}

/**
 * JT/T 808 as the gateway reads it (issue 11 decision 5). `decode` is one frame (a subpackage's body is a
 * `fragment`); `readings` joins subpackages in `state` and gives the locations of a whole message.
 * Alarm bits are stored as the locations' `alarm_flags`; their `alarm` points come from the processor
 * gateway/processors/jt808-alarms.ts, which `smartcity decode jt808` runs too.
 */
export const jt808Codec: ProtocolCodec<Buffer, Jt808Message, Jt808State> = {
  protocol: 'jt808',
  format: 'jt808',
  description: 'JT/T 808-2013/2019 frames, one hex frame per line',
  parseLine(line) {
    return hexLine(line)
  },
  framer: (): Framer<Buffer> => createJt808Framer(),
  decode: (frame) => decodeJt808(frame),
  readings(msg, state, ctx) {
    const whole = assembleJt808(state, msg, ctx.receivedAt)
    if (!whole.ok) return { readings: [], refused: [refusal(whole.reason, whole.detail)] }
    return { readings: whole.value === undefined ? [] : jt808Readings(whole.value) }
  },
  newState: (): Jt808State => ({}),
}

function refusal(reason: Reason, detail: string | undefined): { reason: Reason; detail?: string } {
  return detail === undefined ? { reason } : { reason, detail }
}
