/**
 * Request planning: the points a device polls become as few reads as possible. Points of one table are sorted
 * by address and merged while the read stays within `maxRegisters` (125 by the spec; 2000 bits for coils) and
 * the hole between two points is at most `maxGap`. Then each answer is cut back into point values. Pure.
 */
import type { ValueReading } from '../kind.ts'
import { MAX_READ_BITS } from './pdu.ts'
import { type ModbusProfile, type ProfilePoint, READ_FC, type Table } from './profile.ts'
import { decodeRegisters, type Order, type RegisterValue, registerCount, tidyFloat32 } from './registers.ts'

export { tidyFloat32 }

export interface PlannedRead {
  table: Table
  fc: 1 | 2 | 3 | 4
  address: number
  quantity: number
  points: ProfilePoint[]
}

export interface PlanOptions {
  maxRegisters?: number
  maxGap?: number
  maxBits?: number
}

export function pointSpan(p: ProfilePoint): number {
  return registerCount(p.type, p.length)
}

export function planReads(points: readonly ProfilePoint[], opts: PlanOptions = {}): PlannedRead[] {
  const maxRegs = Math.min(opts.maxRegisters ?? 125, 125)
  const maxBits = Math.min(opts.maxBits ?? MAX_READ_BITS, MAX_READ_BITS)
  const maxGap = opts.maxGap ?? 16
  const out: PlannedRead[] = []
  const tables: Table[] = ['coil', 'discrete_input', 'holding', 'input']
  for (const table of tables) {
    const pts = points.filter((p) => p.function === table).sort((a, b) => a.address - b.address || pointSpan(b) - pointSpan(a))
    const limit = table === 'coil' || table === 'discrete_input' ? maxBits : maxRegs
    let cur: PlannedRead | undefined
    for (const p of pts) {
      const end = p.address + pointSpan(p)
      if (cur) {
        const curEnd = cur.address + cur.quantity
        if (p.address - curEnd <= maxGap && Math.max(curEnd, end) - cur.address <= limit) {
          cur.quantity = Math.max(curEnd, end) - cur.address
          cur.points.push(p)
          continue
        }
      }
      cur = { table, fc: READ_FC[table], address: p.address, quantity: end - p.address, points: [p] }
      out.push(cur)
    }
  }
  return out
}

/** Plan the reads of a whole profile with its own limits. */
export function planProfile(profile: ModbusProfile, opts: PlanOptions = {}): PlannedRead[] {
  return planReads(profile.points, {
    maxRegisters: Math.min(opts.maxRegisters ?? 125, profile.maxRegisters),
    maxGap: opts.maxGap ?? profile.maxGap,
    ...(opts.maxBits !== undefined ? { maxBits: opts.maxBits } : {}),
  })
}

/** Raw register value -> engineering value (raw x scale + offset), without floating-point noise. */
export function toEngineering(raw: RegisterValue, p: ProfilePoint): RegisterValue {
  if (typeof raw !== 'number') return raw
  const base = p.type === 'float32' ? tidyFloat32(raw) : raw
  if (p.scale === 1 && p.offset === 0) return base
  const v = base * p.scale + p.offset
  return Number.isFinite(v) ? Number(v.toPrecision(15)) : v
}

/** Engineering value -> raw register value (the inverse of toEngineering; integers rounded). */
export function toRaw(value: number, p: ProfilePoint): number {
  const raw = (value - p.offset) / p.scale
  if (p.type === 'float32' || p.type === 'float64') return raw
  return Math.round(raw)
}

/** Values of the points of one read, from its registers (FC 3/4) or bits (FC 1/2). */
export function extractValues(read: PlannedRead, data: { registers?: readonly number[]; bits?: readonly boolean[] }, defaultOrder: Order): Map<string, RegisterValue> {
  const out = new Map<string, RegisterValue>()
  for (const p of read.points) {
    const off = p.address - read.address
    if (data.bits) {
      const b = data.bits[off]
      if (b !== undefined) out.set(p.name, b)
      continue
    }
    if (!data.registers) continue
    const raw = decodeRegisters(data.registers.slice(off, off + pointSpan(p)), {
      type: p.type,
      order: p.order ?? defaultOrder,
      ...(p.bit !== undefined ? { bit: p.bit } : {}),
      ...(p.length !== undefined ? { length: p.length } : {}),
    })
    if (raw !== undefined) out.set(p.name, toEngineering(raw, p))
  }
  return out
}

/** The canonical fields a set of point values feeds: `{ voltage_a_v: 230.2, ... }`. */
export function toFields(profile: ModbusProfile, values: ReadonlyMap<string, RegisterValue>): Record<string, number> {
  const fields: Record<string, number> = {}
  for (const p of profile.points) {
    if (p.field === undefined) continue
    const v = values.get(p.name)
    if (typeof v === 'number') fields[p.field] = v
  }
  return fields
}

/**
 * The reading a poll of a profile gives: the kind's `telemetry` in canonical names, unvalidated (the
 * pipeline validates and normalizes; water quality's GB 3838 class comes from there). Undefined when no
 * point of the profile feeds a field. The one registers-to-reading step of the source and of decode.
 */
export function profileReading(profile: ModbusProfile, device: string, values: ReadonlyMap<string, RegisterValue>): ValueReading | undefined {
  const fields = toFields(profile, values)
  if (Object.keys(fields).length === 0) return undefined
  return { kind: profile.kind, type: 'telemetry', device, value: fields }
}
