
import type { GatewayConfig } from '../../gateway/config.ts'
import { cityServices } from '../demo-parts/city-services.ts'
import { tcpPlatforms } from '../demo-parts/tcp-platforms.ts'
import type { DemoPart, DemoPartHandle } from '../demo-parts/types.ts'
import { waterMqtt } from '../demo-parts/water-mqtt.ts'
import type { EntryKind, PlanContext, Served } from './devices/common.ts'
import { etcEntry } from './devices/etc.ts'
import { modbusEntry } from './devices/modbus.ts'
import { dlt645Entry, nmeaEntry } from './devices/serial.ts'
import type { DeviceEntry } from './scenario.ts'
import { fromElevator, fromHj212, fromJt808, fromMqttWater, type Truth } from './truth.ts'

export type { PlanContext } from './devices/common.ts'

/** Entries of the protocols beyond the first slice, each in cli/simulate/devices/<protocol>.ts. */
const MORE: Partial<Record<DeviceEntry['protocol'], EntryKind>> = {
  'modbus-tcp': modbusEntry as EntryKind,
  'modbus-rtu': modbusEntry as EntryKind,
  'modbus-rtu-over-tcp': modbusEntry as EntryKind,
  nmea: nmeaEntry as EntryKind,
  dlt645: dlt645Entry as EntryKind,
  'etc-rsu': etcEntry as EntryKind,
}

export interface Planned {
  index: number
  entry: DeviceEntry
  label: string
  ids: string[]
  /** Why the gateway configuration cannot serve this entry (then it is not started). */
  problem?: string
  handle?: DemoPartHandle
  /** The configuration's sources that serve the entry (protocols of cli/simulate/devices/). */
  served?: Served
  /** Devices whose answers are no ground truth until a wall time (device faults; the run's PlanContext map). */
  unheard?: Map<string, number>
  /** The run's ground truth (device faults drop answers a fault made unreliable). */
  truth?: Truth
}

export const LABEL: Record<string, string> = {
  mqtt: 'MQTT JSON',
  jt808: 'JT/T 808 over TCP',
  hj212: 'HJ 212 over TCP',
  'modbus-tcp': 'Modbus TCP',
  'modbus-rtu': 'Modbus RTU on a serial port',
  'modbus-rtu-over-tcp': 'Modbus RTU over TCP',
  nmea: 'NMEA 0183 on a serial port',
  dlt645: 'DL/T 645 on a serial port',
  'etc-rsu': 'ETC RSU over TCP',
}
const pad = (n: number, w: number) => String(n).padStart(w, '0')

export function idsOf(e: DeviceEntry, i: number): string[] {
  const more = MORE[e.protocol]
  if (more) return more.ids(e, i)
  if (e.ids) return e.ids
  const n = Array.from({ length: e.count }, (_, k) => k + 1)
  if (e.protocol === 'mqtt' && e.kind === 'elevator') return n.map((k) => `${e.building ?? `tower${i + 1}`}-L${k}`)
  if (e.protocol === 'mqtt') return n.map((k) => `${e.id_prefix ?? `wq${i + 1}-`}${pad(k, 3)}`)
  if (e.protocol === 'jt808') return n.map((k) => String((e.first_phone ?? 13_900_200_001 + 1000 * i) + k - 1))
  if (e.protocol !== 'hj212') return []
  return n.map((k) => `${e.id_prefix ?? `SIMWQ${i + 1}-`}${pad(k, 6)}`)
}

/** The gateway's sources that serve an entry, or why none does. */
export function servedBy(e: DeviceEntry, ids: string[], cfg: GatewayConfig, file: string): string | undefined {
  if (MORE[e.protocol]) throw new Error(`servedBy: ${e.protocol} entries are planned with planEntry`)
  const inv = new Set(cfg.devices.map((d) => d.id))
  const need = (type: string) => cfg.sources.find((s) => s.type === type) as (GatewayConfig['sources'][number] & { requireInventory?: boolean; passwords?: Record<string, string>; defaultPassword?: string | null }) | undefined
  const src = need(e.protocol)
  if (!src) return `${file} has no ${e.protocol} source (sources: ${cfg.sources.map((s) => s.type).join(', ') || 'none'}), so ${ids.length} ${e.kind} device(s) over ${LABEL[e.protocol]} have nothing to talk to`
  if (src.requireInventory) {
    const missing = ids.filter((id) => !inv.has(id))
    if (missing.length > 0) return `the ${e.protocol} source requires the inventory and ${file} has no devices ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`
  }
  if (e.protocol === 'hj212' && e.password === undefined) {
    const unknown = ids.filter((mn) => src.passwords?.[mn] === undefined && (src.defaultPassword ?? undefined) === undefined)
    if (unknown.length > 0) return `the hj212 source has no password for MN ${unknown.slice(0, 5).join(', ')} (and no defaultPassword); give the entry a password or add them to passwords`
  }
  return undefined
}

