import { describe, expect, it } from 'vitest'
import { applyOverrides, parseConfig } from '../../gateway/config.ts'

describe('configuration', () => {
  it('fills defaults: embedded broker on 1883, HTTP on 8080, the MQTT source, no sinks', () => {
    const r = parseConfig({})
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.config.broker).toMatchObject({ type: 'embedded', host: '127.0.0.1', port: 1883 })
    expect(r.config.http).toMatchObject({ host: '127.0.0.1', port: 8080 })
    expect(r.config.sources.map((s) => s.type)).toEqual(['mqtt'])
    expect(r.config.sinks).toEqual([])
  })

  it('reports every problem with its key path', () => {
    const r = parseConfig({
      broker: { type: 'embedded', port: 70000 },
      sinks: [{ type: 'influx-v1', url: 'not a url' }, { type: 'influx-v2', url: 'http://x' }],
      devices: [{ id: 'wq 1', kind: 'water_quality' }, { id: 'm1', kind: 'toaster' }],
      colour: 'blue',
    })
    expect(r.ok).toBe(false)
    if (r.ok) return
    const text = r.problems.join('\n')
    expect(text).toContain('broker.port')
    expect(text).toContain('sinks[0].url')
    expect(text).toMatch(/sinks\[1\]\.(org|bucket|token)/)
    expect(text).toContain('devices[0].id')
    expect(text).toContain('devices[1].kind')
    expect(text).toMatch(/\(root\).*colour|colour/)
  })

  it('refuses duplicate device ids', () => {
    const r = parseConfig({ devices: [{ id: 'a', kind: 'etc' }, { id: 'a', kind: 'etc' }] })
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.problems.join()).toContain('devices[1].id: duplicate device id a')
  })

  it('applies the command-line flags over the file', () => {
    const r = parseConfig(
      { broker: { type: 'embedded', port: 1883 }, http: { port: 8080 }, sinks: [{ type: 'influx-v1', url: 'http://127.0.0.1:8086', database: 'a' }] },
      { mqttPort: 11883, httpPort: 18080, influxUrl: 'http://127.0.0.1:9999', influxDb: 'city', dataDir: '/tmp/x' },
    )
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.config.broker).toMatchObject({ type: 'embedded', port: 11883 })
    expect(r.config.http.port).toBe(18080)
    expect(r.config.sinks).toHaveLength(1)
    expect(r.config.sinks[0]).toMatchObject({ type: 'influx-v1', url: 'http://127.0.0.1:9999', database: 'city' })
    expect(r.config.dataDir).toBe('/tmp/x')
  })

  it('--mqtt-url switches to an external broker; the v2 flags make an influx-v2 sink', () => {
    const r = parseConfig({}, { mqttUrl: 'mqtt://127.0.0.1:1999', influxUrl: 'http://127.0.0.1:8181', influxOrg: 'o', influxBucket: 'b', influxToken: 't' })
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.config.broker).toMatchObject({ type: 'external', url: 'mqtt://127.0.0.1:1999' })
    expect(r.config.sinks).toEqual([expect.objectContaining({ type: 'influx-v2', url: 'http://127.0.0.1:8181', org: 'o', bucket: 'b', token: 't' })])
  })

  it('takes ${VAR} and ${VAR:-default} from the environment and names a missing one', () => {
    const ok = parseConfig({ sinks: [{ type: 'influx-v2', url: '${URL:-http://127.0.0.1:8181}', org: 'o', bucket: 'b', token: '${TOKEN}' }] }, {}, { TOKEN: 'abc' })
    expect(ok.ok && ok.config.sinks[0]).toMatchObject({ url: 'http://127.0.0.1:8181', token: 'abc' })
    const bad = parseConfig({ sinks: [{ type: 'influx-v2', url: 'http://x', org: 'o', bucket: 'b', token: '${TOKEN}' }] }, {}, {})
    expect(bad.ok).toBe(false)
    if (!bad.ok) expect(bad.problems[0]).toBe('sinks[0].token: environment variable TOKEN is not set')
  })

  it('overrides do not touch the caller\'s data', () => {
    const raw = { http: { port: 1 } }
    applyOverrides(raw, { httpPort: 2 })
    expect(raw.http.port).toBe(1)
  })
})
