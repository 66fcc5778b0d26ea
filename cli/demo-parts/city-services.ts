/**
 * City services of the demo district: an ETC gantry (a simulated RSU the gateway dials as lane controller)
 * and an office tower of elevators whose monitors publish over MQTT, with a fault now and then so the
 * events and alarms have something to show.
 */
import { type MqttBuilding, startMqttBuilding } from '../../simulators/elevator/mqtt-building.ts'
import { FAULTS } from '../../simulators/elevator/model.ts'
import { type RsuSim, startRsuSim } from '../../simulators/etc/rsu.ts'
import type { DemoPart } from './types.ts'

const FLOORS = { bottomFloor: -2, topFloor: 30 }
/** The inventory options of a car of the simulated tower (its floors, rated speed and trapped time). */
export const ELEVATOR_OPTIONS = { ratedSpeedMs: 2.5, ...FLOORS, trappedAfterSec: 30 } as const

export interface CityServicesOptions {
  /** The ETC gantry (default true). */
  etc?: boolean
  /** Elevator cars in the tower (default 6; 0: none). */
  cars?: number
  /** Building id: cars are `<building>-L<n>` (default tower-a). */
  building?: string
  /** Seed of the passenger model (default 24). */
  seed?: number
  /** A car publishes at least this often (default 10 s). */
  heartbeatMs?: number
  /** Simulation step (default 200 ms). */
  stepMs?: number
  /** A fault on some car this often (default 3 min; 0: none). */
  faultEveryMs?: number
  /** The monitors report their own faults on `/event` (default true). */
  reportEvents?: boolean
  /** Each status object the broker acknowledged, by car id. */
  onAcked?: (id: string, status: Record<string, unknown> & { ts: number }) => void
}

export function cityServices(o: CityServicesOptions = {}): DemoPart {
  const cars = o.cars ?? 6
  const building = o.building ?? 'tower-a'
  const faultEveryMs = o.faultEveryMs ?? 180_000
  return {
    id: 'city-services',
    name: o.etc === false ? 'elevator tower' : 'ETC gantry and elevator tower',
    async prepare(ctx) {
      const rsu: RsuSim | undefined = o.etc === false ? undefined : await startRsuSim({ port: await ctx.freePort(), heartbeatMs: 10_000, waitMs: 1000, traffic: { ratePerSec: 0.5, seed: 20_261_122 } })
      let tower: MqttBuilding | undefined
      let faults: NodeJS.Timeout | undefined
      const carIds = Array.from({ length: cars }, (_, i) => `${building}-L${i + 1}`)
      return {
        sources: rsu ? [{ type: 'etc-rsu' as const, id: 'etc-g65', device: 'rsu-g65-k12', lane: 'g65-k12-up', port: rsu.port, blacklist: [...rsu.blacklist] }] : [],
        devices: [
          ...(rsu ? [{ id: 'rsu-g65-k12', kind: 'etc' as const, district: ctx.district, site: 'G65 gantry K12 (up)', protocol: 'etc-rsu' as const }] : []),
          ...carIds.map((id) => ({
            id,
            kind: 'elevator' as const,
            district: ctx.district,
            site: 'Tower A',
            protocol: 'mqtt' as const,
            offlineAfterSec: 60,
            options: { ...ELEVATOR_OPTIONS },
          })),
        ],
        async start() {
          if (cars === 0) return
          tower = await startMqttBuilding({
            url: ctx.mqttUrl,
            district: ctx.district,
            building,
            seed: o.seed ?? 24,
            cars,
            ...FLOORS,
            lobbyFloor: 1,
            ratedSpeedMs: 2.5,
            reportEvents: o.reportEvents ?? true,
            ...(o.heartbeatMs !== undefined ? { heartbeatMs: o.heartbeatMs } : {}),
            ...(o.stepMs !== undefined ? { stepMs: o.stepMs } : {}),
            ...(o.onAcked ? { onAcked: o.onAcked } : {}),
          })
          if (faultEveryMs <= 0) return
          // A fault on a random car every three minutes: trapped, door fault, overspeed or power loss.
          let n = 0
          faults = setInterval(() => {
            const fault = FAULTS[n % FAULTS.length]!
            tower?.inject((n * 5 + 1) % cars, fault, 90_000)
            n++
          }, faultEveryMs)
          faults.unref()
        },
        silence(id, forMs) {
          // A monitor without power and without its battery: nothing published until it comes back.
          const car = carIds.indexOf(id)
          if (car < 0 || !tower) return false
          tower.inject(car, 'power_loss', forMs, { silent: true })
          return true
        },
        describe: () => [
          ...(rsu ? [`ETC gantry: simulated RSU on 127.0.0.1:${rsu.port}, the gateway dials it as lane controller (a vehicle every ~2 s)`] : []),
          ...(cars > 0 ? [`Elevators: ${cars} cars in ${building} publish to ${ctx.mqttUrl} (city/${ctx.district}/elevator/${building}-L<n>/telemetry)${faultEveryMs > 0 ? `; a fault every ${faultEveryMs / 60_000} min` : ''}`] : []),
        ],
        async stop() {
          if (faults) clearInterval(faults)
          await tower?.stop()
          await rsu?.stop()
        },
      }
    },
  }
}

export const cityServicesPart: DemoPart = cityServices()