/** Plan one entry: its ids, the sources that serve it, or why none does. */
export function planEntry(entry: DeviceEntry, index: number, cfg: GatewayConfig, file: string, generated: boolean): Planned {
  const ids = idsOf(entry, index)
  const label = `${entry.kind} over ${LABEL[entry.protocol]}`
  const more = MORE[entry.protocol]
  if (!more) {
    const problem = servedBy(entry, ids, cfg, file)
    return { index, entry, ids, label, ...(problem ? { problem } : {}) }
  }
  const served = more.served(entry, ids, cfg, file, generated)
  return { index, entry, ids, label, served, ...(served.problem ? { problem: served.problem } : {}) }
}

/** After `prepare`: point the runner's gateway at the part's simulators (a new protocol's source address or path). */
export function placeEntry(p: Planned): void {
  const more = MORE[p.entry.protocol]
  if (more && p.served && p.handle) more.place(p.served, p.handle)
}

export function partFor(p: Planned, ctx: PlanContext): DemoPart {
  const { cfg, truth, seed, speed, clock } = ctx
  const e = p.entry
  const more = MORE[e.protocol]
  if (more) return more.part(e, p.ids, p.index, p.served ?? { sources: [] }, ctx)
  const scaled = (ms: number | undefined, dflt: number) => Math.max(50, (ms ?? dflt) / speed)
  const s = seed * 1000 + p.index * 100
  if (e.protocol === 'mqtt' && e.kind === 'elevator') {
    return cityServices({
      etc: false,
      cars: p.ids.length,
      building: p.ids[0]!.replace(/-L1$/, ''),
      seed: s,
      // The passenger model steps 200 ms of model time per (scaled) step; heartbeats are model time too.
      heartbeatMs: e.period ?? 10_000,
      stepMs: Math.max(50, 200 / speed),
      modelNow: clock.ticks(200),
      modelSpeed: speed,
      faultEveryMs: e.fault_every === undefined ? 0 : Math.max(1_000, e.fault_every / speed),
      reportEvents: e.report_events,
      onAcked: (id, st) => truth.add(fromElevator(id, st)),
    })
  }
  if (e.protocol === 'mqtt') {
    return waterMqtt({
      stations: p.ids.map((id) => ({ id, site: `${e.kind} ${id}`, ...(e.water_body ? { waterBody: e.water_body } : {}) })),
      intervalMs: scaled(e.period, 5_000),
      seed: s,
      ...(e.model ? { params: e.model } : {}),
      ...(e.pollute ? { pollute: 0 } : {}),
      modelNow: () => clock.ticks(e.period ?? 5_000),
      onAcked: (id, t) => truth.add(fromMqttWater(id, t)),
    })
  }
  const jt = cfg.sources.find((x) => x.type === 'jt808') as { port: number } | undefined
  const hj = cfg.sources.find((x) => x.type === 'hj212') as { port: number; passwords: Record<string, string>; defaultPassword?: string | null } | undefined
  if (e.protocol === 'jt808') {
    return tcpPlatforms({
      vehicles: { bus: 0, taxi: 0, sanitation: 0, [e.vehicle]: p.ids.length },
      firstPhone: Number(p.ids[0]),
      intervalSec: scaled(e.period, 10_000) / 1000,
      modelIntervalSec: (e.period ?? 10_000) / 1000,
      heartbeatSec: 30,
      alarmProbability: e.alarm_probability,
      stations: [],
      seed: s,
      ports: { jt808: jt?.port ?? 0 },
      onLocation: (phone, l) => {
        const pt = fromJt808(phone, l)
        if (pt) truth.add(pt)
      },
    })
  }
  if (e.protocol !== 'hj212') throw new Error(`no simulator for ${e.protocol}`)
  return tcpPlatforms({
    vehicles: { bus: 0, taxi: 0, sanitation: 0 },
    stations: p.ids.map((mn) => ({ mn, pw: e.password ?? hj?.passwords[mn] ?? hj?.defaultPassword ?? '', site: `HJ 212 station ${mn}` })),
    realtimeSec: scaled(e.period, 30_000) / 1000,
    minuteSec: scaled(e.minute_period, 60_000) / 1000,
    flagProbability: e.flag_probability,
    seed: s,
    modelNow: () => clock.ticks(e.period ?? 30_000),
    ports: { hj212: hj?.port ?? 0 },
    onUpload: (mn, m) => {
      const pt = fromHj212(mn, m)
      if (pt) truth.add(pt)
    },
  })
}
