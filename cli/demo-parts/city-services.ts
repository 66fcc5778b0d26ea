/**
 * City services of the demo district: an ETC gantry (a simulated RSU the gateway dials as lane controller)
 * and an office tower of elevators whose monitors publish over MQTT, with a fault now and then so the
 * events and alarms have something to show.
 */
import { type MqttBuilding, startMqttBuilding } from '../../simulators/elevator/mqtt-building.ts'
import { FAULTS } from '../../simulators/elevator/model.ts'
import { createRsuFramer, decodeRsuFrame, encodeRsu, fieldsForLayout, HEARTBEAT_ERROR_CODE, NO_OBU, rsuRsctl } from '../../devices/etc/rsu/index.ts'
import { type RsuSim, startRsuSim } from '../../simulators/etc/rsu.ts'
import { makeBlacklist } from '../../simulators/etc/traffic.ts'
import { refusalsOf } from './bad-frames.ts'
import type { DemoPart } from './types.ts'
import { brokenJson } from './water-mqtt.ts'

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
  /** The passenger model's clock (cli/simulate/clock.ts `ticks` of `stepMs`), and how much faster it runs than the wall clock. */
  modelNow?: () => number
  modelSpeed?: number
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
            ...(o.modelNow ? { modelNow: o.modelNow } : {}),
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
          tower.inject(car, 'power_loss', forMs * (o.modelSpeed ?? 1), { silent: true })
          return true
        },
        async badFrame(id, kind) {
          const car = carIds.indexOf(id)
          if (car < 0 || !tower || kind === 'crc') return undefined
          await tower.publishRaw(car, brokenJson(kind))
          return { malformed_json: 1 }
        },
        clockSkew(id, ms) {
          const car = carIds.indexOf(id)
          if (car < 0 || !tower) return false
          tower.setClockOffset(car, ms)
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

// --- simdev: one ETC gantry as a scenario device (`smartcity simulate`) ---
export interface EtcGantryOptions {
  /** The RSU's device id. */
  device: string
  lane?: string
  /** Mean vehicles per second (wall clock: already multiplied by --speed). */
  ratePerSec: number
  seed: number
  /** Rush hours at the model clock (simulators/etc/traffic.ts `rushHour`). */
  rushHour?: { startMs: number; speed: number; peaks: readonly number[]; factor: number; widthH: number }
  /** `server` (default): the RSU listens, the gateway dials it; `client`: the RSU dials the gateway's `port`. */
  mode?: 'server' | 'client'
  /** Server: where to listen (0 or absent: a free port). Client: the gateway's listen port. */
  port?: number
  heartbeatMs?: number
  /**
   * The lane's blacklist and tariff (the gateway configuration's): the traffic draws blacklisted cards from
   * it (none when it is empty) and fees from the tariff, so the result the RSU expects is the lane's.
   */
  blacklist?: readonly string[]
  tariff?: Readonly<Record<string, number>>
  /** Each passage the lane took part in, with the result it must record. */
  onPassage?: (device: string, p: { vehicle: { obuId: string; seq: number }; result: string; startedAt: number }) => void
}

/** An ETC gantry (one RSU) with Poisson traffic, optionally shaped by rush hours. */
export function etcGantry(o: EtcGantryOptions): DemoPart {
  const mode = o.mode ?? 'server'
  return {
    id: `etc-${o.device}`,
    name: `ETC gantry ${o.device}`,
    async prepare(ctx) {
      const port = mode === 'server' ? (o.port || (await ctx.freePort())) : (o.port ?? 0)
      let rsu: RsuSim | undefined
      const blacklist = o.blacklist ? [...o.blacklist] : makeBlacklist(5)
      const start = async () => {
        rsu = await startRsuSim({
          mode,
          port,
          heartbeatMs: o.heartbeatMs ?? 10_000,
          waitMs: 1000,
          traffic: {
            ratePerSec: o.ratePerSec,
            seed: o.seed,
            blacklist,
            ...(blacklist.length === 0 ? { scenarioMix: { blacklist: 0 } } : {}),
            ...(o.tariff ? { tariff: o.tariff } : {}),
            ...(o.rushHour ? { rushHour: o.rushHour } : {}),
          },
          ...(o.onPassage ? { onPassage: (p) => o.onPassage?.(o.device, p) } : {}),
        })
      }
      // The gateway dials a server RSU: it must listen before the gateway starts.
      if (mode === 'server') await start()
      return {
        sources: [{ type: 'etc-rsu' as const, id: `etc-${o.device}`, device: o.device, lane: o.lane ?? '1', mode: mode === 'server' ? ('client' as const) : ('server' as const), host: '127.0.0.1', port, blacklist, reconnectMinMs: 200, reconnectMaxMs: 2_000 }],
        devices: [{ id: o.device, kind: 'etc' as const, district: ctx.district, site: `ETC gantry ${o.device}`, protocol: 'etc-rsu' as const }],
        async start() {
          if (!rsu) await start()
        },
        async badFrame(id, kind) {
          if (id !== o.device || !rsu) return undefined
          const bad = rsu.sendBad(kind === 'crc' ? 'bcc' : kind)
          if (!bad) return undefined
          const good = encodeRsu({ rsctl: rsuRsctl(1), type: 'B2', fields: fieldsForLayout(rsu.profile, 'B2', { obuId: NO_OBU, errorCode: HEARTBEAT_ERROR_CODE }) }, rsu.profile)
          const profile = rsu.profile
          return refusalsOf(createRsuFramer(), (f) => decodeRsuFrame(f, profile), bad, Buffer.from(good))
        },
        describe: () => [`ETC gantry ${o.device}: simulated RSU ${mode === 'server' ? `on 127.0.0.1:${port} (the gateway dials it)` : `dialling the gateway at 127.0.0.1:${port}`}, ~${o.ratePerSec} vehicles/s${o.rushHour ? ' with rush hours' : ''}`],
        async stop() {
          await rsu?.stop()
        },
      }
    },
  }
}
