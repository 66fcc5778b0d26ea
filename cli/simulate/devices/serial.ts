/**
 * Scenario entries of serial devices on socat pseudo-terminals: a BeiDou/GNSS receiver (NMEA 0183, one per
 * device id, driving a route) and an RS-485 bus of DL/T 645-2007 meters (a load curve) the gateway polls.
 * Ground truth: the receiver's epochs with a fix, at their NMEA time, written while the gateway had the port
 * open; the meters' replies, each with the poll cycle it belongs to (the gateway asks one meter's data
 * identifiers one after the other and stores one point per meter per cycle, stamped with its own time), so
 * that truth.ts matches a cycle's answers with the gateway's point of that cycle.
 */
import { dlt645BusPart, gnssReceiverPart } from '../../demo-parts/serial.ts'
import type { DeviceEntry } from '../scenario.ts'
import { createCycleCounter, fromDlt645Reply, fromNmeaEpoch } from '../truth.ts'
import { combine, type EntryKind, heard, type SourceCfg } from './common.ts'

type NmeaEntry = Extract<DeviceEntry, { protocol: 'nmea' }>
type DltEntry = Extract<DeviceEntry, { protocol: 'dlt645' }>
type NmeaSource = Extract<SourceCfg, { type: 'nmea' }>
type DltSource = Extract<SourceCfg, { type: 'dlt645' }>

export const nmeaEntry: EntryKind<NmeaEntry> = {
  label: 'NMEA 0183 on a serial port',
  ids: (e, i) => e.ids ?? Array.from({ length: e.count }, (_, k) => `gnss${i + 1}-${k + 1}`),
  served(_e, ids, cfg, file, generated) {
    if (generated) return { sources: [] }
    const sources: SourceCfg[] = []
    for (const id of ids) {
      const s = cfg.sources.find((x): x is NmeaSource => x.type === 'nmea' && x.device === id)
      if (!s) return { sources: [], problem: `${file} has no nmea source for the receiver ${id} (nmea sources: ${cfg.sources.filter((x): x is NmeaSource => x.type === 'nmea').map((x) => x.device).join(', ') || 'none'})` }
      sources.push(s)
    }
    return { sources }
  },
  part(e, ids, index, served, ctx) {
    return combine(
      `nmea-${index}`,
      'GNSS receivers',
      ids.map((id, k) => {
        const src = served.sources[k] as NmeaSource | undefined
        return gnssReceiverPart({
          device: id,
          sourceId: src?.id ?? `sim-nmea-${index + 1}-${k + 1}`,
          speedKmh: e.speed_kmh,
          modelSpeed: ctx.speed,
          tunnels: e.tunnels,
          ...(e.route ? { route: e.route } : {}),
          ...(!ctx.owned && src ? { path: src.serial.path } : {}),
          onEpoch(device, ep) {
            if (!heard(ctx, device)) return
            const p = fromNmeaEpoch(device, ep.truth, Date.now(), ep.lines)
            if (p) ctx.truth.add(p)
          },
        })
      }),
    )
  },
  place(served, handle) {
    for (const src of served.sources as NmeaSource[]) {
      const sim = handle.sources.find((s) => s.type === 'nmea' && s.device === src.device) as { serial: { path: string } } | undefined
      if (sim) src.serial.path = sim.serial.path
    }
  },
}

const meterDevice = (m: { address: string; device?: string | undefined }) => m.device ?? `dlt645-${m.address}`

export const dlt645Entry: EntryKind<DltEntry> = {
  label: 'DL/T 645 on a serial port',
  ids: (e, i) => e.ids ?? Array.from({ length: e.count }, (_, k) => `meter${i + 1}-${k + 1}`),
  served(e, ids, cfg, file, generated) {
    if (e.addresses && e.addresses.length !== ids.length) return { sources: [], problem: `${e.addresses.length} addresses for ${ids.length} meters` }
    if (generated) return { sources: [] }
    const of = cfg.sources.filter((s): s is DltSource => s.type === 'dlt645')
    const src = of.find((s) => ids.some((id) => s.meters.some((m) => meterDevice(m) === id)))
    if (!src) return { sources: [], problem: `${file} has no dlt645 source that polls ${ids.slice(0, 3).join(', ')}${ids.length > 3 ? ', ...' : ''} (${of.length} dlt645 source(s))` }
    const missing = ids.filter((id) => !src.meters.some((m) => meterDevice(m) === id))
    if (missing.length > 0) return { sources: [], problem: `the dlt645 source ${src.id} does not poll ${missing.join(', ')}` }
    return { sources: [src] }
  },
  part(e, ids, index, served, ctx) {
    const src = served.sources[0] as DltSource | undefined
    const address = (id: string, k: number) => src?.meters.find((m) => meterDevice(m) === id)?.address ?? e.addresses?.[k] ?? String(110_101_000_001 + k + 1000 * index)
    const pollIntervalMs = src?.pollIntervalMs ?? Math.max(200, Math.round((e.period ?? 2_000) / ctx.speed))
    // One meter after the other on the bus; a reply slowed by a fault (slow_answers) is late.
    const cycleOf = createCycleCounter({ bus: true })
    return dlt645BusPart({
      sourceId: src?.id ?? `sim-dlt645-${index + 1}`,
      meters: ids.map((id, k) => ({ device: id, address: address(id, k), ...(e.base_load_kw !== undefined ? { baseLoadKw: e.base_load_kw } : {}) })),
      pollIntervalMs,
      now: ctx.clock.now,
      ...(!ctx.owned && src ? { path: src.serial.path } : {}),
      onReply(device, fields, reply) {
        const cycle = cycleOf(device, String(reply.di), reply.delayMs > 100)
        if (!heard(ctx, device)) return
        ctx.truth.add(fromDlt645Reply(device, fields, Date.now(), cycle, reply.raw.toString('hex')))
      },
    })
  },
  place(served, handle) {
    const src = served.sources[0] as DltSource | undefined
    const sim = handle.sources[0] as { serial: { path: string } } | undefined
    if (src && sim) src.serial.path = sim.serial.path
  },
}
