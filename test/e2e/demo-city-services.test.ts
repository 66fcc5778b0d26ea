import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { cityServicesPart } from '../../cli/demo-parts/city-services.ts'
import { have, tempDir } from '../helpers/env.ts'
import { gatewayFrom } from '../helpers/gateway.ts'
import { useInflux } from '../helpers/influx.ts'
import { freePort, waitFor } from '../helpers/net.ts'

describe.skipIf(!have('influxd'))('demo part: ETC gantry and elevator tower', () => {
  const influx = useInflux()
  const tmp = tempDir()
  afterAll(async () => {
    tmp.cleanup()
  })

  it('brings its simulators up and their readings reach InfluxDB through the gateway', async () => {
    const mqttPort = await freePort()
    const handle = await cityServicesPart.prepare({ district: 'xian-gaoxin', dataDir: tmp.dir, log: pino({ level: 'silent' }), freePort, mqttUrl: `mqtt://127.0.0.1:${mqttPort}` })
    const gw = gatewayFrom(
      { dataDir: `${tmp.dir}/gw`, http: { enabled: false }, sinks: [{ type: 'influx-v1', url: influx.url, database: 'demo', flushIntervalMs: 100 }], sources: [{ type: 'mqtt' }, ...handle.sources], devices: handle.devices },
      { mqttPort },
    )
    await gw.start()
    try {
      await handle.start()
      expect(handle.describe().join('\n')).toContain('ETC gantry')
      await waitFor(async () => (await influx.count('demo', 'etc_transaction', 'obu_id')) >= 2, 30_000, 'ETC passages')
      await waitFor(async () => (await influx.count('demo', 'elevator_status', 'floor')) >= 6, 30_000, 'elevator status')
      const [row] = await influx.query('demo', 'SELECT * FROM etc_transaction LIMIT 1')
      expect(row).toMatchObject({ device: 'rsu-g65-k12', site: 'G65 gantry K12 (up)', lane: 'g65-k12-up' })
    } finally {
      await handle.stop()
      await gw.stop()
    }
  })
})
