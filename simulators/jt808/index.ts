/**
 * A fleet of simulated JT/T 808 terminals: buses, taxis and sanitation trucks driving loops through the
 * demo district (Xi'an high-tech zone), each with its own phone number, route and timing.
 */
import { rng } from '../water-quality/model.ts'
import { createTerminal, type Terminal, type TerminalOptions, type TerminalStats, type VehicleType } from './terminal.ts'

export { createTerminal, type Terminal, type TerminalOptions, type TerminalStats, type VehicleType }

/** Route loops through the district, [lat, lon]. */
export const DISTRICT_ROUTES: Record<VehicleType, readonly (readonly [number, number])[]> = {
  // A bus line along Keji Road and Tangyan Road.
  bus: [
    [34.2336, 108.8827],
    [34.2336, 108.9015],
    [34.2195, 108.9015],
    [34.2032, 108.9015],
    [34.2032, 108.8827],
    [34.2195, 108.8827],
  ],
  // A taxi roaming between the zone and the city centre.
  taxi: [
    [34.2195, 108.8827],
    [34.2420, 108.9210],
    [34.2583, 108.9470],
    [34.2420, 108.9650],
    [34.2195, 108.9400],
  ],
  // A street-sweeper on a small block.
  sanitation: [
    [34.2100, 108.8700],
    [34.2100, 108.8800],
    [34.2000, 108.8800],
    [34.2000, 108.8700],
  ],
}

export interface FleetOptions {
  host: string
  port: number
  buses?: number
  taxis?: number
  sanitation?: number
  /** First phone number; the rest count up from it. */
  firstPhone?: number
  intervalSec?: number
  heartbeatSec?: number
  alarmProbability?: number
  version?: 2013 | 2019
  reconnect?: boolean
  maxReports?: number
  autoReport?: boolean
  random?: () => number
  onError?: (err: Error) => void
  onAcked?: TerminalOptions['onAcked']
}

export interface Fleet {
  terminals: Terminal[]
  start(): Promise<void>
  stop(): Promise<void>
  stats(): { terminals: number; sent: number; acked: number; refused: number; alarms: number }
}

/** Deterministic PRNG shared with the water-quality model, so a simulated district replays the same. */
export const seeded = rng

export function createFleet(o: FleetOptions): Fleet {
  const terminals: Terminal[] = []
  let phone = o.firstPhone ?? 13_900_000_001
  const plates: Record<VehicleType, string> = { bus: '陕A', taxi: '陕AT', sanitation: '陕AH' }
  const add = (vehicle: VehicleType, n: number) => {
    for (let i = 0; i < n; i++) {
      const route = DISTRICT_ROUTES[vehicle]
      const shift = i % route.length
      terminals.push(
        createTerminal({
          host: o.host,
          port: o.port,
          phone: String(phone++),
          vehicle,
          plate: `${plates[vehicle]}${String(10000 + terminals.length).slice(-5)}`,
          route: [...route.slice(shift), ...route.slice(0, shift)],
          random: o.random ?? seeded(phone),
          ...(o.version !== undefined ? { version: o.version } : {}),
          ...(o.intervalSec !== undefined ? { intervalSec: o.intervalSec } : {}),
          ...(o.heartbeatSec !== undefined ? { heartbeatSec: o.heartbeatSec } : {}),
          ...(o.alarmProbability !== undefined ? { alarmProbability: o.alarmProbability } : {}),
          ...(o.reconnect !== undefined ? { reconnect: o.reconnect } : {}),
          ...(o.maxReports !== undefined ? { maxReports: o.maxReports } : {}),
          ...(o.autoReport !== undefined ? { autoReport: o.autoReport } : {}),
          ...(o.onError ? { onError: o.onError } : {}),
          ...(o.onAcked ? { onAcked: o.onAcked } : {}),
        }),
      )
    }
  }
  add('bus', o.buses ?? 3)
  add('taxi', o.taxis ?? 3)
  add('sanitation', o.sanitation ?? 2)
  return {
    terminals,
    async start() {
      await Promise.all(terminals.map((t) => t.start()))
    },
    async stop() {
      await Promise.all(terminals.map((t) => t.stop()))
    },
    stats() {
      const s = { terminals: terminals.length, sent: 0, acked: 0, refused: 0, alarms: 0 }
      for (const t of terminals) {
        const x: TerminalStats = t.stats()
        s.sent += x.sent
        s.acked += x.acked
        s.refused += x.refused
        s.alarms += x.alarms
      }
      return s
    },
  }
}
