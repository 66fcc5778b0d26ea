import { type MqttStation, startMqttStation } from '../../simulators/water-quality/mqtt-station.ts'
import type { DemoPart } from './types.ts'

const STATIONS = [
  { id: 'wq-0001', site: 'Zaohe River, Fengcheng Rd bridge' },
  { id: 'wq-0002', site: 'Zaohe River, Keji 8th Rd outfall' },
  { id: 'wq-0003', site: 'Yuhe Lake inlet', waterBody: 'lake' },
  { id: 'wq-0004', site: 'Jue River, Tangyan Rd' },
] as const

/** Water-quality stations publishing JSON over MQTT into the gateway's broker. */
export const waterMqttPart: DemoPart = {
  id: 'water-mqtt',
  name: 'water-quality stations (MQTT JSON)',
  async prepare(ctx) {
    const stations: MqttStation[] = []
    return {
      sources: [],
      devices: STATIONS.map((s) => ({ id: s.id, kind: 'water_quality' as const, district: ctx.district, site: s.site, protocol: 'mqtt' as const, offlineAfterSec: 60, options: 'waterBody' in s ? { waterBody: s.waterBody } : {} })),
      async start() {
        for (const [i, s] of STATIONS.entries()) {
          stations.push(await startMqttStation({ url: ctx.mqttUrl, district: ctx.district, id: s.id, intervalMs: 5_000, seed: 1000 + i }))
        }
        // Something to see in the first minutes: a discharge upstream of one station.
        stations[1]?.model.pollute(Date.now(), 5)
      },
      describe: () => [`${STATIONS.length} water-quality stations publish JSON every 5 s to ${ctx.mqttUrl} (city/${ctx.district}/water_quality/<id>/telemetry)`],
      async stop() {
        await Promise.all(stations.map((s) => s.stop()))
      },
    }
  },
}
