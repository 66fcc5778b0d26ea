/**
 * Issue 13, "Found by fault injection": one MQTT client flooding the gateway with refused readings must
 * cost bounded memory and time, and a refusal must never be lost.
 * - Memory: 100 QoS 0 messages, each an array of 5,000 invalid readings (about 45 KB, under the 64 KB payload
 *   cap: 4.5 MB of input). The refusals of one message are one dead-letter record (with the count, the
 *   reasons and the payload once) and one counter increment per reason, not 5,000 records and promises;
 *   a well-behaved device's QoS 1 readings are stored meanwhile. (RSS and stall goals: `npm run bench -- fuzz-live`.)
 * - Silent loss: a 12 KB payload of 6,000 nested arrays at QoS 1 is acknowledged only once it is counted
 *   and dead-lettered (`json_too_deep`).
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Gateway } from '../../gateway/gateway.ts'
import { have, tempDir } from '../helpers/env.ts'
import { gatewayFrom, metricValue } from '../helpers/gateway.ts'
import { startMosquitto } from '../helpers/mosquitto.ts'
import { freePort, waitFor } from '../helpers/net.ts'

/** Every dead-letter record of the gateway's data dir (rotated files included). */
function deadLetters(dataDir: string): Record<string, unknown>[] {
  const dir = join(dataDir, 'deadletter')
  const out: Record<string, unknown>[] = []
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.jsonl'))) {
    for (const l of readFileSync(join(dir, f), 'utf8').split('\n')) if (l) out.push(JSON.parse(l) as Record<string, unknown>)
  }
  return out
}

describe('a flood of refused readings from one MQTT client', () => {
  const tmp = tempDir('flood-')
  let gw: Gateway
  let url: string
  beforeAll(async () => {
    const port = await freePort()
    gw = gatewayFrom({ dataDir: tmp.dir, http: { enabled: false }, broker: { type: 'embedded', host: '127.0.0.1', port }, sources: [{ type: 'mqtt' }] })
    await gw.start()
    url = `mqtt://127.0.0.1:${port}`
  })
  afterAll(async () => {
    await gw.stop()
    tmp.cleanup()
  })

  it('100 QoS 0 messages of 5,000 invalid readings: one dead letter per message, counted per reason, others keep flowing', async () => {
    // 5,000 readings each out of range: {"ph":99} is 9 characters, with commas 50 KB.
    const payload = JSON.stringify(Array.from({ length: 5000 }, () => ({ ph: 99 })))
    expect(payload.length).toBeLessThan(64 * 1024)
    const bad = await mqtt.connectAsync(url, { clientId: 'flooder' })
    const good = await mqtt.connectAsync(url, { clientId: 'good-station' })
    try {
      for (let i = 0; i < 100; i++) bad.publish('city/d1/water_quality/wq-bad/telemetry', payload, { qos: 0 })
      // The well-behaved station, meanwhile: every one of its readings acknowledged (so on disk).
      for (let i = 0; i < 20; i++) await good.publishAsync('city/d1/water_quality/wq-good/telemetry', JSON.stringify({ ph: 7, ts: 1_795_000_000_000 + i }), { qos: 1 })
      // A QoS 1 message after the flood on the same connection: acknowledged once everything before it is taken.
      await bad.publishAsync('city/d1/water_quality/wq-bad/telemetry', payload, { qos: 1 })
    } finally {
      await bad.endAsync()
      await good.endAsync()
    }
    expect(await metricValue(gw, 'smartcity_readings_accepted_total', { source: 'mqtt' })).toBe(20)
    // Counted per reading (5,000 x 101), dead-lettered per message.
    expect(await metricValue(gw, 'smartcity_readings_rejected_total', { reason: 'out_of_range' })).toBe(505_000)
    const dead = deadLetters(tmp.dir).filter((d) => d['device'] === 'wq-bad')
    expect(dead).toHaveLength(101)
    for (const d of dead) {
      expect(d).toMatchObject({ reason: 'out_of_range', count: 5000, reasons: { out_of_range: 5000 }, raw: payload, address: 'city/d1/water_quality/wq-bad/telemetry' })
      // The first few refused items, by index, and not 5,000 of them.
      const items = d['items'] as { index: number; reason: string }[]
      expect(items.length).toBeGreaterThan(0)
      expect(items.length).toBeLessThanOrEqual(5)
      expect(items[0]).toMatchObject({ index: 0, reason: 'out_of_range' })
    }
  }, 120_000)

  it('6,000 nested arrays at QoS 1: acknowledged only once counted and dead-lettered as json_too_deep', async () => {
    const c = await mqtt.connectAsync(url, { clientId: 'nester' })
    const deep = `${'['.repeat(6000)}${']'.repeat(6000)}`
    try {
      await c.publishAsync('city/d1/water_quality/wq-deep/telemetry', deep, { qos: 1 })
    } finally {
      await c.endAsync()
    }
    // The PUBACK came after the dead letter was on disk: no wait needed.
    expect(await metricValue(gw, 'smartcity_readings_rejected_total', { reason: 'json_too_deep' })).toBe(1)
    const dead = deadLetters(tmp.dir).filter((d) => d['device'] === 'wq-deep')
    expect(dead).toMatchObject([{ reason: 'json_too_deep', raw: deep }])
  })
})

describe.skipIf(!have('mosquitto'))('the same flood through an external broker (Mosquitto)', () => {
  it('is paced and coalesced the same way: one dead letter per message, the good station stored, the connection kept', async () => {
    const tmp = tempDir('flood-ext-')
    const mosq = await startMosquitto(tmp.dir)
    const gw = gatewayFrom({ dataDir: join(tmp.dir, 'gw'), http: { enabled: false }, broker: { type: 'external', url: mosq.url, clientId: 'gw-flood' }, sources: [{ type: 'mqtt' }] })
    await gw.start()
    try {
      const payload = JSON.stringify(Array.from({ length: 5000 }, () => ({ ph: 99 })))
      const bad = await mqtt.connectAsync(mosq.url, { clientId: 'flooder-ext' })
      const good = await mqtt.connectAsync(mosq.url, { clientId: 'good-ext' })
      // QoS 1 end to end, so the broker delivers every message whatever the gateway's pace.
      const floods = Array.from({ length: 30 }, () => bad.publishAsync('city/d1/water_quality/wq-bad/telemetry', payload, { qos: 1 }))
      for (let i = 0; i < 20; i++) await good.publishAsync('city/d1/water_quality/wq-good/telemetry', JSON.stringify({ ph: 7, ts: 1_795_000_000_000 + i }), { qos: 1 })
      await Promise.all(floods)
      await bad.endAsync()
      await good.endAsync()
      await waitFor(async () => (await metricValue(gw, 'smartcity_readings_rejected_total', { reason: 'out_of_range' })) === 150_000 && (await metricValue(gw, 'smartcity_readings_accepted_total')) === 20, 60_000, 'the flood and the good readings taken')
      await new Promise((r) => setTimeout(r, 100))
      const dead = deadLetters(join(tmp.dir, 'gw')).filter((d) => d['device'] === 'wq-bad')
      expect(dead).toHaveLength(30)
      for (const d of dead) expect(d).toMatchObject({ count: 5000, reasons: { out_of_range: 5000 } })
      expect((await gw.health())['broker']?.status).toBe('ok')
    } finally {
      await gw.stop()
      await mosq.stop()
      tmp.cleanup()
    }
  }, 120_000)
})
