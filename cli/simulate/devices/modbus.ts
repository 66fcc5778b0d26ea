/**
 * Scenario entries of Modbus devices (energy meters, water sondes) by profile: Modbus TCP, RTU on a socat
 * pseudo-terminal, RTU over TCP. The gateway polls them: the ground truth is what each simulated device
 * answered (its model's values as its registers held them), with the poll cycle it belongs to, matched with
 * the gateway's point of that cycle (truth.ts `compare`; the gateway stamps a poll with its own time).
 */
import { BUILTIN_PROFILES } from '../../../devices/modbus-profiles.ts'
import { modbusBus } from '../../demo-parts/modbus.ts'
import type { DeviceEntry } from '../scenario.ts'
import { createCycleCounter, fromModbusAnswer } from '../truth.ts'
import { type EntryKind, heard, pad, type SourceCfg } from './common.ts'

type ModbusEntry = Extract<DeviceEntry, { protocol: 'modbus-tcp' | 'modbus-rtu' | 'modbus-rtu-over-tcp' }>
type ModbusSource = Extract<SourceCfg, { type: 'modbus-tcp' | 'modbus-rtu' | 'modbus-rtu-over-tcp' }>

const TRANSPORT = { 'modbus-tcp': 'tcp', 'modbus-rtu': 'rtu', 'modbus-rtu-over-tcp': 'rtu-over-tcp' } as const

export const modbusEntry: EntryKind<ModbusEntry> = {
  label: 'Modbus',
  ids: (e, i) => e.ids ?? Array.from({ length: e.count }, (_, k) => `${e.id_prefix ?? `${e.kind === 'energy_meter' ? 'em' : 'wqm'}${i + 1}-`}${pad(k + 1, 3)}`),
  served(e, ids, cfg, file, generated) {
    if (!BUILTIN_PROFILES.has(e.profile)) return { sources: [], problem: `no built-in profile ${e.profile} (built-in: ${[...BUILTIN_PROFILES.keys()].join(', ')})` }
    if (BUILTIN_PROFILES.get(e.profile)!.kind !== e.kind) return { sources: [], problem: `profile ${e.profile} is a ${BUILTIN_PROFILES.get(e.profile)!.kind} profile, the entry is ${e.kind}` }
    if (generated) return { sources: [] }
    const of = cfg.sources.filter((s): s is ModbusSource => s.type === e.protocol)
    const src = of.find((s) => ids.some((id) => s.devices.some((d) => d.device === id)))
    if (!src) return { sources: [], problem: `${file} has no ${e.protocol} source that polls ${ids.slice(0, 3).join(', ')}${ids.length > 3 ? ', ...' : ''} (${of.length} ${e.protocol} source(s))` }
    const missing = ids.filter((id) => !src.devices.some((d) => d.device === id))
    if (missing.length > 0) return { sources: [], problem: `the ${e.protocol} source ${src.id} does not poll ${missing.slice(0, 5).join(', ')}` }
    const wrong = src.devices.filter((d) => ids.includes(d.device) && d.profile !== e.profile)
    if (wrong.length > 0) return { sources: [], problem: `the ${e.protocol} source ${src.id} polls ${wrong.map((d) => `${d.device} with profile ${d.profile}`).join(', ')}; the device${wrong.length > 1 ? 's are' : ' is'} ${e.profile}` }
    return { sources: [src] }
  },
  part(e, ids, index, served, ctx) {
    const src = served.sources[0] as ModbusSource | undefined
    const interval = (id: string) => src?.devices.find((d) => d.device === id)?.intervalMs ?? Math.max(100, Math.round((e.period ?? 1_000) / ctx.speed))
    const devices = ids.map((id, k) => ({
      id,
      unit: src?.devices.find((d) => d.device === id)?.unit ?? e.first_unit + k,
      profile: e.profile,
      intervalMs: interval(id),
      model: { seed: ctx.seed * 1000 + index * 100 + k, ...(e.rated_kw !== undefined ? { ratedKw: e.rated_kw } : {}) },
    }))
    // With a gateway already running, the simulator goes where its configuration says.
    // A retry after a broken or late answer is the same cycle: those are no answers (not counted below). A
    // retry after a time-out (a loaded machine; the RTU time-out is short) is a read answered twice in a row:
    // truth.ts accounts the one the gateway did not keep.
    const cycleOf = createCycleCounter()
    const where = !ctx.owned && src ? (src.type === 'modbus-rtu' ? { path: src.path } : { port: src.port }) : {}
    return modbusBus({
      transport: TRANSPORT[e.protocol],
      sourceId: src?.id ?? `sim-${e.protocol}-${index + 1}`,
      devices,
      ...where,
      now: ctx.clock.now,
      onAnswer(device, profile, a) {
        const r = a.request
        if (a.delayMs > 0 || a.corrupt || 'exception' in a.response || (r.fc !== 3 && r.fc !== 4)) return
        const read = `${r.fc}:${r.address}:${r.quantity}`
        const cycle = cycleOf(device, read)
        if (!heard(ctx, device)) return
        const p = fromModbusAnswer(device, profile, a, Date.now(), cycle, read)
        if (p) ctx.truth.add(p)
      },
    })
  },
  place(served, handle) {
    const src = served.sources[0] as ModbusSource | undefined
    const sim = handle.sources[0] as { path?: string; host?: string; port?: number } | undefined
    if (!src || !sim) return
    if (src.type === 'modbus-rtu') src.path = sim.path!
    else {
      src.host = '127.0.0.1'
      src.port = sim.port!
      if (src.type === 'modbus-tcp') for (const d of src.devices) if (d.port !== undefined || d.host !== undefined) Object.assign(d, { host: undefined, port: undefined })
    }
  },
}
