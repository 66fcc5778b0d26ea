/**
 * Devices that dial in over TCP: JT/T 808 vehicle terminals (buses, taxis, sanitation trucks driving loops
 * through the district) and HJ 212 water-quality station data loggers. The gateway listens on two free
 * loopback ports (or the ports given); the simulators connect once it is up.
 */
import { createHj212Framer, dataCp, decodeHj212, encodeHj212, type Hj212Message } from '../../devices/water-quality/hj212/index.ts'
import { createJt808Framer, decodeJt808, encodeJt808, JT808_MSG } from '../../devices/position/jt808/index.ts'
import { breakFlagged, breakHj212, refusalsOf } from './bad-frames.ts'
import { createStation, type Station } from '../../simulators/hj212/station.ts'
import type { Jt808Location } from '../../devices/position/jt808/index.ts'
import { createTerminal, DISTRICT_ROUTES, seeded, type Terminal, type VehicleType } from '../../simulators/jt808/index.ts'
import type { DemoPart } from './types.ts'

export interface Hj212StationSpec {
  mn: string
  pw: string
  site: string
  waterBody?: 'river' | 'lake'
}

const STATIONS: readonly Hj212StationSpec[] = [
  { mn: 'HJ212WQ0000000000000001', pw: 'zaohe-01', site: 'Zaohe River automatic station (HJ 212)' },
  { mn: 'HJ212WQ0000000000000002', pw: 'jue-02', site: 'Jue River automatic station (HJ 212)' },
  { mn: 'HJ212WQ0000000000000003', pw: 'yuhe-03', site: 'Yuhe Lake automatic station (HJ 212)', waterBody: 'lake' },
]

const SITE: Record<VehicleType, string> = { bus: 'Bus line 1', taxi: 'Taxi', sanitation: 'Sanitation, Keji 6th Rd' }
const PLATE: Record<VehicleType, string> = { bus: '陕A', taxi: '陕AT', sanitation: '陕AH' }

export interface TcpPlatformsOptions {
  /** Vehicles by type (default 3 buses, 3 taxis, 2 sanitation trucks); phones count up from `firstPhone`. */
  vehicles?: Partial<Record<VehicleType, number>>
  firstPhone?: number
  /** Location report period (default 10 s), heartbeat period (30 s), alarm probability per report (0.02). */
  intervalSec?: number
  heartbeatSec?: number
  alarmProbability?: number
  stations?: readonly Hj212StationSpec[]
  /** HJ 212 2011 real-time and 2051 minute upload periods (default 30 s and 60 s). */
  realtimeSec?: number
  minuteSec?: number
  /** Probability per upload that an instrument is flagged M or C (default 0.05). */
  flagProbability?: number
  /** Seed of the first station's PRNG, the others count up (default 500); terminals are seeded by phone (+ `seed`). */
  seed?: number
  /** Listen ports of the gateway's jt808 and hj212 sources (default: free ports picked here). */
  ports?: { jt808?: number; hj212?: number }
  /** Each location a terminal had acknowledged. */
  onLocation?: (phone: string, location: Jt808Location) => void
  /** Each upload a station logger had answered 9014. */
  onUpload?: (mn: string, upload: Hj212Message) => void
  /** Seconds of driving per location report (default `intervalSec`; a faster run keeps the route's pace). */
  modelIntervalSec?: number
  /** The river model's clock of each station logger (cli/simulate/clock.ts). */
  modelNow?: (mn: string) => () => number
}

