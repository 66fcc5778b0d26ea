/**
 * What the device plan of `smartcity simulate` needs per protocol beyond the first slice's (devices.ts):
 * the ids of an entry, the gateway configuration's source that serves it (by source type and the device
 * ids it lists), the simulator part, and where the gateway's source must point so that it reaches the
 * simulator (the runner rewrites the address of the gateway it starts; with `--gateway URL` the simulator
 * goes where the configuration says).
 */
import type { GatewayConfig } from '../../../gateway/config.ts'
import type { DemoPart, DemoPartHandle } from '../../demo-parts/types.ts'
import type { SimClock } from '../clock.ts'
import type { DeviceEntry } from '../scenario.ts'
import type { Truth } from '../truth.ts'

export type SourceCfg = GatewayConfig['sources'][number]

export interface PlanContext {
  cfg: GatewayConfig
  truth: Truth
  seed: number
  speed: number
  clock: SimClock
  /** The runner starts the gateway (so it may move the gateway's source to the simulator). */
  owned: boolean
  /** No `--gateway-config`: the runner adds the sources and devices the parts ask for. */
  generated: boolean
  /** Devices whose answers are not ground truth until the given wall time (slow answers, a pulled port). */
  unheard: Map<string, number>
}

/** An entry's served sources: the configuration's sources (or none when generated) and, per device id, its settings there. */
export interface Served {
  /** The sources in the user's configuration (in id order for one-device-per-source protocols). */
  sources: SourceCfg[]
  problem?: string
}

export interface EntryKind<E extends DeviceEntry = DeviceEntry> {
  label: string
  ids(e: E, index: number): string[]
  served(e: E, ids: string[], cfg: GatewayConfig, file: string, generated: boolean): Served
  part(e: E, ids: string[], index: number, served: Served, ctx: PlanContext): DemoPart
  /** Point the (runner-owned) gateway's sources at the simulator the part started. */
  place(served: Served, handle: DemoPartHandle): void
}

export const pad = (n: number, w: number) => String(n).padStart(w, '0')

/** Whether a device's answer now counts as ground truth. */
export const heard = (ctx: PlanContext, device: string) => (ctx.unheard.get(device) ?? 0) <= Date.now()

/** Several parts (one per device) as one: prepared, started and stopped together; hooks go to the part that has the device. */
export function combine(id: string, name: string, parts: DemoPart[]): DemoPart {
  return {
    id,
    name,
    async prepare(ctx) {
      const handles: DemoPartHandle[] = []
      try {
        for (const p of parts) handles.push(await p.prepare(ctx))
      } catch (err) {
        for (const h of handles) await h.stop().catch(() => undefined)
        throw err
      }
      const first = <T>(f: (h: DemoPartHandle) => T | undefined | false): T | undefined => {
        for (const h of handles) {
          const r = f(h)
          if (r !== undefined && r !== false) return r
        }
        return undefined
      }
      return {
        sources: handles.flatMap((h) => h.sources),
        devices: handles.flatMap((h) => h.devices),
        async start() {
          for (const h of handles) await h.start()
        },
        describe: (g) => handles.flatMap((h) => h.describe(g)),
        async stop() {
          for (const h of handles) await h.stop().catch(() => undefined)
        },
        silence: (d, ms) => first((h) => h.silence?.(d, ms)) ?? false,
        async badFrame(d, kind) {
          for (const h of handles) {
            const r = await h.badFrame?.(d, kind)
            if (r) return r
          }
          return undefined
        },
        slowAnswers: (d, ms, forMs) => first((h) => h.slowAnswers?.(d, ms, forMs)) ?? false,
        async unplug(d, forMs) {
          for (const h of handles) if (await h.unplug?.(d, forMs)) return true
          return false
        },
        clockSkew: (d, ms) => first((h) => h.clockSkew?.(d, ms)) ?? false,
      }
    },
  }
}
