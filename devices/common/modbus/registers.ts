/**
 * Register codecs: a value of a Modbus point <-> the 16-bit registers (or bits) that carry it. Pure.
 *
 * Byte and word order use the letters of the big-endian value `ABCD` (A = most significant byte) and say in
 * which order the bytes travel on the wire:
 * - `ABCD` big-endian, high word first (Modbus's own convention; Eastron, Chint);
 * - `CDAB` word-swapped (low word first, bytes in each word big-endian; many PLCs, "little-endian word order");
 * - `BADC` byte-swapped in each word, high word first;
 * - `DCBA` fully little-endian.
 * For 64-bit values the same rule applies to four words: word swap reverses the words, byte swap swaps the two
 * bytes of each word. For 16-bit values only the byte swap matters (ABCD = CDAB, BADC = DCBA).
 */

export const DATA_TYPES = [
  'bool',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'uint64',
  'float32',
  'float64',
  'string',
  'bit',
] as const
export type DataType = (typeof DATA_TYPES)[number]

export const ORDERS = ['ABCD', 'CDAB', 'BADC', 'DCBA'] as const
export type Order = (typeof ORDERS)[number]

/** Registers a value of `type` occupies (`bool` on a coil/discrete input and `bit` use one bit/register). */
export function registerCount(type: DataType, length = 1): number {
  switch (type) {
    case 'bool':
    case 'bit':
    case 'int16':
    case 'uint16':
      return 1
    case 'int32':
    case 'uint32':
    case 'float32':
      return 2
    case 'int64':
    case 'uint64':
    case 'float64':
      return 4
    case 'string':
      return Math.max(1, Math.ceil(length / 2))
  }
}

/** Integer range of a numeric register type (float types: the finite range). */
export function typeRange(type: DataType): { min: number; max: number } | undefined {
  switch (type) {
    case 'int16':
      return { min: -0x8000, max: 0x7fff }
    case 'uint16':
      return { min: 0, max: 0xffff }
    case 'int32':
      return { min: -0x80000000, max: 0x7fffffff }
    case 'uint32':
      return { min: 0, max: 0xffffffff }
    case 'int64':
      return { min: -(2 ** 63), max: 2 ** 63 - 1 }
    case 'uint64':
      return { min: 0, max: 2 ** 64 - 1 }
    case 'float32':
      return { min: -3.4028234663852886e38, max: 3.4028234663852886e38 }
    case 'float64':
      return { min: -Number.MAX_VALUE, max: Number.MAX_VALUE }
    default:
      return undefined
  }
}

export function isIntegerType(type: DataType): boolean {
  return type === 'int16' || type === 'uint16' || type === 'int32' || type === 'uint32' || type === 'int64' || type === 'uint64'
}

/** Reorder bytes between wire order and big-endian (ABCD) order. The mapping is its own inverse. */
export function reorder(bytes: Uint8Array, order: Order): Buffer {
  const n = bytes.length
  const out = Buffer.alloc(n)
  const words = n >> 1
  const swapWords = order === 'CDAB' || order === 'DCBA'
  const swapBytes = order === 'BADC' || order === 'DCBA'
  for (let w = 0; w < words; w++) {
    const src = swapWords ? words - 1 - w : w
    const hi = bytes[2 * src]!
    const lo = bytes[2 * src + 1]!
    out[2 * w] = swapBytes ? lo : hi
    out[2 * w + 1] = swapBytes ? hi : lo
  }
  if (n % 2 === 1) out[n - 1] = bytes[n - 1]!
  return out
}

/** Registers (16-bit numbers) -> bytes as they travel, high byte of each register first. */
export function registersToBytes(regs: readonly number[]): Buffer {
  const b = Buffer.alloc(regs.length * 2)
  for (const [i, r] of regs.entries()) b.writeUInt16BE(r & 0xffff, 2 * i)
  return b
}

export function bytesToRegisters(b: Uint8Array): number[] {
  const out: number[] = []
  for (let i = 0; i + 1 < b.length; i += 2) out.push((b[i]! << 8) | b[i + 1]!)
  return out
}

export type RegisterValue = number | boolean | string

export interface ValueSpec {
  type: DataType
  order?: Order
  /** Bit index 0..15 of a `bit` point (0 = least significant). */
  bit?: number
  /** String length in bytes. */
  length?: number
}

/**
 * Decode the raw value of a point from its registers (exactly `registerCount` of them, extra are ignored).
 * 64-bit integers beyond 2^53 lose precision (the canonical fields are floats). Returns undefined when too
 * few registers are given.
 */
export function decodeRegisters(regs: readonly number[], spec: ValueSpec): RegisterValue | undefined {
  const order = spec.order ?? 'ABCD'
  const count = registerCount(spec.type, spec.length)
  if (regs.length < count) return undefined
  const wire = registersToBytes(regs.slice(0, count))
  switch (spec.type) {
    case 'bool':
      return (regs[0]! & 0xffff) !== 0
    case 'bit':
      return ((regs[0]! >> (spec.bit ?? 0)) & 1) === 1
    case 'string': {
      // Strings keep the order of their characters; only the byte swap inside each register applies.
      const b = order === 'BADC' || order === 'DCBA' ? reorder(wire, 'BADC') : wire
      return b
        .subarray(0, spec.length ?? b.length)
        .toString('latin1')
        .replace(/[\0 ]+$/, '')
    }
    default: {
      const be = reorder(wire, order)
      switch (spec.type) {
        case 'int16':
          return be.readInt16BE(0)
        case 'uint16':
          return be.readUInt16BE(0)
        case 'int32':
          return be.readInt32BE(0)
        case 'uint32':
          return be.readUInt32BE(0)
        case 'int64':
          return Number(be.readBigInt64BE(0))
        case 'uint64':
          return Number(be.readBigUInt64BE(0))
        case 'float32':
          return be.readFloatBE(0)
        case 'float64':
          return be.readDoubleBE(0)
      }
    }
  }
}

