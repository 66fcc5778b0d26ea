/**
 * City services of the demo district: an ETC gantry (a simulated RSU the gateway dials as lane controller)
 * and an office tower of elevators whose monitors publish over MQTT, with a fault now and then so the
 * events and alarms have something to show.
 */
import { type MqttBuilding, startMqttBuilding } from '../../simulators/elevator/mqtt-building.ts'
import { FAULTS } from '../../simulators/elevator/model.ts'
import { type RsuSim, startRsuSim } from '../../simulators/etc/rsu.ts'
import type { DemoPart } from './types.ts'

const CARS = 6
const FLOORS = { bottomFloor: -2, topFloor: 30 }

export const cityServicesPart: DemoPart = {
  id: 'city-services',
  name: 'ETC gantry and elevator tower',
  async prepare(ctx) {
    const rsu: RsuSim = await startRsuSim({ port: await ctx.freePort(), heartbeatMs: 10_000, waitMs: 1000, traffic: { ratePerSec: 0.5, seed: 20_261_122 } })
    let tower: MqttBuilding | undefined
    let faults: NodeJS.Timeout | undefined
    const carIds = Array.from({ length: CARS }, (_, i) => `tower-a-L${i + 1}`)
    return {
      sources: [{ type: 'etc-rsu' as const, id: 'etc-g65', device: 'rsu-g65-k12', lane: 'g65-k12-up', port: rsu.port, blacklist: [...rsu.blacklist] }],
      devices: [
        { id: 'rsu-g65-k12', kind: 'etc' as const, district: ctx.district, site: 'G65 gantry K12 (up)', protocol: 'etc-rsu' as const },
        ...carIds.map((id) => ({
          id,
          kind: 'elevator' as const,
          district: ctx.district,
          site: 'Tower A',
          protocol: 'mqtt' as const,
          offlineAfterSec: 60,
          options: { ratedSpeedMs: 2.5, ...FLOORS, trappedAfterSec: 30 },
        })),
      ],
      async start() {
        tower = await startMqttBuilding({ url: ctx.mqttUrl, district: ctx.district, building: 'tower-a', seed: 24, cars: CARS, ...FLOORS, lobbyFloor: 1, ratedSpeedMs: 2.5, reportEvents: true })
        // A fault on a random car every three minutes: trapped, door fault, overspeed or power loss.
        let n = 0
        faults = setInterval(() => {
          const fault = FAULTS[n % FAULTS.length]!
          tower?.inject((n * 5 + 1) % CARS, fault, 90_000)
          n++
        }, 180_000)
        faults.unref()
      },
      describe: () => [
        `ETC gantry: simulated RSU on 127.0.0.1:${rsu.port}, the gateway dials it as lane controller (a vehicle every ~2 s)`,
        `Elevators: ${CARS} cars in Tower A publish to ${ctx.mqttUrl} (city/${ctx.district}/elevator/tower-a-L<n>/telemetry); a fault every 3 min`,
      ],
      async stop() {
        if (faults) clearInterval(faults)
        await tower?.stop()
        await rsu.stop()
      },
    }
  },
}
