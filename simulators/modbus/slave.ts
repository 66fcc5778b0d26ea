/**
 * A simulated Modbus slave: answers request PDUs from a profile and a behaviour model, with the same codecs the
 * gateway uses to read (encode for the simulator, decode for the gateway). Faults can be injected per slave:
 * no answer, an exception code, a corrupted CRC, a slow answer.
 */
import { encodeValue, registerCount, decodeRegisters, type RegisterValue } from '../../devices/common/modbus/registers.ts'
import type { ModbusProfile, ProfilePoint, Table } from '../../devices/common/modbus/profile.ts'
import { toRaw } from '../../devices/common/modbus/planner.ts'
import type { Request, Response } from '../../devices/common/modbus/pdu.ts'
import { createModel, type DeviceModel, type ModelOptions } from './model.ts'

export type Fault =
  | { kind: 'none' }
  | { kind: 'silent' }
  | { kind: 'exception'; code: number }
  | { kind: 'crc' }
  | { kind: 'slow'; delayMs: number }

export interface Slave {
  unit: number
  profile: ModbusProfile
  model: DeviceModel
  fault: Fault
  /** Share of requests the fault applies to (0..1, default 1). */
  faultRate: number
  /** The next this many answers go out with a broken CRC (TCP: a broken MBAP header), whatever `fault` says. */
  corruptNext: number
  /** Answer one request as the device would (faults are applied by the transport). */
  handle(req: Request, t: number): Response
  requests: number
}

const TABLE_OF_FC: Readonly<Record<number, Table>> = { 1: 'coil', 2: 'discrete_input', 3: 'holding', 4: 'input', 5: 'coil', 6: 'holding', 15: 'coil', 16: 'holding' }

function exception(fc: number, code: number): Response {
  return { fc, exception: code, name: '' }
}

export function createSlave(profile: ModbusProfile, unit: number, opts: ModelOptions & { model?: DeviceModel } = {}): Slave {
  const model = opts.model ?? createModel(profile, unit, opts)
  const byTable = new Map<Table, ProfilePoint[]>()
  for (const p of profile.points) byTable.set(p.function, [...(byTable.get(p.function) ?? []), p])
  const span = (t: Table) => {
    const pts = byTable.get(t) ?? []
    return { lo: Math.min(...pts.map((p) => p.address)), hi: Math.max(...pts.map((p) => p.address + registerCount(p.type, p.length))) }
  }
  const spans = new Map<Table, { lo: number; hi: number }>([...byTable.keys()].map((t) => [t, span(t)]))

  /** Register (or bit) image of a table at time t. */
  const image = (table: Table, t: number): Map<number, number> => {
    const values = model.values(t)
    const m = new Map<number, number>()
    for (const p of byTable.get(table) ?? []) {
      const v = values.get(p.name)
      if (v === undefined) continue
      if (table === 'coil' || table === 'discrete_input') {
        m.set(p.address, v === true ? 1 : 0)
        continue
      }
      const raw = typeof v === 'number' ? toRaw(v, p) : v
      const enc = encodeValue(raw, { type: p.type, order: p.order ?? profile.order, ...(p.bit !== undefined ? { bit: p.bit } : {}), ...(p.length !== undefined ? { length: p.length } : {}) })
      if (!enc.ok) continue
      enc.registers.forEach((r, i) => {
        // Bits of one register share it.
        m.set(p.address + i, p.type === 'bit' ? (m.get(p.address + i) ?? 0) | r : r)
      })
    }
    return m
  }

  const inRange = (table: Table, address: number, quantity: number) => {
    const s = spans.get(table)
    return s !== undefined && address >= s.lo && address + quantity <= s.hi
  }

  const writePoint = (table: Table, address: number, regs: number[] | boolean[]): boolean => {
    // A write must cover writable points exactly.
    let a = address
    let i = 0
    const pts = byTable.get(table) ?? []
    while (i < regs.length) {
      const p = pts.find((q) => q.address === a && q.writable)
      if (!p) return false
      const n = table === 'coil' ? 1 : registerCount(p.type, p.length)
      const slice = regs.slice(i, i + n)
      if (slice.length < n) return false
      let v: RegisterValue | undefined
      if (table === 'coil') v = slice[0] === true
      else {
        const raw = decodeRegisters(slice as number[], { type: p.type, order: p.order ?? profile.order })
        v = typeof raw === 'number' ? raw * p.scale + p.offset : raw
      }
      if (v === undefined) return false
      if (typeof v === 'number' && ((p.min !== undefined && v < p.min) || (p.max !== undefined && v > p.max))) return false
      model.set(p.name, v)
      a += n
      i += n
    }
    return true
  }

  const slave: Slave = {
    unit,
    profile,
    model,
    fault: { kind: 'none' },
    faultRate: 1,
    corruptNext: 0,
    requests: 0,
    handle(req, t) {
      slave.requests++
      const table = TABLE_OF_FC[req.fc]!
      switch (req.fc) {
        case 1:
        case 2:
        case 3:
        case 4: {
          if (!inRange(table, req.address, req.quantity)) return exception(req.fc, 2)
          const img = image(table, t)
          if (req.fc === 1 || req.fc === 2) return { fc: req.fc, bits: Array.from({ length: req.quantity }, (_, i) => img.get(req.address + i) === 1) }
          return { fc: req.fc as 3 | 4, registers: Array.from({ length: req.quantity }, (_, i) => img.get(req.address + i) ?? 0) }
        }
        case 5:
          return writePoint('coil', req.address, [req.value]) ? { fc: 5, address: req.address, value: req.value } : exception(5, 2)
        case 6:
          return writePoint('holding', req.address, [req.value]) ? { fc: 6, address: req.address, value: req.value } : exception(6, 2)
        case 15:
          return writePoint('coil', req.address, req.values) ? { fc: 15, address: req.address, quantity: req.values.length } : exception(15, 2)
        case 16:
          return writePoint('holding', req.address, req.values) ? { fc: 16, address: req.address, quantity: req.values.length } : exception(16, 2)
      }
    },
  }
  return slave
}

/** Whether the slave's fault applies to this request. */
export function faultNow(s: Slave, rnd: () => number = Math.random): Fault {
  if (s.fault.kind === 'none') return s.fault
  return s.faultRate >= 1 || rnd() < s.faultRate ? s.fault : { kind: 'none' }
}