export function tcpPlatforms(o: TcpPlatformsOptions = {}): DemoPart {
  const counts = { bus: o.vehicles?.bus ?? 3, taxi: o.vehicles?.taxi ?? 3, sanitation: o.vehicles?.sanitation ?? 2 }
  const firstPhone = o.firstPhone ?? 13_900_100_001
  const vehicles: { phone: string; vehicle: VehicleType; n: number; plate: string }[] = []
  for (const vehicle of ['bus', 'taxi', 'sanitation'] as const) {
    for (let n = 0; n < counts[vehicle]; n++) vehicles.push({ phone: String(firstPhone + vehicles.length), vehicle, n, plate: `${PLATE[vehicle]}${String(10000 + vehicles.length).slice(-5)}` })
  }
  const stationSpecs = o.stations ?? STATIONS
  const intervalSec = o.intervalSec ?? 10
  const realtimeSec = o.realtimeSec ?? 30
  const minuteSec = o.minuteSec ?? 60
  return {
    id: 'tcp-platforms',
    name: 'vehicle terminals (JT/T 808) and station data loggers (HJ 212)',
    async prepare(ctx) {
      const jtPort = vehicles.length > 0 ? (o.ports?.jt808 ?? (await ctx.freePort())) : 0
      const hjPort = stationSpecs.length > 0 ? (o.ports?.hj212 ?? (await ctx.freePort())) : 0
      const terminals = new Map<string, Terminal>()
      const stations = new Map<string, Station>()
      let stopped = false
      const log = ctx.log.child({ component: 'demo.tcp-platforms' })
      let errors = 0
      /** Clock offsets of skewed devices (clock_skew), by phone or MN. */
      const offsets = new Map<string, number>()
      const clock = (id: string) => () => Date.now() + (offsets.get(id) ?? 0)
      const onError = (err: Error) => {
        // Simulator hiccups (a reconnect) are expected in a demo; say so once, not per reading.
        if (errors++ === 0) log.warn({ err: err.message }, 'simulator error (further ones not logged)')
      }
      const terminal = (v: (typeof vehicles)[number]) => {
        const route = DISTRICT_ROUTES[v.vehicle]
        const shift = v.n % route.length
        return createTerminal({
          host: '127.0.0.1',
          port: jtPort,
          phone: v.phone,
          vehicle: v.vehicle,
          plate: v.plate,
          route: [...route.slice(shift), ...route.slice(0, shift)],
          random: seeded(Number(v.phone) + 1 + (o.seed ?? 0)),
          intervalSec,
          ...(o.modelIntervalSec !== undefined ? { modelIntervalSec: o.modelIntervalSec } : {}),
          now: clock(v.phone),
          heartbeatSec: o.heartbeatSec ?? 30,
          alarmProbability: o.alarmProbability ?? 0.02,
          reconnect: true,
          onError,
          ...(o.onLocation ? { onAcked: o.onLocation } : {}),
        })
      }
      const station = (i: number) => {
        const s = stationSpecs[i]!
        return createStation({
          host: '127.0.0.1',
          port: hjPort,
          mn: s.mn,
          pw: s.pw,
          realtimeSec,
          minuteSec,
          flagProbability: o.flagProbability ?? 0.05,
          reconnect: true,
          onError,
          random: seeded((o.seed ?? 500) + i),
          seed: (o.seed ?? 500) + i,
          now: clock(s.mn),
          ...(o.modelNow ? { modelNow: o.modelNow(s.mn) } : {}),
          ...(o.onUpload ? { onAcked: (m: Hj212Message) => o.onUpload?.(s.mn, m) } : {}),
        })
      }
      /** Start a simulator; one that cannot connect yet keeps trying (reconnect) and is reported once. */
      const launch = async (id: string, sim: Terminal | Station) => {
        try {
          await sim.start()
        } catch (err) {
          onError(err instanceof Error ? new Error(`${id}: ${err.message}`) : new Error(String(err)))
        }
      }
      return {
        sources: [
          ...(vehicles.length > 0 ? [{ type: 'jt808' as const, port: jtPort }] : []),
          ...(stationSpecs.length > 0 ? [{ type: 'hj212' as const, port: hjPort, passwords: Object.fromEntries(stationSpecs.map((s) => [s.mn, s.pw])) }] : []),
        ],
        devices: [
          ...vehicles.map((v) => ({ id: v.phone, kind: 'position' as const, district: ctx.district, site: SITE[v.vehicle], protocol: 'jt808' as const, offlineAfterSec: 60 })),
          ...stationSpecs.map((s) => ({
            id: s.mn,
            kind: 'water_quality' as const,
            district: ctx.district,
            site: s.site,
            protocol: 'hj212' as const,
            offlineAfterSec: 120,
            options: s.waterBody ? { waterBody: s.waterBody } : {},
          })),
        ],
        async start() {
          for (const v of vehicles) terminals.set(v.phone, terminal(v))
          await Promise.all(vehicles.map((v) => launch(v.phone, terminals.get(v.phone)!)))
          for (const [i, s] of stationSpecs.entries()) {
            const st = station(i)
            stations.set(s.mn, st)
            await launch(s.mn, st)
          }
        },
        silence(id, forMs) {
          const v = vehicles.find((x) => x.phone === id)
          const i = stationSpecs.findIndex((s) => s.mn === id)
          const sim = v ? terminals.get(id) : stations.get(id)
          if (!sim || (!v && i < 0)) return false
          void sim.stop().catch(() => undefined)
          setTimeout(() => {
            if (stopped) return
            const next = v ? terminal(v) : station(i)
            if (v) terminals.set(id, next as Terminal)
            else stations.set(id, next as Station)
            void launch(id, next)
          }, forMs).unref()
          return true
        },
        async badFrame(id, kind) {
          const t = terminals.get(id)
          const st = stations.get(id)
          if (t) {
            const good = encodeJt808({ header: { msgId: JT808_MSG.heartbeat, version: 2013, protocolVersion: 0, phone: id.padStart(12, '0'), serial: 1, encryption: 0 }, body: { type: 'heartbeat' } })
            const bad = breakFlagged(Buffer.from(good), kind, 0x7e, 0x7d)
            if (!t.raw(bad)) return undefined
            return refusalsOf(createJt808Framer(), decodeJt808, bad, Buffer.from(good))
          }
          if (st) {
            const spec = stationSpecs.find((x) => x.mn === id)!
            const good = encodeHj212({ qn: '20260601000000000', st: '21', cn: '2011', pw: spec.pw, mn: id, flag: 4, cp: dataCp(Date.now(), { w01001: { Rtd: '7.40', Flag: 'N' } }) })
            const bad = breakHj212(good, kind)
            if (!st.connected()) return undefined
            st.raw(bad)
            return refusalsOf(createHj212Framer(), decodeHj212, bad, good)
          }
          return undefined
        },
        clockSkew(id, ms) {
          if (!terminals.has(id) && !stations.has(id)) return false
          offsets.set(id, ms)
          return true
        },
        describe: () => [
          ...(vehicles.length > 0 ? [`${vehicles.length} vehicle terminals (${counts.bus} buses, ${counts.taxi} taxis, ${counts.sanitation} sanitation trucks) speak JT/T 808 to 127.0.0.1:${jtPort}, a location every ${intervalSec} s`] : []),
          ...(stationSpecs.length > 0 ? [`${stationSpecs.length} HJ 212 station data loggers upload to 127.0.0.1:${hjPort}: 2011 real-time every ${realtimeSec} s, 2051 minute data every ${minuteSec} s`] : []),
        ],
        async stop() {
          stopped = true
          await Promise.all([...terminals.values(), ...stations.values()].map((s) => s.stop()))
        },
      }
    },
  }
}

export const tcpPlatformsPart: DemoPart = tcpPlatforms()
