import type { StationParams } from '../../simulators/water-quality/model.ts'
import { type MqttStation, startMqttStation } from '../../simulators/water-quality/mqtt-station.ts'
import type { DemoPart } from './types.ts'

export interface WaterStationSpec {
  id: string
  site: string
  waterBody?: 'river' | 'lake'
}

const STATIONS: readonly WaterStationSpec[] = [
  { id: 'wq-0001', site: 'Zaohe River, Fengcheng Rd bridge' },
  { id: 'wq-0002', site: 'Zaohe River, Keji 8th Rd outfall' },
  { id: 'wq-0003', site: 'Yuhe Lake inlet', waterBody: 'lake' },
  { id: 'wq-0004', site: 'Jue River, Tangyan Rd' },
]

export interface WaterMqttOptions {
  stations?: readonly WaterStationSpec[]
  /** Reporting period of each station (default 5 s). */
  intervalMs?: number
  /** Seed of the first station's river model; the others count up from it (default 1000). */
  seed?: number
  /** River-model parameters (simulators/water-quality/model.ts). */
  params?: Partial<StationParams>
  /** Start a discharge upstream of station `pollute` (an index) at once; the demo does at index 1. */
  pollute?: number
  /** Each telemetry object the broker acknowledged, by station id. */
  onAcked?: (id: string, telemetry: { ts: number } & Record<string, number>) => void
  /** The river model's clock of each station (cli/simulate/clock.ts); default the reading time. */
  modelNow?: (id: string) => () => number
}

/** A telemetry payload broken: cut in the middle, or bytes that are no JSON (MQTT JSON has no CRC). */
export function brokenJson(kind: 'truncated' | 'garbage'): Buffer {
  return kind === 'garbage' ? Buffer.from([0xfe, 0x00, 0x13, 0x37, 0x7b, 0x7b]) : Buffer.from('{"ts":1764583200000,"ph":7.4')
}

/** Water-quality stations publishing JSON over MQTT into the gateway's broker. */
export function waterMqtt(o: WaterMqttOptions = {}): DemoPart {
  const list = o.stations ?? STATIONS
  const intervalMs = o.intervalMs ?? 5_000
  return {
    id: 'water-mqtt',
    name: 'water-quality stations (MQTT JSON)',
    async prepare(ctx) {
      const stations = new Map<string, MqttStation>()
      let stopped = false
      const open = (i: number) => {
        const s = list[i]!
        return startMqttStation({
          url: ctx.mqttUrl,
          district: ctx.district,
          id: s.id,
          intervalMs,
          seed: (o.seed ?? 1000) + i,
          ...(o.params ? { params: o.params } : {}),
          ...(o.modelNow ? { modelNow: o.modelNow(s.id) } : {}),
          ...(o.onAcked ? { onAcked: (t: { ts: number } & Record<string, number>) => o.onAcked?.(s.id, t) } : {}),
        })
      }
      return {
        sources: [],
        devices: list.map((s) => ({ id: s.id, kind: 'water_quality' as const, district: ctx.district, site: s.site, protocol: 'mqtt' as const, offlineAfterSec: 60, options: s.waterBody ? { waterBody: s.waterBody } : {} })),
        async start() {
          for (const [i, s] of list.entries()) stations.set(s.id, await open(i))
          // Something to see in the first minutes: a discharge upstream of one station.
          if (o.pollute !== undefined) stations.get(list[o.pollute]?.id ?? '')?.model.pollute(Date.now(), 5)
        },
        silence(id, forMs) {
          const i = list.findIndex((s) => s.id === id)
          const st = stations.get(id)
          if (i < 0 || !st) return false
          stations.delete(id)
          void st.stop().catch(() => undefined)
          // Back after the silence; a broker away at that moment (a broker_restart fault) only delays it.
          const back = () => {
            if (!stopped) void open(i).then((s) => (stopped ? s.stop() : void stations.set(id, s)), () => setTimeout(back, 500).unref())
          }
          setTimeout(back, forMs).unref()
          return true
        },
        async badFrame(id, kind) {
          const st = stations.get(id)
          if (!st || kind === 'crc') return undefined
          await st.publishRaw(brokenJson(kind))
          return { malformed_json: 1 }
        },
        clockSkew(id, ms) {
          const st = stations.get(id)
          if (!st) return false
          st.setClockOffset(ms)
          return true
        },
        describe: () => [`${list.length} water-quality stations publish JSON every ${intervalMs / 1000} s to ${ctx.mqttUrl} (city/${ctx.district}/water_quality/<id>/telemetry)`],
        async stop() {
          stopped = true
          await Promise.all([...stations.values()].map((s) => s.stop()))
        },
      }
    },
  }
}

export const waterMqttPart: DemoPart = waterMqtt({ pollute: 1 })
