import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseLine } from '../../gateway/core/line-protocol.ts'
import { pointId, type UplinkJson } from '../../gateway/sinks/uplink.ts'
import { have, tempDir } from '../helpers/env.ts'
import { gatewayFrom, metricValue } from '../helpers/gateway.ts'
import { startGatewayProcess } from '../helpers/gateway-process.ts'
import { type MosquittoServer, startMosquitto } from '../helpers/mosquitto.ts'
import { freePort, sleep, waitFor } from '../helpers/net.ts'
import { publishNumbered } from '../helpers/numbered-publisher.ts'
import { makePki, type Pki } from '../helpers/pki.ts'

interface Got {
  topic: string
  dup: boolean
  body: UplinkJson
}

/**
 * The city platform's consumer: a persistent session (clean: false, QoS 1) on the central broker, so what the
 * broker queued for it across its own restart is delivered. `dup` is the broker's re-delivery flag.
 */
async function cityConsumer(port: number, pki: Pki, got: Got[], topic = 'city/#'): Promise<mqtt.MqttClient> {
  const c = mqtt.connect(`mqtts://127.0.0.1:${port}`, {
    ca: readFileSync(pki.ca),
    username: 'city',
    password: 'city-secret',
    clientId: `city-platform-${port}`,
    clean: false,
    reconnectPeriod: 300,
  })
  c.on('error', () => undefined)
  c.on('message', (t, payload, packet) => got.push({ topic: t, dup: packet.dup, body: JSON.parse(payload.toString()) as UplinkJson }))
  await new Promise<void>((r) => c.once('connect', () => r()))
  await c.subscribeAsync(topic, { qos: 1 })
  return c
}

