/**
 * Modbus application PDUs (function code + data) for FC 1, 2, 3, 4, 5, 6, 15, 16 and exception responses, as
 * in the Modbus Application Protocol Specification V1.1b3. Pure: encode builds bytes, decode never throws.
 * A PDU is the same over TCP (inside MBAP) and RTU (between unit id and CRC).
 */
import { type DecodeResult, fail, ok } from '../result.ts'

export const FC = {
  readCoils: 1,
  readDiscreteInputs: 2,
  readHoldingRegisters: 3,
  readInputRegisters: 4,
  writeSingleCoil: 5,
  writeSingleRegister: 6,
  writeMultipleCoils: 15,
  writeMultipleRegisters: 16,
} as const
export type FunctionCode = (typeof FC)[keyof typeof FC]
const KNOWN = new Set<number>(Object.values(FC))

/** Exception codes (spec section 7). */
export const EXCEPTIONS: Readonly<Record<number, string>> = {
  1: 'illegal_function',
  2: 'illegal_data_address',
  3: 'illegal_data_value',
  4: 'server_device_failure',
  5: 'acknowledge',
  6: 'server_device_busy',
  8: 'memory_parity_error',
  10: 'gateway_path_unavailable',
  11: 'gateway_target_failed_to_respond',
}

/** Spec limits per request. */
export const MAX_READ_REGISTERS = 125
export const MAX_READ_BITS = 2000
export const MAX_WRITE_REGISTERS = 123
export const MAX_WRITE_BITS = 1968

export type Request =
  | { fc: 1 | 2 | 3 | 4; address: number; quantity: number }
  | { fc: 5; address: number; value: boolean }
  | { fc: 6; address: number; value: number }
  | { fc: 15; address: number; values: boolean[] }
  | { fc: 16; address: number; values: number[] }

export type Response =
  | { fc: 1 | 2; bits: boolean[] }
  | { fc: 3 | 4; registers: number[] }
  | { fc: 5; address: number; value: boolean }
  | { fc: 6; address: number; value: number }
  | { fc: 15 | 16; address: number; quantity: number }
  | { fc: number; exception: number; name: string }

export function isException(r: Response): r is { fc: number; exception: number; name: string } {
  return 'exception' in r
}

function packBits(bits: readonly boolean[]): Buffer {
  const b = Buffer.alloc(Math.ceil(bits.length / 8))
  bits.forEach((on, i) => {
    if (on) b[i >> 3]! |= 1 << (i & 7)
  })
  return b
}

function unpackBits(b: Uint8Array, count: number): boolean[] {
  const out: boolean[] = []
  for (let i = 0; i < count; i++) out.push(((b[i >> 3]! >> (i & 7)) & 1) === 1)
  return out
}

export function encodeRequest(r: Request): Buffer {
  switch (r.fc) {
    case 1:
    case 2:
    case 3:
    case 4:
    case 6: {
      const b = Buffer.alloc(5)
      b[0] = r.fc
      b.writeUInt16BE(r.address, 1)
      b.writeUInt16BE(r.fc === 6 ? r.value & 0xffff : r.quantity, 3)
      return b
    }
    case 5: {
      const b = Buffer.alloc(5)
      b[0] = 5
      b.writeUInt16BE(r.address, 1)
      b.writeUInt16BE(r.value ? 0xff00 : 0x0000, 3)
      return b
    }
    case 15: {
      const data = packBits(r.values)
      const b = Buffer.alloc(6)
      b[0] = 15
      b.writeUInt16BE(r.address, 1)
      b.writeUInt16BE(r.values.length, 3)
      b[5] = data.length
      return Buffer.concat([b, data])
    }
    case 16: {
      const b = Buffer.alloc(6 + 2 * r.values.length)
      b[0] = 16
      b.writeUInt16BE(r.address, 1)
      b.writeUInt16BE(r.values.length, 3)
      b[5] = 2 * r.values.length
      for (const [i, v] of r.values.entries()) b.writeUInt16BE(v & 0xffff, 6 + 2 * i)
      return b
    }
  }
}

