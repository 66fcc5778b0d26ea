/**
 * Scenario entries of ETC gantries: one simulated RSU per device id, Poisson traffic shaped by rush hours at
 * the model clock. The gateway's etc-rsu source dials the RSU (mode client) or the RSU dials the gateway
 * (mode server). Ground truth: every passage the lane answered, with the result the lane must record,
 * matched by OBU id and result with the gateway's point nearest in time (the lane stamps the end of the
 * passage with its own time).
 */
import { etcGantry } from '../../demo-parts/city-services.ts'
import type { DeviceEntry } from '../scenario.ts'
import { fromEtcPassage } from '../truth.ts'
import { combine, type EntryKind, heard, type SourceCfg } from './common.ts'

type EtcEntry = Extract<DeviceEntry, { protocol: 'etc-rsu' }>
type EtcSource = Extract<SourceCfg, { type: 'etc-rsu' }>

export const etcEntry: EntryKind<EtcEntry> = {
  label: 'ETC RSU over TCP',
  ids: (e, i) => e.ids ?? Array.from({ length: e.count }, (_, k) => `rsu${i + 1}-${k + 1}`),
  served(_e, ids, cfg, file, generated) {
    if (generated) return { sources: [] }
    const sources: SourceCfg[] = []
    for (const id of ids) {
      const s = cfg.sources.find((x): x is EtcSource => x.type === 'etc-rsu' && x.device === id)
      if (!s) return { sources: [], problem: `${file} has no etc-rsu source for the RSU ${id}` }
      if (s.mode === 'serial') return { sources: [], problem: `the etc-rsu source ${s.id} reads a serial RSU; the scenario's RSUs speak TCP` }
      sources.push(s)
    }
    return { sources }
  },
  part(e, ids, index, served, ctx) {
    return combine(
      `etc-${index}`,
      'ETC gantries',
      ids.map((id, k) => {
        const src = served.sources[k] as EtcSource | undefined
        // The gateway listens (mode server): the RSU dials it where the configuration (or the runner) put it.
        const dials = src?.mode === 'server'
        return etcGantry({
          device: id,
          ...(src ? { lane: src.lane, blacklist: src.blacklist, tariff: src.tariff } : {}),
          ratePerSec: e.rate_per_sec * ctx.speed,
          seed: ctx.seed * 1000 + index * 100 + k,
          ...(e.rush_hour ? { rushHour: { startMs: ctx.clock.start, speed: ctx.speed, peaks: e.rush_hour.peaks, factor: e.rush_hour.factor, widthH: e.rush_hour.width_h } } : {}),
          mode: dials ? 'client' : 'server',
          ...(dials || (!ctx.owned && src) ? { port: src?.port ?? 0 } : {}),
          onPassage(device, p) {
            if (!heard(ctx, device)) return
            ctx.truth.add(fromEtcPassage(device, p, (src?.transactionTimeoutMs ?? 3_000) + 5_000))
          },
        })
      }),
    )
  },
  place(served, handle) {
    for (const src of served.sources as EtcSource[]) {
      const sim = handle.sources.find((s) => s.type === 'etc-rsu' && s.device === src.device) as { port: number } | undefined
      if (sim && src.mode === 'client') {
        src.host = '127.0.0.1'
        src.port = sim.port
      }
    }
  },
}
