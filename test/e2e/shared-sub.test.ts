/**
 * Scale-out on an external broker with MQTT 5 shared subscriptions (docs/scale-out.md): two gateway
 * instances (child processes, as production runs them) subscribe `$share/city/city/+/+/+/telemetry` on one
 * Mosquitto, so the broker hands each message to one of them. One instance is SIGKILLed halfway through
 * 100,000 readings and started again five seconds later (what systemd's Restart=always does); the other
 * carries on. Every reading the publisher had acknowledged must be in InfluxDB once.
 *
 * Spec: MQTT 5.0 section 4.8.2 "Shared Subscriptions" (https://docs.oasis-open.org/mqtt/mqtt/v5.0/os/mqtt-v5.0-os.html#_Toc3901250):
 * a QoS 1 message in flight to a member whose connection breaks MAY wait for that member to reconnect,
 * which is what Mosquitto 2.0 does (its share waits in the member's session, and it keeps being given a
 * share while it is away: https://github.com/eclipse-mosquitto/mosquitto/issues/2662).
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { afterAll, describe, expect, it } from 'vitest'
import { have, tempDir } from '../helpers/env.ts'
import { type GatewayProcess, startGatewayProcess } from '../helpers/gateway-process.ts'
import { stationReading } from '../helpers/gateway.ts'
import { useInflux } from '../helpers/influx.ts'
import { type MosquittoServer, startMosquitto } from '../helpers/mosquitto.ts'
import { freePort, sleep, waitFor } from '../helpers/net.ts'

const TOTAL = 100_000
const DEVICES = 100
const PER_DEVICE = TOTAL / DEVICES
const DB = 'sharedsub'

describe.skipIf(!have('influxd', 'mosquitto', 'mosquitto_pub'))('MQTT 5 shared subscription: two gateway instances on one Mosquitto', () => {
  const influx = useInflux()
  const tmp = tempDir('shared-sub-')
  afterAll(() => tmp.cleanup())

  it(`${TOTAL.toLocaleString('en')} readings, one instance SIGKILLed halfway: each stored once in InfluxDB`, { timeout: 420_000 }, async () => {
    const t0 = Date.now()
    const mosq: MosquittoServer = await startMosquitto(tmp.dir)
    const yaml = (id: string, httpPort: number) => {
      const dir = join(tmp.dir, id)
      mkdirSync(dir, { recursive: true })
      return [
        `gateway: { id: ${id} }`,
        `dataDir: ${dir}`,
        'log: { level: warn }',
        `broker: { type: external, url: "${mosq.url}", clientId: ${id}, sharedGroup: city }`,
        `http: { host: 127.0.0.1, port: ${httpPort} }`,
        'sources:',
        '  - { type: mqtt, topics: ["city/+/+/+/telemetry"] }',
        'sinks:',
        `  - { type: influx-v1, url: "${influx.url}", database: ${DB}, flushIntervalMs: 200 }`,
        '',
      ].join('\n')
    }
    const ports = { a: await freePort(), b: await freePort() }
    const gws: Record<'a' | 'b', GatewayProcess | undefined> = { a: undefined, b: undefined }
    const client = await mqtt.connectAsync(mosq.url, { clientId: 'shared-sub-publisher', protocolVersion: 5 })
    try {
      gws.a = await startGatewayProcess(tmp.dir, 'gw-a', yaml('gw-a', ports.a), ports.a)
      gws.b = await startGatewayProcess(tmp.dir, 'gw-b', yaml('gw-b', ports.b), ports.b)
      const base = Date.UTC(2026, 10, 20)
      let acked = 0
      let sent = 0
      // Bounded in count (TOTAL) and time (240 s); at most 1,000 QoS 1 publishes in flight.
      const deadline = Date.now() + 240_000
      const publishing = (async () => {
        while (sent < TOTAL && Date.now() < deadline) {
          const batch: Promise<unknown>[] = []
          for (let j = 0; j < 1_000 && sent < TOTAL; j++) {
            const i = sent++
            const dev = i % DEVICES
            const seq = Math.floor(i / DEVICES)
            const r = stationReading(i, base + seq * 1_000)
            batch.push(client.publishAsync(`city/d1/water_quality/wq-share-${dev}/telemetry`, JSON.stringify(r), { qos: 1 }).then(() => acked++))
          }
          await Promise.all(batch)
        }
      })()
      await waitFor(() => acked >= TOTAL / 2, 200_000, 'half the readings acknowledged by the broker', 20)
      const bAtKill = await gws.b.metric('smartcity_readings_accepted_total')
      const aAtKill = await gws.a.metric('smartcity_readings_accepted_total').catch(() => -1)
      await gws.a.kill()
      const killedAt = Date.now()
      // The other instance carries on alone meanwhile.
      await sleep(5_000)
      const bAlone = (await gws.b.metric('smartcity_readings_accepted_total')) - bAtKill
      expect(bAlone).toBeGreaterThan(0)
      gws.a = await startGatewayProcess(tmp.dir, 'gw-a', yaml('gw-a', ports.a), ports.a)
      await publishing
      const publishMs = Date.now() - t0
      expect(acked).toBe(TOTAL)

      const where = `time >= ${base}ms`
      await waitFor(async () => (await influx.count(DB, 'water_quality', 'ph', where)) >= TOTAL, 180_000, `${TOTAL} points in InfluxDB`, 500)
      await waitFor(async () => (await gws.a!.metric('smartcity_spool_depth_points')) === 0 && (await gws.b!.metric('smartcity_spool_depth_points')) === 0, 60_000, 'both spools drained', 500)
      await sleep(1_000)
      // InfluxDB keeps one point per series and time: the count is the number of distinct (device, time).
      expect(await influx.count(DB, 'water_quality', 'ph', where)).toBe(TOTAL)
      const perDevice = await influx.query(DB, `SELECT count("ph") FROM water_quality WHERE ${where} GROUP BY "device"`)
      // The query helper returns the first series only; check every device by its own count.
      expect(perDevice[0]?.['count']).toBe(PER_DEVICE)
      for (const dev of [0, 1, 37, DEVICES - 1]) {
        expect(await influx.count(DB, 'water_quality', 'ph', `${where} AND "device"='wq-share-${dev}'`)).toBe(PER_DEVICE)
      }
      // Presence is tagged with the instance that saw the device (docs/data-model.md device_status).
      const instances = await influx.query(DB, 'SHOW TAG VALUES FROM device_status WITH KEY = "instance"')
      expect(instances.map((r) => r['value']).sort()).toEqual(['gw-a', 'gw-b'])
      const range = await influx.query(DB, `SELECT min("ph"), max("ph") FROM water_quality WHERE ${where}`)
      expect(range[0]).toMatchObject({ min: 7, max: 7.09 })
      const aAfter = await gws.a.metric('smartcity_readings_accepted_total')
      const bTotal = await gws.b.metric('smartcity_readings_accepted_total')
      // Accepted into the spools in total: at least every reading; more by what gw-a had spooled but not yet
      // acknowledged when it was killed (the broker sends those again: at least once into the spool).
      const spooled = Math.max(0, aAtKill) + aAfter + bTotal
      expect(spooled).toBeGreaterThanOrEqual(TOTAL - 1_000)
      // gw-a's share that waited in its session while it was away came to it after the restart.
      expect(aAfter).toBeGreaterThan(0)
      console.log(
        JSON.stringify({
          test: 'shared-sub',
          readings: TOTAL,
          publishSeconds: publishMs / 1000,
          totalSeconds: (Date.now() - t0) / 1000,
          killedAtSeconds: (killedAt - t0) / 1000,
          acceptedByA: { beforeKill: aAtKill, afterRestart: aAfter },
          acceptedByB: bTotal,
          acceptedByBWhileAAway5s: bAlone,
          spooledTotal: spooled,
        }),
      )
    } finally {
      await client.endAsync().catch(() => undefined)
      await gws.a?.stop()
      await gws.b?.stop()
      await mosq.stop()
    }
  })
})
