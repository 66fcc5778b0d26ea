/**
 * A DL/T 645 RS-485 bus of simulated meters (pure logic, no I/O): bytes from the master in, reply bytes out.
 * Each meter answers read requests for its own address with consistent values: a three-phase load that
 * varies slowly, currents and reactive power derived from it, and import energy that integrates the
 * power over time (energy rises with load). Uses the same codec as the gateway (devices/energy-meter).
 */
import {
  createDlt645Framer,
  type Dlt645Version,
  dataItem,
  decodeMessage,
  type Dlt645Message,
  encodeDataValue,
  encodeMessage,
  WILDCARD_ADDRESS,
} from '../../devices/energy-meter/dlt645/index.ts'
import { byteToBcd } from '../../devices/common/bcd.ts'
import { utcMsToBeijing } from '../../devices/common/time.ts'
import { loadCurve } from '../modbus/model.ts'

export interface SimMeterOptions {
  /** 12-digit address. */
  address: string
  version?: Dlt645Version
  /** `silent`: never answers (a dead meter); `error`: answers every read with an abnormal reply. */
  behaviour?: 'normal' | 'silent' | 'error'
  /** Error word of abnormal replies (default 0x02, no requested data). */
  errorWord?: number
  /** Mean three-phase load in kW (default 5..30 from the address). */
  baseLoadKw?: number
  /** Shape the load by the daily load curve (simulators/modbus/model.ts `loadCurve`, Beijing time of `nowMs`). */
  loadCurve?: boolean
  /** Starting import energy in kWh. */
  importKwh?: number
  /** Event counters the meter shows (trip count 1D000001, cover openings 03300D00...): default 0. */
  counts?: { trip?: number; close?: number; coverOpen?: number; programming?: number; powerDown?: number }
  /** Replies to identifiers outside the table (a vendor's own DIs): DI hex -> data hex (before +0x33). */
  rawData?: Readonly<Record<string, string>>
}

export interface SimMeterState {
  address: string
  version: Dlt645Version
  behaviour: 'normal' | 'silent' | 'error'
  importKwh: number
  exportKwh: number
  lastMs: number
  /** Offset of the meter clock from the simulation clock, set by broadcast time. */
  clockOffsetMs: number
  /** The last daily freeze (at Beijing midnight): its meter time and the registers frozen then. */
  freeze?: { ms: number; importKwh: number; exportKwh: number }
  reads: number
  timeSyncs: number
}

export interface MeterValues {
  voltage_a_v: number
  voltage_b_v: number
  voltage_c_v: number
  current_a_a: number
  current_b_a: number
  current_c_a: number
  active_power_kw: number
  reactive_power_kvar: number
  power_factor: number
  frequency_hz: number
  import_energy_kwh: number
  export_energy_kwh: number
}

function hash(s: string): number {
  let h = 2166136261
  for (const c of s) h = Math.imul(h ^ c.charCodeAt(0), 16777619)
  return (h >>> 0) / 0xffffffff
}

export interface MeterBus {
  /** Bytes the master sent; returns the frames the bus answers with (in order). */
  receive(chunk: Buffer, nowMs: number): Buffer[]
  meters: readonly SimMeterState[]
  /** The values a meter shows at `nowMs` (advances its energy registers). */
  values(address: string, nowMs: number): MeterValues | undefined
  /**
   * What a reply frame `receive` returned carries, by canonical field (the values the meter encoded, at the
   * precision of their format): `smartcity simulate`'s ground truth of a poll. Undefined for other frames.
   */
  replyFields(reply: Buffer): { address: string; di: number; fields: Record<string, number> } | undefined
}