export function encodeResponse(r: Response): Buffer {
  if (isException(r)) return Buffer.from([(r.fc | 0x80) & 0xff, r.exception & 0xff])
  switch (r.fc) {
    case 1:
    case 2: {
      const data = packBits((r as { bits: boolean[] }).bits)
      return Buffer.concat([Buffer.from([r.fc, data.length]), data])
    }
    case 3:
    case 4: {
      const regs = (r as { registers: number[] }).registers
      const b = Buffer.alloc(2 + 2 * regs.length)
      b[0] = r.fc
      b[1] = 2 * regs.length
      for (const [i, v] of regs.entries()) b.writeUInt16BE(v & 0xffff, 2 + 2 * i)
      return b
    }
    case 5:
      return encodeRequest({ fc: 5, address: (r as { address: number }).address, value: (r as { value: boolean }).value })
    case 6:
      return encodeRequest({ fc: 6, address: (r as { address: number }).address, value: (r as { value: number }).value })
    default: {
      const w = r as { fc: number; address: number; quantity: number }
      const b = Buffer.alloc(5)
      b[0] = w.fc
      b.writeUInt16BE(w.address, 1)
      b.writeUInt16BE(w.quantity, 3)
      return b
    }
  }
}

/** Decode a request PDU (what a server receives). */
export function decodeRequest(pdu: Uint8Array): DecodeResult<Request> {
  const b = Buffer.from(pdu.buffer, pdu.byteOffset, pdu.byteLength)
  if (b.length < 1) return fail('too_short', 'empty PDU')
  const fc = b[0]!
  if (!KNOWN.has(fc)) return fail('unsupported_function', `function code ${fc}`)
  if (b.length < 5) return fail('too_short', `FC${fc} request needs 5 bytes, got ${b.length}`)
  const address = b.readUInt16BE(1)
  const x = b.readUInt16BE(3)
  switch (fc) {
    case 1:
    case 2:
    case 3:
    case 4: {
      if (b.length !== 5) return fail('bad_length', `FC${fc} request is 5 bytes, got ${b.length}`)
      const max = fc <= 2 ? MAX_READ_BITS : MAX_READ_REGISTERS
      if (x < 1 || x > max) return fail('bad_quantity', `quantity ${x} outside 1..${max}`)
      return ok({ fc, address, quantity: x })
    }
    case 5:
      if (b.length !== 5) return fail('bad_length', `FC5 request is 5 bytes, got ${b.length}`)
      if (x !== 0xff00 && x !== 0) return fail('bad_value', `FC5 value 0x${x.toString(16)} (must be FF00 or 0000)`)
      return ok({ fc: 5, address, value: x === 0xff00 })
    case 6:
      if (b.length !== 5) return fail('bad_length', `FC6 request is 5 bytes, got ${b.length}`)
      return ok({ fc: 6, address, value: x })
    case 15: {
      if (b.length < 6) return fail('too_short', 'FC15 request without byte count')
      const n = b[5]!
      if (x < 1 || x > MAX_WRITE_BITS || n !== Math.ceil(x / 8)) return fail('bad_quantity', `FC15 quantity ${x} with byte count ${n}`)
      if (b.length !== 6 + n) return fail('bad_length', `FC15 request with byte count ${n} is ${6 + n} bytes, got ${b.length}`)
      return ok({ fc: 15, address, values: unpackBits(b.subarray(6), x) })
    }
    default: {
      if (b.length < 6) return fail('too_short', 'FC16 request without byte count')
      const n = b[5]!
      if (x < 1 || x > MAX_WRITE_REGISTERS || n !== 2 * x) return fail('bad_quantity', `FC16 quantity ${x} with byte count ${n}`)
      if (b.length !== 6 + n) return fail('bad_length', `FC16 request with byte count ${n} is ${6 + n} bytes, got ${b.length}`)
      const values: number[] = []
      for (let i = 0; i < x; i++) values.push(b.readUInt16BE(6 + 2 * i))
      return ok({ fc: 16, address, values })
    }
  }
}

