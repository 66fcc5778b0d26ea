import { join } from 'node:path'
import mqtt from 'mqtt'
import { afterAll, describe, expect, it } from 'vitest'
import { tempDir } from '../helpers/env.ts'
import { gatewayFrom } from '../helpers/gateway.ts'
import { freePort, waitFor } from '../helpers/net.ts'

describe('HTTP API', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('/healthz is 200 with per-component status while every part serves, 503 when a sink is down', async () => {
    const dead = await freePort()
    const gw = gatewayFrom({ dataDir: join(tmp.dir, 'gw'), http: { port: 0 }, sinks: [{ type: 'influx-v1', url: `http://127.0.0.1:${dead}`, timeoutMs: 500 }] }, { mqttPort: 0 })
    await gw.start()
    try {
      const res = await fetch(`${gw.endpoints().http}/healthz`)
      expect(res.status).toBe(503)
      const body = (await res.json()) as { status: string; components: Record<string, { status: string; detail?: string }> }
      expect(body.status).toBe('down')
      expect(body.components['broker']?.status).toBe('ok')
      expect(body.components['spool']?.status).toBe('ok')
      expect(body.components['sink:influx-v1']?.status).toBe('down')
    } finally {
      await gw.stop()
    }
    const gw2 = gatewayFrom({ dataDir: join(tmp.dir, 'gw2'), http: { port: 0 } }, { mqttPort: 0 })
    await gw2.start()
    try {
      const res = await fetch(`${gw2.endpoints().http}/healthz`)
      expect(res.status).toBe(200)
      const body = (await res.json()) as { components: Record<string, { status: string }> }
      expect(body.components['sinks']?.status).toBe('degraded')
    } finally {
      await gw2.stop()
    }
  })

  it('/metrics and /api/devices show readings, spool depth and last-seen per device', async () => {
    const mqttPort = await freePort()
    const gw = gatewayFrom(
      { dataDir: join(tmp.dir, 'gw3'), http: { port: 0 }, devices: [{ id: 'wq-9', kind: 'water_quality', district: 'xian-gaoxin', site: 'Bridge 9' }, { id: 'wq-silent', kind: 'water_quality' }] },
      { mqttPort },
    )
    await gw.start()
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`)
    try {
      await c.publishAsync('city/other/water_quality/wq-9/telemetry', '{"ph":7.4}', { qos: 1 })
      await c.publishAsync('city/other/water_quality/wq-9/status', 'online', { qos: 1, retain: true })
      const text = await (await fetch(`${gw.endpoints().http}/metrics`)).text()
      expect(text).toContain('smartcity_readings_received_total{source="mqtt"} 1')
      expect(text).toContain('smartcity_readings_accepted_total{source="mqtt",kind="water_quality"} 1')
      expect(text).toContain('smartcity_spool_depth_points 2') // the reading and the device's status point, no sink to drain them
      expect(text).toMatch(/smartcity_spool_bytes \d+/)
      const seen = Number(/smartcity_device_last_seen_seconds\{device="wq-9",kind="water_quality"\} (\d+(?:\.\d+)?)/.exec(text)?.[1])
      expect(Math.abs(seen - Date.now() / 1000)).toBeLessThan(10)
      expect(text).toContain('# TYPE smartcity_device_last_seen_seconds gauge')
      expect(text).not.toMatch(/smartcity_device_last_seen_seconds\{device="wq-silent"/) // never heard from
      expect(text).toContain('smartcity_sink_write_seconds')
      // ?name= (repeatable): those families only; an unknown one gives nothing, a bad one a 400.
      const one = await (await fetch(`${gw.endpoints().http}/metrics?name=smartcity_readings_received_total&name=smartcity_device_last_seen_seconds&name=smartcity_no_such`)).text()
      expect(one.match(/^# TYPE \S+/gm)).toEqual(['# TYPE smartcity_readings_received_total', '# TYPE smartcity_device_last_seen_seconds'])
      expect(one).toContain('smartcity_readings_received_total{source="mqtt"} 1')
      expect(one).toMatch(/smartcity_device_last_seen_seconds\{device="wq-9",kind="water_quality"\} \d+/)
      expect(await (await fetch(`${gw.endpoints().http}/metrics?name=smartcity_no_such`)).text()).toBe('')
      const bad = await fetch(`${gw.endpoints().http}/metrics?name=${encodeURIComponent('a{b}')}`)
      expect(bad.status).toBe(400)
      expect(await bad.json()).toMatchObject({ error: 'bad_metric_name' })
      const { devices } = (await (await fetch(`${gw.endpoints().http}/api/devices`)).json()) as { devices: Record<string, unknown>[] }
      // The inventory wins over the topic for the district.
      expect(devices.find((d) => d['id'] === 'wq-9')).toMatchObject({ kind: 'water_quality', district: 'xian-gaoxin', site: 'Bridge 9', online: true, framesOk: 1, configured: true })
      expect(devices.find((d) => d['id'] === 'wq-silent')).toMatchObject({ online: false, lastSeenMs: null, configured: true })
      await c.publishAsync('city/other/water_quality/wq-9/status', 'offline', { qos: 1, retain: true })
      await waitFor(async () => {
        const d = (await (await fetch(`${gw.endpoints().http}/api/devices`)).json()) as { devices: Record<string, unknown>[] }
        return d.devices.find((x) => x['id'] === 'wq-9')?.['online'] === false
      }, 5_000, 'wq-9 offline')
      const w = await fetch(`${gw.endpoints().http}/api/devices/wq-9/write`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"field":"ph","value":1}' })
      expect(w.status).toBe(404)
    } finally {
      await c.endAsync()
      await gw.stop()
    }
  })
})