export type EncodeResult = { ok: true; registers: number[] } | { ok: false; reason: string; detail: string }

/**
 * Encode a raw value into registers: the exact inverse of `decodeRegisters`. Integer types need an integer in
 * range; `bit` encodes a register with only that bit set (callers merging bits use `setBit`).
 */
export function encodeValue(value: RegisterValue | bigint, spec: ValueSpec): EncodeResult {
  const order = spec.order ?? 'ABCD'
  const count = registerCount(spec.type, spec.length)
  const be = Buffer.alloc(count * 2)
  const t = spec.type
  if (t === 'bool' || t === 'bit') {
    if (typeof value !== 'boolean' && value !== 0 && value !== 1) return { ok: false, reason: 'wrong_type', detail: `${t} needs true/false` }
    const on = value === true || value === 1
    return { ok: true, registers: [t === 'bit' ? (on ? 1 << (spec.bit ?? 0) : 0) : on ? 1 : 0] }
  }
  if (t === 'string') {
    if (typeof value !== 'string') return { ok: false, reason: 'wrong_type', detail: 'string needs a string' }
    const len = spec.length ?? count * 2
    const b = Buffer.from(value, 'latin1')
    if (b.length > len) return { ok: false, reason: 'out_of_range', detail: `string longer than ${len} bytes` }
    b.copy(be)
    const wire = order === 'BADC' || order === 'DCBA' ? reorder(be, 'BADC') : be
    return { ok: true, registers: bytesToRegisters(wire) }
  }
  if (typeof value !== 'number' && typeof value !== 'bigint') return { ok: false, reason: 'wrong_type', detail: `${t} needs a number` }
  if (typeof value === 'number' && !Number.isFinite(value)) {
    if (t !== 'float32' && t !== 'float64') return { ok: false, reason: 'out_of_range', detail: `${value} is not finite` }
  }
  if (isIntegerType(t)) {
    const big = typeof value === 'bigint' ? value : Number.isInteger(value) ? BigInt(value) : undefined
    if (big === undefined) return { ok: false, reason: 'not_integer', detail: `${t} needs an integer, got ${value}` }
    const bits = t === 'int16' || t === 'uint16' ? 16n : t === 'int32' || t === 'uint32' ? 32n : 64n
    const signed = t.startsWith('int')
    const min = signed ? -(1n << (bits - 1n)) : 0n
    const max = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n
    if (big < min || big > max) return { ok: false, reason: 'out_of_range', detail: `${value} outside ${t} range ${min}..${max}` }
    if (bits === 16n) signed ? be.writeInt16BE(Number(big)) : be.writeUInt16BE(Number(big))
    else if (bits === 32n) signed ? be.writeInt32BE(Number(big)) : be.writeUInt32BE(Number(big))
    else signed ? be.writeBigInt64BE(big) : be.writeBigUInt64BE(big)
  } else {
    const n = Number(value)
    if (t === 'float32') {
      if (Number.isFinite(n) && Math.abs(n) > 3.4028234663852886e38) return { ok: false, reason: 'out_of_range', detail: `${n} outside float32` }
      be.writeFloatBE(n)
    } else be.writeDoubleBE(n)
  }
  return { ok: true, registers: bytesToRegisters(reorder(be, order)) }
}

/** Shortest decimal that is the same float32 (230.2, not 230.1999969482422). */
export function tidyFloat32(v: number): number {
  if (!Number.isFinite(v)) return v
  for (let p = 6; p <= 9; p++) {
    const n = Number(v.toPrecision(p))
    if (Math.fround(n) === v) return n
  }
  return v
}

/** Set or clear one bit of a register value. */
export function setBit(reg: number, bit: number, on: boolean): number {
  return on ? (reg | (1 << bit)) & 0xffff : reg & ~(1 << bit) & 0xffff
}

/**
 * Every reading of `regs` (two or four registers) a field engineer may want when hunting the word order of an
 * unknown device: int32, uint32, float32 (pairs) and float64 (quads), in all four orders.
 */
export function interpretations(regs: readonly number[]): {
  pairs: { offset: number; registers: string; int32: Record<Order, number>; uint32: Record<Order, number>; float32: Record<Order, number> }[]
  quads: { offset: number; registers: string; float64: Record<Order, number>; int64: Record<Order, number> }[]
} {
  const hex = (rs: readonly number[]) => rs.map((r) => r.toString(16).toUpperCase().padStart(4, '0')).join(' ')
  const all = <T extends DataType>(rs: readonly number[], type: T) =>
    Object.fromEntries(
      ORDERS.map((o) => {
        const v = decodeRegisters(rs, { type, order: o }) as number
        return [o, type === 'float32' ? tidyFloat32(v) : v]
      }),
    ) as Record<Order, number>
  const pairs = []
  for (let i = 0; i + 2 <= regs.length; i++) {
    const rs = regs.slice(i, i + 2)
    pairs.push({ offset: i, registers: hex(rs), int32: all(rs, 'int32'), uint32: all(rs, 'uint32'), float32: all(rs, 'float32') })
  }
  const quads = []
  for (let i = 0; i + 4 <= regs.length; i++) {
    const rs = regs.slice(i, i + 4)
    quads.push({ offset: i, registers: hex(rs), float64: all(rs, 'float64'), int64: all(rs, 'int64') })
  }
  return { pairs, quads }
}
