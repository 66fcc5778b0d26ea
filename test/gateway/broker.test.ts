import { join } from 'node:path'
import mqtt from 'mqtt'
import { afterAll, describe, expect, it } from 'vitest'
import { compileFilter } from '../../gateway/broker/index.ts'
import { tempDir } from '../helpers/env.ts'
import { gatewayFrom, metricValue } from '../helpers/gateway.ts'
import { freePort } from '../helpers/net.ts'

/** MQTT topic filter match with `+` and `#`, written plainly as the reference for compileFilter. */
function topicMatches(filter: string, topic: string): boolean {
  if (filter === topic) return true
  const f = filter.split('/')
  const t = topic.split('/')
  for (let i = 0; i < f.length; i++) {
    const p = f[i]
    if (p === '#') return true
    if (i >= t.length) return false
    if (p !== '+' && p !== t[i]) return false
  }
  return f.length === t.length
}

describe('topic filters', () => {
  const cases: [string, string, boolean][] = [
    ['city/+/+/+/telemetry', 'city/d1/water_quality/wq-1/telemetry', true],
    ['city/+/+/+/telemetry', 'city/d1/water_quality/wq-1/status', false],
    ['city/+/+/+/telemetry', 'city/d1/water_quality/telemetry', false],
    ['city/#', 'city', true],
    ['city/#', 'city/a/b/c', true],
    ['city/a.b/+', 'city/axb/c', false],
    ['+/x', '/x', true],
  ]
  for (const [f, t, want] of cases) {
    it(`${f} ${want ? 'matches' : 'does not match'} ${t}`, () => {
      expect(compileFilter(f).test(t)).toBe(want)
      expect(topicMatches(f, t)).toBe(want)
    })
  }
})

describe('embedded broker', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('takes readings over MQTT on WebSocket too', async () => {
    const wsPort = await freePort()
    const gw = gatewayFrom({ dataDir: join(tmp.dir, 'ws'), http: { enabled: false }, broker: { type: 'embedded', port: 0, wsPort } })
    await gw.start()
    try {
      const c = await mqtt.connectAsync(`ws://127.0.0.1:${wsPort}`)
      await c.publishAsync('city/d1/water_quality/wq-ws/telemetry', '{"ph": 7.0}', { qos: 1 })
      await c.endAsync()
      expect(await metricValue(gw, 'smartcity_readings_accepted_total')).toBe(1)
    } finally {
      await gw.stop()
    }
  })

  it('refuses devices with a wrong password when users are configured', async () => {
    const port = await freePort()
    const gw = gatewayFrom({ dataDir: join(tmp.dir, 'auth'), http: { enabled: false }, broker: { type: 'embedded', port, users: { 'wq-1': 's3cret' } } })
    await gw.start()
    try {
      await expect(mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: 'wq-1', password: 'wrong', reconnectPeriod: 0 })).rejects.toThrow(/Bad username or password|Not authorized/i)
      const ok = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: 'wq-1', password: 's3cret', reconnectPeriod: 0 })
      await ok.publishAsync('city/d1/water_quality/wq-1/telemetry', '{"ph": 7.0}', { qos: 1 })
      await ok.endAsync()
      expect(await metricValue(gw, 'smartcity_readings_accepted_total')).toBe(1)
    } finally {
      await gw.stop()
    }
  })
})
