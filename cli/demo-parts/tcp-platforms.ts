/**
 * Devices that dial in over TCP: JT/T 808 vehicle terminals (buses, taxis, sanitation trucks driving loops
 * through the district) and HJ 212 water-quality station data loggers. The gateway listens on two free
 * loopback ports; the simulators connect once it is up.
 */
import { createFleet, type Fleet, seeded } from '../../simulators/jt808/index.ts'
import { createStation, type Station } from '../../simulators/hj212/station.ts'
import type { DemoPart } from './types.ts'

const FIRST_PHONE = 13_900_100_001
const VEHICLES = [
  ...['Bus line 1', 'Bus line 1', 'Bus line 1'],
  ...['Taxi', 'Taxi', 'Taxi'],
  ...['Sanitation, Keji 6th Rd', 'Sanitation, Keji 6th Rd'],
]
const STATIONS = [
  { mn: 'HJ212WQ0000000000000001', pw: 'zaohe-01', site: 'Zaohe River automatic station (HJ 212)' },
  { mn: 'HJ212WQ0000000000000002', pw: 'jue-02', site: 'Jue River automatic station (HJ 212)' },
  { mn: 'HJ212WQ0000000000000003', pw: 'yuhe-03', site: 'Yuhe Lake automatic station (HJ 212)', waterBody: 'lake' },
] as const

export const tcpPlatformsPart: DemoPart = {
  id: 'tcp-platforms',
  name: 'vehicle terminals (JT/T 808) and station data loggers (HJ 212)',
  async prepare(ctx) {
    const jtPort = await ctx.freePort()
    const hjPort = await ctx.freePort()
    let fleet: Fleet | undefined
    const stations: Station[] = []
    const log = ctx.log.child({ component: 'demo.tcp-platforms' })
    let errors = 0
    const onError = (err: Error) => {
      // Simulator hiccups (a reconnect) are expected in a demo; say so once, not per reading.
      if (errors++ === 0) log.warn({ err: err.message }, 'simulator error (further ones not logged)')
    }
    return {
      sources: [
        { type: 'jt808', port: jtPort },
        { type: 'hj212', port: hjPort, passwords: Object.fromEntries(STATIONS.map((s) => [s.mn, s.pw])) },
      ],
      devices: [
        ...VEHICLES.map((site, i) => ({ id: String(FIRST_PHONE + i), kind: 'position' as const, district: ctx.district, site, protocol: 'jt808' as const, offlineAfterSec: 60 })),
        ...STATIONS.map((s) => ({
          id: s.mn,
          kind: 'water_quality' as const,
          district: ctx.district,
          site: s.site,
          protocol: 'hj212' as const,
          offlineAfterSec: 120,
          options: 'waterBody' in s ? { waterBody: s.waterBody } : {},
        })),
      ],
      async start() {
        fleet = createFleet({ host: '127.0.0.1', port: jtPort, buses: 3, taxis: 3, sanitation: 2, firstPhone: FIRST_PHONE, intervalSec: 10, heartbeatSec: 30, alarmProbability: 0.02, reconnect: true, onError })
        await fleet.start()
        for (const [i, s] of STATIONS.entries()) {
          const st = createStation({ host: '127.0.0.1', port: hjPort, mn: s.mn, pw: s.pw, realtimeSec: 30, minuteSec: 60, flagProbability: 0.05, reconnect: true, onError, random: seeded(500 + i) })
          await st.start()
          stations.push(st)
        }
      },
      describe: () => [
        `${VEHICLES.length} vehicle terminals (3 buses, 3 taxis, 2 sanitation trucks) speak JT/T 808 to 127.0.0.1:${jtPort}, a location every 10 s`,
        `${STATIONS.length} HJ 212 station data loggers upload to 127.0.0.1:${hjPort}: 2011 real-time every 30 s, 2051 minute data every 60 s`,
      ],
      async stop() {
        await Promise.all([fleet?.stop(), ...stations.map((s) => s.stop())])
      },
    }
  },
}

