/**
 * The Modbus RTU codec (`smartcity decode modbus-rtu FILE`): one hex RTU frame per line, requests and
 * responses alike. Register responses also show every register pair and quad read as int32, uint32, float32
 * (pairs) and float64, int64 (quads) in all four byte/word orders, so a field engineer can find the order of
 * an unknown meter from one capture: the reading that looks like 230 V is the right one.
 *
 * A response is read in the light of the request just before it (the codec state holds that request): when
 * the request is exactly one read the gateway plans for a built-in profile, the response gives the profile's
 * `telemetry` reading through the same step as the source (planner.ts `profileReading`), so a capture of the
 * gateway polling an SDM630 decodes to the voltages the gateway stores.
 */
import { BUILTIN_PROFILES } from '../../modbus-profiles.ts'
import { hexLine, } from '../hex.ts'
import type { ProtocolCodec, Reading } from '../kind.ts'
import { type DecodeResult, fail, ok } from '../result.ts'
import { extractValues, planProfile, profileReading } from './planner.ts'
import { decodeRequest, decodeResponse, EXCEPTIONS, isException, type Request, type Response } from './pdu.ts'
import { interpretations } from './registers.ts'
import { createRtuFramer, decodeRtu, type RtuFrame } from './rtu.ts'
const FUNCTION_NAMES: Readonly<Record<number, string>> = {
  1: 'read_coils',
  2: 'read_discrete_inputs',
  3: 'read_holding_registers',
  4: 'read_input_registers',
  5: 'write_single_coil',
  6: 'write_single_register',
  15: 'write_multiple_coils',
  16: 'write_multiple_registers',
}

type Direction = 'request' | 'response' | 'request_or_echo'

/** Which way a frame goes, from its shape alone (RTU frames do not say). */
export function classify(pdu: Buffer): DecodeResult<{ direction: Direction; message: Request | Response }> {
  const fc = pdu[0] ?? 0
  if (fc & 0x80) {
    const r = decodeResponse(pdu)
    return r.ok ? ok({ direction: 'response', message: r.value }) : r
  }
  const asRes = decodeResponse(pdu)
  const asReq = decodeRequest(pdu)
  if (fc === 5 || fc === 6) return asReq.ok ? ok({ direction: 'request_or_echo', message: asReq.value }) : asReq
  // A register response has an even byte count, so a 5-byte FC 3/4 PDU is a request unless its count is 3.
  if (asRes.ok && !(asReq.ok && fc >= 3 && fc <= 4 && pdu[1] !== pdu.length - 2)) return ok({ direction: 'response', message: asRes.value })
  if (asReq.ok) return ok({ direction: 'request', message: asReq.value })
  if (!asRes.ok) return asRes
  return asReq.ok ? fail('bad_length', 'unreadable frame') : asReq
}

/** The built-in profile reads a request may be, by `fc:address:quantity`. */
const KNOWN_READS = new Map<string, { profile: string; index: number }[]>()
for (const [name, profile] of BUILTIN_PROFILES) {
  planProfile(profile).forEach((r, index) => {
    const key = `${r.fc}:${r.address}:${r.quantity}`
    KNOWN_READS.set(key, [...(KNOWN_READS.get(key) ?? []), { profile: name, index }])
  })
}

/**
 * A decoded RTU frame as decode prints it: `unit`, `direction`, `function`, `function_name`, then the
 * message's own fields (`address`, `quantity`, `registers`, `registers_hex`, the register interpretations,
 * `exception`...), and `profile` once a response was read with a built-in profile.
 */
export interface ModbusRtuDecoded {
  unit: number
  direction: Direction
  function: number
  function_name: string
  address?: number
  quantity?: number
  registers?: number[]
  [field: string]: unknown
}

/** Per capture file (or bus): the request awaiting its response. */
export interface ModbusRtuState {
  previous: { unit: number; req: Request } | undefined
}

function decodeFrame(adu: RtuFrame): DecodeResult<ModbusRtuDecoded> {
  const c = classify(adu.pdu)
  if (!c.ok) return c
  const m = c.value.message
  const frame: ModbusRtuDecoded = {
    unit: adu.unit,
    direction: c.value.direction,
    function: m.fc,
    function_name: FUNCTION_NAMES[m.fc] ?? `function_${m.fc}`,
  }
  if ('exception' in m && isException(m)) {
    frame['exception'] = m.exception
    frame['exception_name'] = EXCEPTIONS[m.exception] ?? m.name
  } else {
    const { fc: _fc, ...rest } = m
    Object.assign(frame, rest)
    if ('registers' in m) {
      frame['registers_hex'] = m.registers.map((r) => r.toString(16).toUpperCase().padStart(4, '0'))
      Object.assign(frame, interpretations(m.registers))
    }
  }
  return ok(frame)
}

/**
 * The reading of a register response whose request (the frame before) is exactly one read the gateway plans
 * for a built-in profile; the device is `unit-<n>` (a capture does not name the inventory's device).
 */
function readingOf(unit: number, req: Request, registers: number[]): { profile: string; reading: Reading } | undefined {
  if (req.fc !== 3 && req.fc !== 4) return undefined
  const cands = KNOWN_READS.get(`${req.fc}:${req.address}:${req.quantity}`)
  if (cands?.length !== 1) return undefined
  const { profile: name, index } = cands[0]!
  const profile = BUILTIN_PROFILES.get(name)!
  const read = planProfile(profile)[index]!
  const reading = profileReading(profile, `unit-${unit}`, extractValues(read, { registers }, profile.order))
  return reading ? { profile: name, reading } : undefined
}

export const modbusRtuCodec: ProtocolCodec<RtuFrame, ModbusRtuDecoded, ModbusRtuState> = {
  protocol: 'modbus-rtu',
  format: 'modbus-rtu',
  description: 'Modbus RTU frames as hex, one per line (requests and responses); register answers shown in every byte/word order',
  parseLine(line) {
    const bytes = hexLine(line)
    return bytes.ok ? decodeRtu(bytes.value) : bytes
  },
  framer: () => createRtuFramer('response'),
  decode: decodeFrame,
  readings(d, state) {
    const before = state.previous
    const isRead = d.function >= 1 && d.function <= 4 && d.address !== undefined && d.quantity !== undefined
    state.previous = d.direction === 'request' && isRead ? { unit: d.unit, req: { fc: d.function as 1 | 2 | 3 | 4, address: d.address!, quantity: d.quantity! } } : undefined
    if (d.registers === undefined || d.direction !== 'response' || !before || before.unit !== d.unit || before.req.fc !== d.function) return { readings: [] }
    const r = readingOf(d.unit, before.req, d.registers)
    if (!r) return { readings: [] }
    // The printed frame names the profile it was read with (decode prints the frame after its readings).
    d['profile'] = r.profile
    return { readings: [r.reading] }
  },
  newState: () => ({ previous: undefined }),
}
