import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { afterAll, describe, expect, it } from 'vitest'
import { have, tempDir } from '../helpers/env.ts'
import { gatewayFrom, metricValue, stationReading } from '../helpers/gateway.ts'
import { useInflux } from '../helpers/influx.ts'
import { freePort, sleep, waitFor } from '../helpers/net.ts'

const ROOT = join(import.meta.dirname, '..', '..')

describe.skipIf(!have('influxd'))('durability: nothing acknowledged is lost', () => {
  const influx = useInflux()
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('InfluxDB stopped for 30 s while 5,000 readings arrive: all 5,000 land once (count and sum)', { timeout: 120_000 }, async () => {
    const db = 'outage'
    const mqttPort = await freePort()
    const gw = gatewayFrom({
      dataDir: join(tmp.dir, 'gw-outage'),
      http: { enabled: false },
      sinks: [{ type: 'influx-v1', url: influx.url, database: db, flushIntervalMs: 200, minBackoffMs: 100, maxBackoffMs: 2_000 }],
    }, { mqttPort })
    await gw.start()
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { clientId: 'outage-publisher' })
    try {
      // One reading before the outage proves the database exists and the path works.
      const base = Date.UTC(2026, 9, 1)
      await client.publishAsync('city/d1/water_quality/wq-out-0/telemetry', JSON.stringify(stationReading(0, base - 1000)), { qos: 1 })
      await waitFor(async () => (await influx.count(db, 'water_quality', 'ph')) === 1, 10_000, 'first point')

      await influx.stop()
      const outageStart = Date.now()
      let expectedSum = 0
      for (let burst = 0; burst < 10; burst++) {
        const sends = []
        for (let j = 0; j < 500; j++) {
          const i = burst * 500 + j
          const r = stationReading(i, base + i)
          r['cod_mg_l'] = 10 + (i % 100) / 10
          expectedSum += r['cod_mg_l']
          sends.push(client.publishAsync(`city/d1/water_quality/wq-out-${i % 20}/telemetry`, JSON.stringify(r), { qos: 1 }))
        }
        await Promise.all(sends)
        await sleep(2_500)
      }
      expect(await metricValue(gw, 'smartcity_readings_accepted_total')).toBe(5_001)
      const health = await gw.health()
      expect(health['sink:influx-v1']?.status).not.toBe('ok')
      await sleep(Math.max(0, 30_000 - (Date.now() - outageStart)))
      await influx.restart()

      const where = `time >= ${base}ms`
      await waitFor(async () => (await influx.count(db, 'water_quality', 'cod_mg_l', where)) >= 5_000, 60_000, '5,000 points after the restart')
      await sleep(1_000)
      expect(await influx.count(db, 'water_quality', 'cod_mg_l', where)).toBe(5_000)
      const rows = await influx.query(db, `SELECT sum("cod_mg_l") FROM water_quality WHERE ${where}`)
      expect(Number(rows[0]?.['sum'])).toBeCloseTo(expectedSum, 6)
    } finally {
      await client.endAsync()
      await gw.stop()
    }
  })

  it('gateway killed with SIGKILL mid-stream and started again: every acknowledged reading is in InfluxDB', { timeout: 120_000 }, async () => {
    const db = 'sigkill'
    const dir = join(tmp.dir, 'gw-kill')
    const mqttPort = await freePort()
    const cfgFile = join(tmp.dir, 'kill.yaml')
    writeFileSync(
      cfgFile,
      `dataDir: ${dir}\nlog: { level: warn }\nbroker: { type: embedded, port: ${mqttPort} }\nhttp: { enabled: false }\nsinks:\n  - type: influx-v1\n    url: ${influx.url}\n    database: ${db}\n    flushIntervalMs: 500\n`,
    )
    const startGw = async (): Promise<ChildProcess> => {
      // stdout is the JSON log; the human "gateway <id>: mqtt ..., http ..." line that says it is up is on stderr.
      const p = spawn(process.execPath, [join(ROOT, 'bin', 'smartcity.js'), 'gateway', '--config', cfgFile], { stdio: ['ignore', 'ignore', 'pipe'] })
      await new Promise<void>((resolve, reject) => {
        p.stderr!.on('data', (d: Buffer) => {
          process.stderr.write(d)
          if (d.toString().includes('gateway ')) resolve()
        })
        p.once('exit', (c) => reject(new Error(`gateway exited ${c}`)))
      })
      return p
    }
    let gw = await startGw()
    const acked = new Set<number>()
    const base = Date.UTC(2026, 8, 1)
    const client = mqtt.connect(`mqtt://127.0.0.1:${mqttPort}`, { clientId: 'kill-publisher', reconnectPeriod: 0 })
    await new Promise<void>((r) => client.once('connect', () => r()))
    client.on('error', () => undefined)
    let sent = 0
    const publishing = (async () => {
      while (!client.disconnected && sent < 200_000) {
        const batch = []
        for (let j = 0; j < 50; j++) {
          const i = sent++
          batch.push(
            client.publishAsync(`city/d1/water_quality/wq-kill-${i % 10}/telemetry`, JSON.stringify(stationReading(i, base + i)), { qos: 1 }).then(
              () => acked.add(i),
              () => undefined,
            ),
          )
        }
        await Promise.race([Promise.all(batch), sleep(2_000)])
      }
    })()
    await waitFor(() => acked.size >= 3_000, 30_000, '3,000 acknowledged readings')
    gw.kill('SIGKILL')
    await new Promise((r) => gw.once('exit', r))
    client.end(true)
    await publishing
    const ackedAtKill = [...acked]
    expect(ackedAtKill.length).toBeGreaterThanOrEqual(3_000)

    gw = await startGw()
    try {
      const where = `time >= ${base}ms`
      await waitFor(async () => (await influx.count(db, 'water_quality', 'ph', where)) >= ackedAtKill.length, 30_000, 'every acknowledged reading')
      const rows = await influx.query(db, `SELECT ph FROM water_quality WHERE ${where}`)
      const stored = new Set(rows.map((r) => Number(r['time']) - base))
      const missing = ackedAtKill.filter((i) => !stored.has(i))
      expect(missing).toEqual([])
      // Nothing that was never sent appears.
      expect([...stored].every((i) => i < sent)).toBe(true)
    } finally {
      gw.kill('SIGTERM')
      await new Promise((r) => gw.once('exit', r))
    }
  })
})