export function createMeterBus(opts: { meters: SimMeterOptions[]; preamble?: number; startMs: number }): MeterBus {
  const preamble = opts.preamble ?? 4
  const framer = createDlt645Framer()
  const specs = new Map(opts.meters.map((m) => [m.address, m]))
  const meters: SimMeterState[] = opts.meters.map((m) => ({
    address: m.address,
    version: m.version ?? '2007',
    behaviour: m.behaviour ?? 'normal',
    importKwh: m.importKwh ?? Math.round(1000 + hash(m.address) * 50_000),
    exportKwh: 0,
    lastMs: opts.startMs,
    clockOffsetMs: 0,
    reads: 0,
    timeSyncs: 0,
  }))

  const values = (address: string, nowMs: number): MeterValues | undefined => {
    const m = meters.find((x) => x.address === address)
    if (!m) return undefined
    const h = hash(address)
    const base = specs.get(address)?.baseLoadKw ?? 5 + h * 25
    const t = nowMs / 1000
    // a slow daily-ish swing plus a faster ripple, never negative
    const curve = specs.get(address)?.loadCurve ? loadCurve((((nowMs / 3_600_000 + 8) % 24) + 24) % 24) / 0.55 : 1
    const p = Math.max(0.2, base * curve * (1 + 0.3 * Math.sin(t / 600 + h * 6) + 0.05 * Math.sin(t / 7 + h * 3)))
    const pf = 0.9 + 0.07 * (0.5 + 0.5 * Math.sin(t / 300 + h))
    const v = [0, 1, 2].map((k) => 220 + 6 * Math.sin(t / 120 + k * 2.1 + h * 5) + 2 * h)
    const share = [0.36, 0.33, 0.31]
    const i = v.map((vv, k) => (p * 1000 * share[k]!) / (vv * pf))
    // energy integrates the power since the last look
    if (nowMs > m.lastMs) m.importKwh += (p * (nowMs - m.lastMs)) / 3_600_000
    m.lastMs = Math.max(m.lastMs, nowMs)
    const r = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d
    // the daily freeze at Beijing midnight (meter time): the registers as they stood the first time the
    // meter looks after it (a meter that was read at 23:59 and 00:01 freezes what it showed then)
    const meterMs = nowMs + m.clockOffsetMs
    const midnight = Math.floor((meterMs + 8 * 3_600_000) / 86_400_000) * 86_400_000 - 8 * 3_600_000
    if (!m.freeze || m.freeze.ms < midnight) m.freeze = { ms: midnight, importKwh: Math.floor(m.importKwh * 100) / 100, exportKwh: Math.floor(m.exportKwh * 100) / 100 }
    return {
      voltage_a_v: r(v[0]!, m.version === '2007' ? 1 : 0),
      voltage_b_v: r(v[1]!, m.version === '2007' ? 1 : 0),
      voltage_c_v: r(v[2]!, m.version === '2007' ? 1 : 0),
      current_a_a: r(i[0]!, m.version === '2007' ? 3 : 2),
      current_b_a: r(i[1]!, m.version === '2007' ? 3 : 2),
      current_c_a: r(i[2]!, m.version === '2007' ? 3 : 2),
      active_power_kw: r(p, 4),
      reactive_power_kvar: r(p * Math.tan(Math.acos(pf)), 4),
      power_factor: r(pf, 3),
      frequency_hz: r(50 + 0.02 * Math.sin(t / 30), 2),
      import_energy_kwh: Math.floor(m.importKwh * 100) / 100,
      export_energy_kwh: Math.floor(m.exportKwh * 100) / 100,
    }
  }

  let lastFields: { address: string; di: number; fields: Record<string, number> } | undefined
  const told = new WeakMap<Buffer, { address: string; di: number; fields: Record<string, number> }>()
  const answer = (msg: Dlt645Message, nowMs: number): Dlt645Message | undefined => {
    switch (msg.kind) {
      case 'read_request': {
        const m = meters.find((x) => x.address === msg.address && x.version === msg.version)
        if (!m || m.behaviour === 'silent') return undefined
        m.reads++
        const errorWord = specs.get(m.address)?.errorWord ?? 0x02
        if (m.behaviour === 'error') return { kind: 'error_reply', version: m.version, address: m.address, errorWord }
        const item = dataItem(m.version, msg.di)
        const spec = specs.get(m.address)
        if (!item) {
          const raw = spec?.rawData?.[msg.di.toString(16).toUpperCase().padStart(m.version === '2007' ? 8 : 4, '0')]
          if (raw === undefined) return { kind: 'error_reply', version: m.version, address: m.address, errorWord: 0x02 }
          return { kind: 'read_reply', version: m.version, address: m.address, di: msg.di, data: Buffer.from(raw, 'hex'), more: false }
        }
        let data: Buffer | undefined
        const v = values(m.address, nowMs)!
        if (item.kind === 'datetime') {
          // YYMMDDhhmm of the last freeze, sent mm hh DD MM YY
          const f = utcMsToBeijing(m.freeze!.ms)
          data = Buffer.from([f.mi, f.h, f.d, f.mo, f.y % 100].map(byteToBcd))
        } else if (item.kind) {
          const b = utcMsToBeijing(nowMs + m.clockOffsetMs)
          const weekday = new Date(Date.UTC(b.y, b.mo - 1, b.d)).getUTCDay()
          data = Buffer.from((item.kind === 'date' ? [weekday, b.d, b.mo, b.y % 100] : [b.s, b.mi, b.h]).map(byteToBcd))
        } else {
          const c = spec?.counts ?? {}
          const all: Record<string, number> = {
            ...(v as unknown as Record<string, number>),
            trip_count: c.trip ?? 0,
            close_count: c.close ?? 0,
            cover_open_count: c.coverOpen ?? 0,
            programming_count: c.programming ?? 0,
            power_down_count: c.powerDown ?? 0,
            daily_frozen_import_energy_kwh: m.freeze!.importKwh,
            daily_frozen_export_energy_kwh: m.freeze!.exportKwh,
          }
          data = encodeDataValue(m.version, msg.di, all)
          const fields: Record<string, number> = {}
          for (const it of item.items) {
            const v = all[it.name]
            if (it.field !== undefined && v !== undefined) fields[it.field] = Math.round(Math.abs(v) * 10 ** it.fmt.decimals) / 10 ** it.fmt.decimals * Math.sign(v || 1)
          }
          lastFields = { address: m.address, di: msg.di, fields }
        }
        if (!data) return { kind: 'error_reply', version: m.version, address: m.address, errorWord: 0x02 }
        return { kind: 'read_reply', version: m.version, address: m.address, di: msg.di, data, more: false }
      }
      case 'read_address_request': {
        if (msg.address !== WILDCARD_ADDRESS) return undefined
        // on a real bus several meters would collide; here the first answering meter wins
        const m = meters.find((x) => x.behaviour !== 'silent')
        return m ? { kind: 'read_address_reply', address: m.address } : undefined
      }
      case 'broadcast_time': {
        const t = msg.time
        const meterMs = Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute, t.second) - 8 * 3_600_000
        for (const m of meters) {
          m.clockOffsetMs = meterMs - nowMs
          m.timeSyncs++
        }
        return undefined
      }
      default:
        return undefined
    }
  }

  return {
    receive(chunk, nowMs) {
      const out: Buffer[] = []
      for (const ev of framer.push(chunk)) {
        if (!ev.ok) continue
        const r = decodeMessage(ev.frame)
        if (!r.ok || (r.value.frame.control & 0x80) !== 0) continue // not a request
        lastFields = undefined
        const reply = answer(r.value.message, nowMs)
        if (reply) {
          const b = encodeMessage(reply, preamble)
          if (lastFields && reply.kind === 'read_reply') told.set(b, lastFields)
          out.push(b)
        }
      }
      return out
    },
    meters,
    values,
    replyFields: (b) => told.get(b),
  }
}