/**
 * Decode a response PDU (what a client receives). `bitCount` (from the request) trims the padding of a FC 1/2
 * answer; without it every bit of the data bytes is returned.
 */
export function decodeResponse(pdu: Uint8Array, bitCount?: number): DecodeResult<Response> {
  const b = Buffer.from(pdu.buffer, pdu.byteOffset, pdu.byteLength)
  if (b.length < 2) return fail('too_short', `response PDU of ${b.length} bytes`)
  const fc = b[0]!
  if (fc & 0x80) {
    if (b.length !== 2) return fail('bad_length', `exception response is 2 bytes, got ${b.length}`)
    const code = b[1]!
    return ok({ fc: fc & 0x7f, exception: code, name: EXCEPTIONS[code] ?? `exception_${code}` })
  }
  if (!KNOWN.has(fc)) return fail('unsupported_function', `function code ${fc}`)
  switch (fc) {
    case 1:
    case 2:
    case 3:
    case 4: {
      const n = b[1]!
      if (b.length !== 2 + n) return fail('bad_length', `byte count ${n} but ${b.length - 2} data bytes`)
      if (fc >= 3) {
        if (n % 2 !== 0) return fail('bad_length', `odd byte count ${n} in a register response`)
        const registers: number[] = []
        for (let i = 0; i < n / 2; i++) registers.push(b.readUInt16BE(2 + 2 * i))
        return ok({ fc: fc as 3 | 4, registers })
      }
      const count = bitCount ?? n * 8
      if (Math.ceil(count / 8) !== n) return fail('bad_length', `byte count ${n} for ${count} bits`)
      return ok({ fc: fc as 1 | 2, bits: unpackBits(b.subarray(2), count) })
    }
    default: {
      if (b.length !== 5) return fail('bad_length', `FC${fc} response is 5 bytes, got ${b.length}`)
      const address = b.readUInt16BE(1)
      const x = b.readUInt16BE(3)
      if (fc === 5) {
        if (x !== 0xff00 && x !== 0) return fail('bad_value', `FC5 value 0x${x.toString(16)}`)
        return ok({ fc: 5, address, value: x === 0xff00 })
      }
      if (fc === 6) return ok({ fc: 6, address, value: x })
      return ok({ fc: fc as 15 | 16, address, quantity: x })
    }
  }
}

/** Whether `res` answers `req` (same function, right size, echo of a write). */
export function matches(req: Request, res: Response): DecodeResult<Response> {
  if (res.fc !== req.fc) return fail('unexpected_function', `asked FC${req.fc}, answered FC${res.fc}`)
  if (isException(res)) return ok(res)
  switch (req.fc) {
    case 1:
    case 2:
      return (res as { bits: boolean[] }).bits.length >= req.quantity
        ? ok({ fc: req.fc, bits: (res as { bits: boolean[] }).bits.slice(0, req.quantity) })
        : fail('bad_length', 'fewer bits than asked')
    case 3:
    case 4:
      return (res as { registers: number[] }).registers.length === req.quantity ? ok(res) : fail('bad_length', `asked ${req.quantity} registers, got ${(res as { registers: number[] }).registers.length}`)
    case 5:
    case 6: {
      const r = res as { address: number; value: number | boolean }
      return r.address === req.address && r.value === req.value ? ok(res) : fail('bad_echo', 'write echo differs from the request')
    }
    case 15:
    case 16: {
      const r = res as { address: number; quantity: number }
      return r.address === req.address && r.quantity === req.values.length ? ok(res) : fail('bad_echo', 'write echo differs from the request')
    }
  }
}
