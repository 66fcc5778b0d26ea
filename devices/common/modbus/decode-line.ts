/**
 * `smartcity decode modbus-rtu FILE`: one hex RTU frame per line, requests and responses alike. Register
 * responses also show every register pair and quad read as int32, uint32, float32 (pairs) and float64, int64
 * (quads) in all four byte/word orders, so a field engineer can find the order of an unknown meter from one
 * capture: the reading that looks like 230 V is the right one.
 */
import { parseHex } from '../hex.ts'
import type { LineDecoder } from '../kind.ts'
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

export const modbusRtuDecoder: LineDecoder = {
  format: 'modbus-rtu',
  protocol: 'modbus-rtu',
  description: 'Modbus RTU frames as hex, one per line (requests and responses); register answers shown in every byte/word order',
  decodeLine(line) {
    const bytes = parseHex(line)
    if (!bytes) return { ok: false, error: 'not_hex: the line is not an even number of hex digits' }
    const adu = decodeRtu(bytes)
    if (!adu.ok) return { ok: false, error: `${adu.reason}: ${adu.detail ?? ''}` }
    const c = classify(adu.value.pdu)
    if ('error' in c) return { ok: false, error: c.error }
    const m = c.message
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
      }
    }
    return { ok: true, frame, points: [] }
  },
}
