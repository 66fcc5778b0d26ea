import { afterAll, describe, expect, it } from 'vitest'
import type { Gateway } from '../../gateway/gateway.ts'
import { have, tempDir } from '../helpers/env.ts'
import { gatewayFrom, metricValue, stationReading } from '../helpers/gateway.ts'
import { startInflux, useInflux } from '../helpers/influx.ts'
import { type MosquittoServer, mosquittoPub, startMosquitto } from '../helpers/mosquitto.ts'
import { freePort, waitFor } from '../helpers/net.ts'

const DB = 'e2e'

describe.skipIf(!have('influxd', 'mosquitto', 'mosquitto_pub'))('MQTT to InfluxDB 1.x, published by mosquitto_pub', () => {
  const influx = useInflux()
  const tmp = tempDir()
  afterAll(async () => {
    tmp.cleanup()
  })

  it('lands every reading published into the embedded broker, QoS 0 and 1, counted exactly', async () => {
    const mqttPort = await freePort()
    const gw: Gateway = gatewayFrom({ dataDir: `${tmp.dir}/gw1`, http: { enabled: false }, sinks: [{ type: 'influx-v1', url: influx.url, database: DB, flushIntervalMs: 100 }] }, { mqttPort })
    await gw.start()
    try {
      const base = Date.UTC(2026, 10, 1)
      const lines = Array.from({ length: 500 }, (_, i) => JSON.stringify(stationReading(i, base + i * 1000)))
      await mosquittoPub(mqttPort, 'city/xian-gaoxin/water_quality/wq-embedded-1/telemetry', { lines: lines.slice(0, 250), qos: 1 })
      await mosquittoPub(mqttPort, 'city/xian-gaoxin/water_quality/wq-embedded-1/telemetry', { lines: lines.slice(250), qos: 0 })
      await waitFor(async () => (await influx.count(DB, 'water_quality', 'ph', `"device"='wq-embedded-1'`)) === 500, 20_000, '500 points')
      // Nothing more arrives later: counted exactly, not at least.
      await new Promise((r) => setTimeout(r, 500))
      expect(await influx.count(DB, 'water_quality', 'ph', `"device"='wq-embedded-1'`)).toBe(500)
      const rows = await influx.query(DB, `SELECT * FROM water_quality WHERE "device"='wq-embedded-1' ORDER BY time LIMIT 1`)
      expect(rows[0]).toMatchObject({ time: base, district: 'xian-gaoxin', kind: 'water_quality', protocol: 'mqtt', ph: 7, gb3838_class: 2, gb3838_factor: 'ammonia_nitrogen_mg_l' })
      expect(await metricValue(gw, 'smartcity_readings_accepted_total')).toBe(500)
      expect(await metricValue(gw, 'smartcity_points_written_total')).toBeGreaterThanOrEqual(500)
    } finally {
      await gw.stop()
    }
  })

  it('lands every reading published into an external Mosquitto, and keeps the session while the gateway is away', async () => {
    const mosq: MosquittoServer = await startMosquitto(tmp.dir)
    const cfg = { dataDir: `${tmp.dir}/gw2`, http: { enabled: false }, broker: { type: 'external' as const, url: mosq.url, clientId: 'gw-e2e' }, sinks: [{ type: 'influx-v1' as const, url: influx.url, database: DB, flushIntervalMs: 100 }] }
    let gw = gatewayFrom(cfg)
    await gw.start()
    try {
      const base = Date.UTC(2026, 10, 2)
      const topic = 'city/xian-gaoxin/water_quality/wq-external-1/telemetry'
      const first = Array.from({ length: 300 }, (_, i) => JSON.stringify(stationReading(i, base + i * 1000)))
      await mosquittoPub(mosq.port, topic, { lines: first, qos: 1 })
      await waitFor(async () => (await influx.count(DB, 'water_quality', 'ph', `"device"='wq-external-1'`)) === 300, 20_000, '300 points')
      // Gateway away: the broker queues QoS 1 messages in the persistent session.
      await gw.stop()
      const second = Array.from({ length: 200 }, (_, i) => JSON.stringify(stationReading(i, base + (300 + i) * 1000)))
      await mosquittoPub(mosq.port, topic, { lines: second, qos: 1 })
      gw = gatewayFrom(cfg)
      await gw.start()
      await waitFor(async () => (await influx.count(DB, 'water_quality', 'ph', `"device"='wq-external-1'`)) === 500, 20_000, '500 points after the gateway returned')
      await new Promise((r) => setTimeout(r, 500))
      expect(await influx.count(DB, 'water_quality', 'ph', `"device"='wq-external-1'`)).toBe(500)
    } finally {
      await gw.stop()
      await mosq.stop()
    }
  })
})

describe.skipIf(!have('influxd', 'mosquitto', 'mosquitto_pub'))('an external broker that is down when the gateway starts', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('starts anyway, shows the broker down, and takes readings once the broker is up', async () => {
    const influx = await startInflux(`${tmp.dir}/influx`)
    const port = await freePort()
    const gw = gatewayFrom({
      dataDir: `${tmp.dir}/gw`,
      http: { port: 0 },
      broker: { type: 'external', url: `mqtt://127.0.0.1:${port}`, clientId: 'gw-late-broker', connectWaitMs: 500 },
      sinks: [{ type: 'influx-v1', url: influx.url, database: DB, flushIntervalMs: 100 }],
    })
    await gw.start()
    let mosq: MosquittoServer | undefined
    try {
      const down = (await (await fetch(`${gw.endpoints().http}/healthz`)).json()) as { components: Record<string, { status: string }> }
      expect(down.components['broker']?.status).toBe('down')
      mosq = await startMosquitto(tmp.dir, port)
      await waitFor(async () => {
        const h = (await (await fetch(`${gw.endpoints().http}/healthz`)).json()) as { components: Record<string, { status: string }> }
        return h.components['broker']?.status === 'ok'
      }, 15_000, 'the gateway connected to the broker')
      // The subscription is made on that first connection: wait for its SUBACK via a probe reading.
      const topic = 'city/xian-gaoxin/water_quality/wq-late-1/telemetry'
      await waitFor(async () => {
        await mosquittoPub(port, topic, { message: JSON.stringify(stationReading(0, Date.UTC(2026, 10, 3))), qos: 1 })
        return (await influx.count(DB, 'water_quality', 'ph', `"device"='wq-late-1'`)) > 0
      }, 15_000, 'a reading through the late broker')
      expect(await influx.count(DB, 'water_quality', 'ph', `"device"='wq-late-1'`)).toBe(1)
    } finally {
      await gw.stop()
      await mosq?.stop()
      await influx.stop()
    }
  })
})
