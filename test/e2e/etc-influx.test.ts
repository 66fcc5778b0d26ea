import { afterAll, describe, expect, it } from 'vitest'
import { type RsuSim, startRsuSim } from '../../simulators/etc/rsu.ts'
import { SCENARIOS } from '../../simulators/etc/traffic.ts'
import { have, tempDir } from '../helpers/env.ts'
import { gatewayFrom } from '../helpers/gateway.ts'
import { useInflux } from '../helpers/influx.ts'
import { freePort, waitFor } from '../helpers/net.ts'

const DB = 'etc'

describe.skipIf(!have('influxd'))('ETC gantry: simulated RSU -> gateway lane controller -> InfluxDB 1.x', () => {
  const influx = useInflux()
  const tmp = tempDir()
  let sim: RsuSim | undefined
  afterAll(async () => {
    await sim?.stop()
    tmp.cleanup()
  })

  it('the transaction count in InfluxDB equals the simulator count of vehicles, result by result; the failure-rate alarm fires', async () => {
    const mix = Object.fromEntries(SCENARIOS.map((s) => [s, s === 'ok' ? 6 : 1]))
    sim = await startRsuSim({ port: 0, vehicles: 300, waitMs: 250, heartbeatMs: 200, traffic: { ratePerSec: 200, seed: 2026, scenarioMix: mix } })
    const httpPort = await freePort()
    const gw = gatewayFrom(
      {
        dataDir: `${tmp.dir}/gw`,
        http: { enabled: true, port: httpPort },
        sinks: [{ type: 'influx-v1', url: influx.url, database: DB, flushIntervalMs: 100 }],
        sources: [{ type: 'etc-rsu', device: 'rsu-g1', lane: 'g1-up', port: sim.port, blacklist: [...sim.blacklist], transactionTimeoutMs: 150 }],
        devices: [{ id: 'rsu-g1', kind: 'etc', district: 'xian-gaoxin', site: 'G65 gantry K12', protocol: 'etc-rsu' }],
        alarms: { rules: [{ name: 'etc_failure_rate', type: 'rate', measurement: 'etc_transaction', where: { tag: 'result', notIn: ['ok'] }, windowSec: 600, above: 0.05, minCount: 20 }] },
      },
      { mqttPort: await freePort() },
    )
    await gw.start()
    try {
      await sim.done()
      const st = sim.stats()
      expect(st.vehicles).toBe(300)
      expect(st.mismatches).toEqual([])
      await waitFor(async () => (await influx.count(DB, 'etc_transaction', 'obu_id')) >= st.vehicles, 20_000, 'every passage in InfluxDB')
      await new Promise((r) => setTimeout(r, 500))
      expect(await influx.count(DB, 'etc_transaction', 'obu_id')).toBe(st.vehicles)
      for (const [result, n] of Object.entries(st.expected)) {
        expect(await influx.count(DB, 'etc_transaction', 'obu_id', `"result"='${result}'`), result).toBe(n)
      }
      const [row] = await influx.query(DB, `SELECT * FROM etc_transaction WHERE "result"='ok' LIMIT 1`)
      expect(row).toMatchObject({ device: 'rsu-g1', kind: 'etc', district: 'xian-gaoxin', site: 'G65 gantry K12', protocol: 'etc-rsu', lane: 'g1-up' })
      expect(String(row?.['plate'])).toMatch(/^[\u4e00-\u9fa5][A-Z]/)
      expect(await influx.count(DB, 'etc_rsu_status', 'rsu_status')).toBeGreaterThanOrEqual(1)
      // About 40 % of these passages fail: the rate rule fired, is stored and listed.
      await waitFor(async () => (await influx.count(DB, 'alarm', 'value', `"rule"='etc_failure_rate'`)) >= 1, 10_000, 'alarm point')
      const res = await fetch(`http://127.0.0.1:${httpPort}/api/alarms`)
      const body = (await res.json()) as { alarms: { id: string; device: string }[] }
      expect(body.alarms.map((a) => a.id)).toEqual(['etc_failure_rate/rsu-g1'])
    } finally {
      await gw.stop()
    }
  })
})
