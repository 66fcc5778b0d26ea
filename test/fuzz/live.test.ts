/**
 * Issue 13: the live-server fuzz, small (test/fuzz/live.ts; `npm run bench -- fuzz-live` is the full-scale
 * run with RSS and event-loop figures). A gateway with its MQTT broker and its TCP device servers (JT/T 808,
 * HJ 212, the ETC RSU's server mode) takes fuzzed streams on real sockets while a well-behaved MQTT station
 * and JT/T 808 terminal keep sending: the gateway keeps serving, every acknowledged good reading was taken,
 * and every refusal is counted and dead-lettered under a catalogued reason.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isReason } from '../../devices/common/reasons.ts'
import type { Gateway } from '../../gateway/gateway.ts'
import { tempDir } from '../helpers/env.ts'
import { gatewayFrom } from '../helpers/gateway.ts'
import { freePort } from '../helpers/net.ts'
import { floodMqtt, fuzzMqtt, fuzzTcp, goodDevices } from './live.ts'

describe('live-server fuzz: MQTT and every TCP device server', () => {
  const tmp = tempDir('fuzz-live-')
  let gw: Gateway
  const ports = { mqtt: 0, jt808: 0, hj212: 0, etc: 0 }
  beforeAll(async () => {
    for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort()
    gw = gatewayFrom({
      dataDir: tmp.dir,
      http: { enabled: false },
      gateway: { district: 'fz' },
      broker: { type: 'embedded', host: '127.0.0.1', port: ports.mqtt },
      sources: [{ type: 'mqtt' }, { type: 'jt808', port: ports.jt808 }, { type: 'hj212', port: ports.hj212, passwords: { '010000A8900016F000169DC0': '100000', '12091200160055': '123456' } }, { type: 'etc-rsu', device: 'rsu-fz', mode: 'server', port: ports.etc }],
    })
    await gw.start()
  })
  afterAll(async () => {
    await gw.stop()
    tmp.cleanup()
  })

  it('takes fuzzed streams and messages while good devices keep flowing; every refusal catalogued', async () => {
    const mqttUrl = `mqtt://127.0.0.1:${ports.mqtt}`
    const good = await goodDevices({ mqttUrl, jt808Port: ports.jt808, periodMs: 100 })
    const started = Date.now()
    const deadline = started + 40_000
    const sent = await Promise.all([
      fuzzTcp(ports.jt808, 'jt808', { streams: 60, connections: 3, seed: 1, deadline }),
      fuzzTcp(ports.hj212, 'hj212', { streams: 60, connections: 3, seed: 2, deadline }),
      fuzzTcp(ports.etc, 'etc-rsu', { streams: 40, connections: 1, seed: 3, deadline }),
      fuzzMqtt(mqttUrl, { messages: 400, clients: 2, seed: 4, deadline }),
      floodMqtt(mqttUrl, { messages: 10 }),
    ])
    // The good devices run at least 3 s whatever the fuzz took, so their counts mean something.
    await new Promise((r) => setTimeout(r, Math.max(0, started + 3000 - Date.now())))
    const stats = await good.stop()
    // The fuzz ran (bounded by count and by the deadline) and the good devices were not starved.
    expect(sent[0].streams + sent[1].streams + sent[2].streams).toBeGreaterThan(50)
    expect(sent[3].messages).toBeGreaterThan(100)
    expect(stats.mqtt.acked).toBeGreaterThan(5)
    expect(stats.jt808.acked).toBeGreaterThan(5)
    expect(stats.mqtt.acked).toBe(stats.mqtt.sent)
    expect(stats.jt808.acked).toBe(stats.jt808.sent)
    // Every acknowledged good reading is in the spool (no sink: the spool keeps everything).
    const spool = join(tmp.dir, 'spool')
    const stored = readdirSync(spool)
      .filter((f) => !f.startsWith('cursor'))
      .flatMap((f) => readFileSync(join(spool, f), 'utf8').split('\n'))
    expect(stored.filter((l) => l.startsWith('water_quality,') && l.includes('device=good-station')).length).toBe(stats.mqtt.acked)
    expect(stored.filter((l) => l.startsWith('position,') && l.includes('device=13900000777')).length).toBeGreaterThanOrEqual(stats.jt808.acked)
    // Refusals: every metric label and every dead letter under a catalogued reason; the flood coalesced.
    const m = await gw.metrics.registry.getSingleMetric('smartcity_readings_rejected_total')?.get()
    const reasons = new Set((m?.values ?? []).map((v) => String(v.labels['reason'])))
    expect(reasons.size).toBeGreaterThan(3)
    for (const r of reasons) expect(isReason(r), r).toBe(true)
    await new Promise((r) => setTimeout(r, 100))
    const dir = join(tmp.dir, 'deadletter')
    const dead = readdirSync(dir)
      .filter((f) => f.endsWith('.jsonl'))
      .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean))
      .map((l) => JSON.parse(l) as { reason: string; device?: string; count?: number })
    for (const d of dead) expect(isReason(d.reason), d.reason).toBe(true)
    expect(dead.filter((d) => d.device === 'flood-1')).toHaveLength(10)
    expect(dead.filter((d) => d.device === 'flood-2').map((d) => d.reason)).toEqual(['json_too_deep'])
  }, 120_000)
})