describe('bad input is refused with its reason, kept, and the gateway keeps running', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('rejects malformed JSON, unknown fields, wrong types, out-of-range values and an oversized payload', async () => {
    const mqttPort = await freePort()
    const dataDir = join(tmp.dir, 'gw-bad')
    const gw = gatewayFrom({ dataDir, http: { enabled: true, port: 0 }, sources: [{ type: 'mqtt', maxPayloadBytes: 4096 }] }, { mqttPort })
    await gw.start()
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`)
    try {
      const t = 'city/d1/water_quality/wq-bad-1/telemetry'
      const cases: [string, string | Buffer, string][] = [
        [t, '{"ph": 7.1,', 'malformed_json'],
        [t, '{"ph": 7.1, "colour": "green"}', 'unknown_field'],
        [t, '{"ph": "seven"}', 'wrong_type'],
        [t, '{"ph": 15.2}', 'out_of_range'],
        [t, '{"dissolved_oxygen_mg_l": -1}', 'out_of_range'],
        [t, Buffer.alloc(10_000, 0x20), 'payload_too_large'],
        [t, '{"ts": "yesterday", "ph": 7}', 'bad_timestamp'],
        [t, '{}', 'empty_reading'],
        ['city/d1/spaceship/x-1/telemetry', '{"ph": 7}', 'unknown_kind'],
        ['city/d1/water_quality/wq bad 1/telemetry', '{"ph": 7}', 'bad_topic'],
      ]
      for (const [topic, payload] of cases) await client.publishAsync(topic, payload, { qos: 1 })
      // The process keeps running and still takes good readings.
      await client.publishAsync(t, '{"ph": 7.3}', { qos: 1 })
      const expected: Record<string, number> = {}
      for (const [, , reason] of cases) expected[reason] = (expected[reason] ?? 0) + 1
      for (const [reason, n] of Object.entries(expected)) expect(await metricValue(gw, 'smartcity_readings_rejected_total', { reason }), reason).toBe(n)
      expect(await metricValue(gw, 'smartcity_readings_accepted_total')).toBe(1)

      const dlq = readFileSync(join(dataDir, 'deadletter', 'deadletter.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
      expect(dlq.map((e) => e['reason'])).toEqual(cases.map((c) => c[2]))
      expect(dlq[0]).toMatchObject({ source: 'mqtt', address: t, raw: '{"ph": 7.1,', reason: 'malformed_json' })
      expect(typeof dlq[0]!['time']).toBe('string')
      expect(dlq[1]!['detail']).toContain('colour')
      const res = await fetch(`${gw.endpoints().http}/healthz`)
      expect(res.status).toBe(200)
      const metrics = await (await fetch(`${gw.endpoints().http}/metrics`)).text()
      expect(metrics).toContain('smartcity_readings_rejected_total{source="mqtt",reason="malformed_json"} 1')
      const devices = (await (await fetch(`${gw.endpoints().http}/api/devices`)).json()) as { devices: { id: string; framesRejected: number; framesOk: number }[] }
      expect(devices.devices.find((d) => d.id === 'wq-bad-1')).toMatchObject({ framesOk: 1 })
    } finally {
      await client.endAsync()
      await gw.stop()
    }
  })
})