describe.skipIf(!have('mosquitto', 'mosquitto_passwd', 'mosquitto_pub', 'openssl'))('mqtt-uplink to a central Mosquitto with TLS and a password', () => {
  const tmp = tempDir()
  let pki: Pki
  beforeAll(async () => {
    pki = await makePki(tmp.dir)
  }, 60_000)
  afterAll(() => tmp.cleanup())
  const users = { gateway: 'gw-secret', city: 'city-secret' }

  it('central broker stopped for 30 s while readings arrive: every point (alarms too) arrives, in order, once', { timeout: 180_000 }, async () => {
    const centralPort = await freePort()
    let central: MosquittoServer = await startMosquitto(tmp.dir, centralPort, { tls: pki, users, persistence: true })
    const got: Got[] = []
    const city = await cityConsumer(centralPort, pki, got)
    const mqttPort = await freePort()
    const gw = gatewayFrom(
      {
        dataDir: join(tmp.dir, 'gw-outage'),
        http: { enabled: false },
        alarms: { rules: [{ name: 'ph_high', measurement: 'water_quality', field: 'ph', above: 8.5 }] },
        sinks: [
          {
            type: 'mqtt-uplink',
            url: `mqtts://127.0.0.1:${centralPort}`,
            username: 'gateway',
            password: users.gateway,
            tls: { ca: pki.ca },
            batchSize: 200,
            flushIntervalMs: 100,
            timeoutMs: 3_000,
            minBackoffMs: 100,
            maxBackoffMs: 2_000,
          },
        ],
      },
      { mqttPort },
    )
    await gw.start()
    const dev = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { clientId: 'wq-up-1' })
    const base = Date.UTC(2026, 10, 1)
    let next = 0
    // Every 250th reading is over the ph_high threshold: an alarm starts, and clears with the next reading.
    const publish = async (n: number) => {
      const sends = []
      for (let k = 0; k < n; k++) {
        const i = next++
        const ph = i % 250 === 100 ? 9 : 7 + (i % 100) / 100
        sends.push(dev.publishAsync('city/d1/water_quality/wq-up-1/telemetry', JSON.stringify({ ts: base + i * 1000, ph }), { qos: 1 }))
      }
      await Promise.all(sends)
    }
    const readings = () => got.filter((g) => g.body.measurement === 'water_quality' && !g.dup)
    try {
      await publish(500)
      await waitFor(() => readings().length >= 500, 30_000, '500 points at the central broker')

      await central.stop()
      const outageStart = Date.now()
      for (let burst = 0; burst < 10; burst++) {
        await publish(150)
        await sleep(2_500)
      }
      expect(await metricValue(gw, 'smartcity_readings_accepted_total')).toBe(2_000)
      const during = await gw.health()
      expect(during['sink:mqtt-uplink']?.status).toBe('degraded')
      expect(readings().length).toBeLessThan(2_000)
      await sleep(Math.max(0, 30_000 - (Date.now() - outageStart)))
      central = await startMosquitto(tmp.dir, centralPort, { tls: pki, users, persistence: true })
      await publish(500)

      await waitFor(() => readings().length >= 2_500, 60_000, '2,500 points after the outage')
      await sleep(1_500)
      const wq = readings()
      // In order and once: exactly the readings' times, ascending, nothing repeated.
      expect(wq.map((g) => (g.body.time - base) / 1000)).toEqual(Array.from({ length: 2_500 }, (_, i) => i))
      expect(new Set(wq.map((g) => g.body.id)).size).toBe(2_500)
      expect(wq.every((g) => g.topic === 'city/d1/water_quality/wq-up-1')).toBe(true)
      // What the broker delivered again to its consumer (dup) is its own QoS 1 re-delivery of something delivered before.
      const seen = new Set<string>()
      for (const g of got) {
        if (g.dup) expect(seen.has(g.body.id)).toBe(true)
        seen.add(g.body.id)
      }
      // Alarms travel the same way: 10 starts, 10 clears, each once.
      const alarms = got.filter((g) => g.body.measurement === 'alarm' && !g.dup)
      expect(alarms.filter((a) => a.body.fields['active'] === true)).toHaveLength(10)
      expect(alarms.filter((a) => a.body.fields['active'] === false)).toHaveLength(10)
      expect(new Set(alarms.map((a) => a.body.id)).size).toBe(20)
      expect(alarms[0]!.body.tags).toMatchObject({ rule: 'ph_high', device: 'wq-up-1', district: 'd1' })
      // The id is the point's: the central side can recompute and compare it.
      const first = wq[0]!.body
      expect(pointId({ measurement: first.measurement, tags: first.tags, fields: first.fields, time: first.time })).toBe(first.id)
      expect((await gw.health())['sink:mqtt-uplink']?.status).toBe('ok')
    } finally {
      await dev.endAsync()
      await gw.stop()
      await city.endAsync()
      await central.stop()
    }
  })

  it('payload line: the stored line protocol, on the template topic; a wrong password is retried, never dropped', { timeout: 60_000 }, async () => {
    const centralPort = await freePort()
    const central = await startMosquitto(tmp.dir, centralPort, { tls: pki, users })
    const lines: { topic: string; text: string }[] = []
    const city = mqtt.connect(`mqtts://127.0.0.1:${centralPort}`, { ca: readFileSync(pki.ca), username: 'city', password: users.city, reconnectPeriod: 0 })
    city.on('message', (topic, payload) => lines.push({ topic, text: payload.toString() }))
    await new Promise<void>((r) => city.once('connect', () => r()))
    await city.subscribeAsync('uplink/#', { qos: 1 })
    const mqttPort = await freePort()
    const sink = (password: string) => ({
      type: 'mqtt-uplink' as const,
      url: `mqtts://127.0.0.1:${centralPort}`,
      username: 'gateway',
      password,
      tls: { ca: pki.ca },
      topic: 'uplink/{district}/{measurement}/{device}',
      payload: 'line' as const,
      measurements: ['water_quality' as const],
      flushIntervalMs: 100,
      minBackoffMs: 100,
      maxBackoffMs: 500,
    })
    const dataDir = join(tmp.dir, 'gw-line')
    let gw = gatewayFrom({ dataDir, http: { enabled: false }, sinks: [sink('wrong')] }, { mqttPort })
    await gw.start()
    const dev = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { clientId: 'wq-line', reconnectPeriod: 200 })
    try {
      const base = Date.UTC(2026, 10, 2)
      for (let i = 0; i < 20; i++) await dev.publishAsync('city/d2/water_quality/wq-line/telemetry', JSON.stringify({ ts: base + i, ph: 7 + i / 100 }), { qos: 1 })
      await waitFor(async () => (await gw.health())['sink:mqtt-uplink']?.detail?.includes('Not authorized') || (await gw.health())['sink:mqtt-uplink']?.detail?.includes('Bad username'), 10_000, 'refused CONNACK reported')
      expect(lines).toHaveLength(0)
      await gw.stop()
      gw = gatewayFrom({ dataDir, http: { enabled: false }, sinks: [sink(users.gateway)] }, { mqttPort })
      await gw.start()
      await waitFor(() => lines.length >= 20, 20_000, '20 lines')
      await sleep(500)
      expect(lines).toHaveLength(20)
      expect(lines.every((l) => l.topic === 'uplink/d2/water_quality/wq-line')).toBe(true)
      const parsed = lines.map((l) => parseLine(l.text))
      expect(parsed.map((p) => p?.time)).toEqual(Array.from({ length: 20 }, (_, i) => base + i))
      expect(parsed[3]?.fields).toEqual({ ph: 7.03 })
      expect(parsed[3]?.tags).toMatchObject({ device: 'wq-line', district: 'd2', kind: 'water_quality', protocol: 'mqtt' })
    } finally {
      await dev.endAsync()
      await gw.stop()
      await city.endAsync()
      await central.stop()
    }
  })

  it('gateway SIGKILLed mid-send: every acknowledged reading arrives; what a crash sends again has the same id, so the city drops it', { timeout: 120_000 }, async () => {
    const central = await startMosquitto(tmp.dir)
    const got: { time: number; id: string }[] = []
    const city = await mqtt.connectAsync(central.url, { reconnectPeriod: 0 })
    city.on('message', (_t, p) => {
      const b = JSON.parse(p.toString()) as UplinkJson
      if (b.measurement === 'water_quality') got.push({ time: b.time, id: b.id })
    })
    await city.subscribeAsync('city/#', { qos: 1 })
    const dir = join(tmp.dir, 'gw-kill')
    const mqttPort = await freePort()
    const yaml =
      'gateway: { id: kill-gw }\n' +
      `dataDir: ${dir}\nlog: { level: warn }\nbroker: { type: embedded, port: ${mqttPort} }\nhttp: { enabled: false }\nsinks:\n` +
        `  - type: mqtt-uplink\n    url: ${central.url}\n    batchSize: 2000\n    flushIntervalMs: 200\n    minBackoffMs: 100\n    maxBackoffMs: 1000\n`
    let gw = await startGatewayProcess(tmp.dir, 'kill-gw', yaml, 0)
    const base = Date.UTC(2026, 10, 6)
    const dev = mqtt.connect(`mqtt://127.0.0.1:${mqttPort}`, { clientId: 'kill-publisher', reconnectPeriod: 0 })
    await new Promise<void>((r) => dev.once('connect', () => r()))
    dev.on('error', () => undefined)
    const pub = publishNumbered(dev, (i) => ({ topic: `city/d1/water_quality/wq-kill-${i % 10}/telemetry`, payload: JSON.stringify({ ts: base + i, ph: 7 + (i % 100) / 100 }) }))
    try {
      await waitFor(() => got.length >= 3_000, 60_000, '3,000 points at the central broker')
      await gw.kill()
      dev.end(true)
      await pub.done
      const ackedAtKill = [...pub.acked]
      gw = await startGatewayProcess(tmp.dir, 'kill-gw', yaml, 0)
      const times = () => new Set(got.map((g) => g.time - base))
      await waitFor(() => ackedAtKill.every((i) => times().has(i)), 60_000, 'every acknowledged reading at the central broker')
      await sleep(1_000)
      // Deduplicated by id, each reading is there once: a repeated id is always the same reading, and no
      // reading came under two ids.
      const byId = new Map<string, number>()
      for (const g of got) {
        const prev = byId.get(g.id)
        if (prev !== undefined) expect(prev).toBe(g.time)
        byId.set(g.id, g.time)
      }
      expect(new Set(byId.values()).size).toBe(byId.size)
      expect([...times()].every((t) => t < pub.sent())).toBe(true)
      console.info(`mqtt-uplink after SIGKILL: ${got.length} messages, ${byId.size} distinct points, ${got.length - byId.size} sent again by the restarted gateway`)
    } finally {
      dev.end(true)
      await gw.stop()
      await city.endAsync()
      await central.stop()
    }
  })
})
