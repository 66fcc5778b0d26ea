/**
 * `smartcity decode modbus-rtu FILE`: one hex RTU frame per line, requests and responses alike. Register
 * responses also show every register pair and quad read as int32, uint32, float32 (pairs) and float64, int64
 * (quads) in all four byte/word orders, so a field engineer can find the order of an unknown meter from one
 * capture: the reading that looks like 230 V is the right one.
 */
import { BUILTIN_PROFILES } from '../../modbus-profiles.ts'
import { EnergyMeterReading } from '../../energy-meter/schema.ts'
import { waterQualityPoint } from '../../water-quality/index.ts'
import { WaterQualityReading } from '../../water-quality/schema.ts'
import { parseHex } from '../hex.ts'
import type { LineDecoder, NormalizeContext } from '../kind.ts'
import type { Point } from '../point.ts'
import { extractValues, planProfile, toFields } from './planner.ts'
import { decodeRequest, decodeResponse, EXCEPTIONS, isException, type Request, type Response } from './pdu.ts'
import { interpretations } from './registers.ts'
import { decodeRtu } from './rtu.ts'

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
export function classify(pdu: Buffer): { direction: Direction; message: Request | Response } | { error: string } {
  const fc = pdu[0] ?? 0
  if (fc & 0x80) {
    const r = decodeResponse(pdu)
    return r.ok ? { direction: 'response', message: r.value } : { error: `${r.reason}: ${r.detail ?? ''}` }
  }
  const asRes = decodeResponse(pdu)
  const asReq = decodeRequest(pdu)
  if (fc === 5 || fc === 6) return asReq.ok ? { direction: 'request_or_echo', message: asReq.value } : { error: `${asReq.reason}: ${asReq.detail ?? ''}` }
  // A register response has an even byte count, so a 5-byte FC 3/4 PDU is a request unless its count is 3.
  if (asRes.ok && !(asReq.ok && fc >= 3 && fc <= 4 && pdu[1] !== pdu.length - 2)) return { direction: 'response', message: asRes.value }
  if (asReq.ok) return { direction: 'request', message: asReq.value }
  const r = asRes.ok ? asReq : asRes
  return { error: r.ok ? 'unreadable frame' : `${r.reason}: ${r.detail ?? ''}` }
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
 * Points of a response whose request (the line just before) is exactly one read the gateway plans for a
 * built-in profile: a capture of the gateway polling an SDM630 decodes to voltages, not only registers.
 */
function pointsOf(unit: number, req: Request, registers: number[], ctx: NormalizeContext): { profile: string; points: Point[] } | undefined {
  if (req.fc !== 3 && req.fc !== 4) return undefined
  const cands = KNOWN_READS.get(`${req.fc}:${req.address}:${req.quantity}`)
  if (cands?.length !== 1) return undefined
  const { profile: name, index } = cands[0]!
  const profile = BUILTIN_PROFILES.get(name)!
  const read = planProfile(profile)[index]!
  const fields = toFields(profile, extractValues(read, { registers }, profile.order))
  if (Object.keys(fields).length === 0) return undefined
  // The kind's schema and normalisation (energy-meter/index.ts lists this decoder, so it is not imported here).
  let points: Point[]
  if (profile.kind === 'water_quality') {
    const r = WaterQualityReading.safeParse(fields)
    if (!r.success) return undefined
    points = [waterQualityPoint(r.data, ctx)]
  } else {
    const r = EnergyMeterReading.safeParse(fields)
    if (!r.success) return undefined
    points = [{ measurement: 'energy_meter', tags: {}, fields: { ...r.data }, time: ctx.receivedAt }]
  }
  for (const p of points) p.tags = { device: `unit-${unit}`, kind: profile.kind, protocol: 'modbus-rtu', ...p.tags }
  return { profile: name, points }
}

/**
 * A decoding session over one capture: a response is read in the light of the request on the line before
 * (which registers of which profile it answers). The state lives in the session, never in the module.
 */
function modbusRtuSession(): LineDecoder['decodeLine'] {
  let previous: { unit: number; req: Request } | undefined
  return (line, ctx) => {
    const before = previous
    previous = undefined
    const bytes = parseHex(line)
    if (!bytes) return { ok: false, error: 'not_hex: the line is not an even number of hex digits' }
    const adu = decodeRtu(bytes)
    if (!adu.ok) return { ok: false, error: `${adu.reason}: ${adu.detail ?? ''}` }
    const c = classify(adu.value.pdu)
    if ('error' in c) return { ok: false, error: c.error }
    const m = c.message
    if (c.direction === 'request') previous = { unit: adu.value.unit, req: m as Request }
    let points: Point[] = []
    const frame: Record<string, unknown> = {
      unit: adu.value.unit,
      direction: c.direction,
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
        if (before && before.unit === adu.value.unit && before.req.fc === m.fc) {
          const r = pointsOf(adu.value.unit, before.req, m.registers, ctx)
          if (r) {
            frame['profile'] = r.profile
            points = r.points
          }
        }
      }
    }
    return { ok: true, frame, points }
  }
}

export const modbusRtuDecoder: LineDecoder = {
  format: 'modbus-rtu',
  protocol: 'modbus-rtu',
  description: 'Modbus RTU frames as hex, one per line (requests and responses); register answers shown in every byte/word order',
  // One line alone: no request before it.
  decodeLine: (line, ctx) => modbusRtuSession()(line, ctx),
  session: modbusRtuSession,
}
