import { describe, expect, it } from 'vitest'
import { applyOverrides, nearestKey, parseConfig, parseConfigText } from '../../gateway/config.ts'
import { InfluxV1SinkConfig } from '../../gateway/sinks/config.ts'

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

  it('takes ${VAR} and ${VAR:-default} from the environment and names a missing one with its line', () => {
    const yaml = 'sinks:\n  - type: influx-v2\n    url: ${URL:-http://127.0.0.1:8181}\n    org: o\n    bucket: b\n    token: ${TOKEN}\n'
    const ok = parseConfigText(yaml, 'gw.yaml', {}, { TOKEN: 'abc' })
    expect(ok.ok && ok.config.sinks[0]).toMatchObject({ url: 'http://127.0.0.1:8181', token: 'abc' })
    const bad = parseConfigText(yaml, 'gw.yaml', {}, {})
    expect(bad.ok).toBe(false)
    if (!bad.ok) expect(bad.problems).toEqual(['gw.yaml:6: sinks[0].token: environment variable TOKEN is not set'])
  })

  it('types a substituted unquoted value as YAML would (numbers, booleans); a quoted one stays a string', () => {
    const yaml = 'broker:\n  type: embedded\n  port: ${MQTT_PORT:-1883}\nhttp:\n  enabled: ${HTTP_ON:-true}\n  port: ${HTTP_PORT}\n  dashboard: ${DASH:-true}\ngateway:\n  id: "${ID}"\n'
    const r = parseConfigText(yaml, 'gw.yaml', {}, { HTTP_PORT: '18080', DASH: 'false', ID: '42' })
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.config.broker).toMatchObject({ type: 'embedded', port: 1883 })
    expect(r.config.http).toMatchObject({ enabled: true, port: 18080, dashboard: false })
    expect(r.config.gateway.id).toBe('42')
    // An empty value falls back to the default, as `:-` does in the shell.
    const e = parseConfigText(yaml, 'gw.yaml', {}, { HTTP_PORT: '1', ID: 'x', MQTT_PORT: '' })
    expect(e.ok && e.config.broker).toMatchObject({ port: 1883 })
    const q = parseConfigText('http:\n  port: "${HTTP_PORT}"\n', 'gw.yaml', {}, { HTTP_PORT: '18080' })
    expect(q.ok).toBe(false)
    if (!q.ok) expect(q.problems[0]).toMatch(/^gw\.yaml:2: http\.port: .*expected number, received string/)
  })

  it('a substituted value of digits is still taken where the schema wants a string (a password)', () => {
    const yaml = 'broker:\n  type: embedded\n  users:\n    gw: ${MQTT_PW}\nsinks:\n  - type: influx-v1\n    username: gateway\n    password: ${INFLUX_PW}\n'
    const r = parseConfigText(yaml, 'gw.yaml', {}, { MQTT_PW: '123456', INFLUX_PW: 'true' })
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.config.broker.type === 'embedded' && r.config.broker.users).toEqual({ gw: '123456' })
    expect(r.config.sinks[0]).toMatchObject({ username: 'gateway', password: 'true' })
  })

  it('a substituted value is exactly one scalar: ": ", "#" and newlines in it cannot make keys', () => {
    const evil = 'x\nhttp:\n  port: 1\nsinks: [{type: influx-v1, url: "http://evil"}] # hi'
    const yaml = 'gateway:\n  id: ${ID}\n  district: "${ID}"\n'
    const r = parseConfigText(yaml, 'gw.yaml', {}, { ID: evil })
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.config.gateway.id).toBe(evil)
    expect(r.config.gateway.district).toBe(evil)
    expect(r.config.http.port).toBe(8080)
    expect(r.config.sinks).toEqual([])
    const colon = parseConfigText('dataDir: ${D}\n', 'gw.yaml', {}, { D: 'a: b' })
    expect(colon.ok && colon.config.dataDir).toBe('a: b')
  })

  it('$${ writes a literal ${, and a substituted value is not substituted again', () => {
    const r = parseConfigText('gateway:\n  id: $${ID}\n  district: ${D}\n', 'gw.yaml', {}, { ID: 'no', D: '${ID}' })
    expect(r.ok && r.config.gateway).toMatchObject({ id: '${ID}', district: '${ID}' })
  })

  it('an unquoted ${VAR} inside a flow mapping is a YAML error that says to quote it', () => {
    const r = parseConfigText('gateway: { id: e1 }\nbroker: { type: embedded, port: ${P} }\n', 'gw.yaml', {}, { P: '1' })
    expect(r.ok).toBe(false)
    if (!r.ok) {
      expect(r.problems).toHaveLength(1)
      expect(r.problems[0]).toMatch(/^gw\.yaml:2: .*must be quoted: "\$\{VAR\}"\)$/s)
    }
  })

  it('prefixes each problem with the file and the line of its key', () => {
    const yaml = ['gateway:', '  id: e1', 'broker:', '  type: embedded', '  port: 70000', 'sinks:', '  - type: influx-v1', '    url: http://127.0.0.1:8086', '  - type: influx-v2', '    url: http://127.0.0.1:8181', 'devices:', '  - { id: a, kind: toaster }', ''].join('\n')
    const r = parseConfigText(yaml, 'gateway.yaml')
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.problems).toContain('gateway.yaml:5: broker.port: Too big: expected number to be <=65535')
    // A missing key is reported at the mapping it belongs in.
    expect(r.problems.filter((p) => p.startsWith('gateway.yaml:9: sinks[1].'))).toHaveLength(3)
    expect(r.problems.some((p) => p.startsWith('gateway.yaml:12: devices[0].kind: '))).toBe(true)
  })

  it('suggests the nearest known key for an unknown one, and lists the known keys when none is near', () => {
    const yaml = 'sources:\n  - type: mqtt\n    topcs: [city/#]\n    colour: blue\nhttp:\n  prot: 1\n'
    const r = parseConfigText(yaml, 'gateway.yaml')
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.problems).toContain('gateway.yaml:3: sources[0].topcs: unknown key; did you mean "topics"?')
    expect(r.problems).toContain('gateway.yaml:6: http.prot: unknown key; did you mean "port"?')
    expect(r.problems.find((p) => p.includes('colour'))).toMatch(/^gateway\.yaml:4: sources\[0\]\.colour: unknown key; known keys: type, id, topics/)
    expect(nearestKey('topcs', ['type', 'topics'])).toBe('topics')
    expect(nearestKey('xyz', ['type', 'topics'])).toBeUndefined()
  })

  it('refuses a sink URL without http:// or https:// (localhost:8086 would dial port 80)', () => {
    for (const sink of [{ type: 'influx-v1' }, { type: 'influx-v2', org: 'o', bucket: 'b', token: 't' }]) {
      const r = parseConfig({ sinks: [{ ...sink, url: 'localhost:8086' }] })
      expect(r.ok).toBe(false)
      if (!r.ok) expect(r.problems).toEqual(['sinks[0].url: an http:// or https:// URL (e.g. http://127.0.0.1:8086)'])
    }
    expect(InfluxV1SinkConfig.safeParse({ type: 'influx-v1', url: 'ftp://127.0.0.1:8086' }).success).toBe(false)
    expect(InfluxV1SinkConfig.safeParse({ type: 'influx-v1', url: 'https://influx.example:8086' }).success).toBe(true)
  })

  it('validates --log-level through the schema and names the flag', () => {
    const r = parseConfig({}, { logLevel: 'loud' })
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.problems).toEqual(['--log-level (log.level): not a log level; one of fatal, error, warn, info, debug, trace, silent'])
    const ok = parseConfig({ log: { level: 'info' } }, { logLevel: 'debug' })
    expect(ok.ok && ok.config.log.level).toBe('debug')
  })

  it('names the flag only for the value the flag set', () => {
    const yaml = 'sinks:\n  - type: influx-v1\n    url: localhost:8086\n'
    const flag = parseConfigText(yaml, 'gw.yaml', { influxUrl: '127.0.0.1:8086' })
    expect(!flag.ok && flag.problems).toEqual(['--influx-url (sinks[0].url): an http:// or https:// URL (e.g. http://127.0.0.1:8086)'])
    const file = parseConfigText(yaml, 'gw.yaml', { influxOrg: 'o', influxBucket: 'b', influxToken: 't', influxUrl: 'http://127.0.0.1:8181' })
    expect(!file.ok && file.problems).toEqual(['gw.yaml:3: sinks[0].url: an http:// or https:// URL (e.g. http://127.0.0.1:8086)'])
  })

  it('warns (but accepts) a configuration without sinks', () => {
    const r = parseConfig({})
    expect(r.ok && r.warnings).toEqual(['sinks: none configured; readings would only be kept in the spool (./data)'])
    const s = parseConfig({ sinks: [{ type: 'influx-v1' }] })
    expect(s.ok && s.warnings).toEqual([])
  })

  it('overrides do not touch the caller\'s data', () => {
    const raw = { http: { port: 1 } }
    applyOverrides(raw, { httpPort: 2 })
    expect(raw.http.port).toBe(1)
  })
})
