/**
 * The Grafana dashboards (issue 14 item 9): the committed JSON is the generator's output; every query and
 * variable names only measurements, fields and tags of the data model (docs/data-model.md,
 * devices/common/measurements.ts); every InfluxQL query runs on a real InfluxDB 1.x and returns rows, first
 * on a sample of every measurement, then on what the ci-smoke scenario stored through a real gateway.
 */
import { execFile } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse, stringify } from 'yaml'
import { DASHBOARDS, render } from '../../dashboards/grafana/generate.ts'
import { type FieldType, MEASUREMENTS, type MeasurementSpec } from '../../devices/common/measurements.ts'
import { escapeMeasurement, formatFields, formatTags } from '../../gateway/core/line-protocol.ts'
import { have, tempDir } from '../helpers/env.ts'
import { type InfluxServer, startInflux } from '../helpers/influx.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const DIR = join(ROOT, 'dashboards', 'grafana', 'dashboards')
const COMMON_TAGS = ['device', 'kind', 'district', 'site', 'protocol']

interface Dash {
  title: string
  panels: { title: string; type: string; fieldConfig: { defaults: { unit: string } }; targets: { refId: string; query: string; resultFormat: string }[] }[]
  templating: { list: { name: string; type: string; query: string }[] }
}
const dashboards = (): [string, Dash][] => DASHBOARDS.map((d) => [d.file, JSON.parse(readFileSync(join(DIR, d.file), 'utf8')) as Dash])
/** Every InfluxQL text of a dashboard: its panels' targets and its query variables. */
const queries = (d: Dash) => [
  ...d.panels.flatMap((p) => p.targets.map((t) => ({ what: `${p.title} ${t.refId}`, q: t.query }))),
  ...d.templating.list.filter((v) => v.type === 'query').map((v) => ({ what: `variable ${v.name}`, q: v.query })),
]

describe('Grafana dashboards', () => {
  it("are the generator's output (regenerate with node --import tsx dashboards/grafana/generate.ts)", () => {
    for (const [file, text] of Object.entries(render())) expect(readFileSync(join(DIR, file), 'utf8'), file).toBe(text)
  })

  it('name only measurements, fields and tags of the data model in every query and variable', () => {
    let checked = 0
    for (const [file, d] of dashboards()) {
      for (const { what, q } of queries(d)) {
        const from = /FROM "([^"]+)"/.exec(q)?.[1]
        expect(from, `${file} ${what}: ${q}`).toBeDefined()
        const spec = (MEASUREMENTS as Record<string, MeasurementSpec>)[from!]
        expect(spec, `${file} ${what}: ${from} is not a data-model measurement`).toBeDefined()
        const aliases = new Set([...q.matchAll(/AS "([^"]+)"/g)].map((m) => m[1]!))
        const allowed = new Set([from!, ...Object.keys(spec!.fields), ...spec!.tags, ...COMMON_TAGS, ...aliases])
        // Every other double-quoted identifier is a field or a tag; `WITH KEY = "x"` names a tag.
        for (const [, name] of q.matchAll(/"([^"]+)"/g)) expect(allowed.has(name!), `${file} ${what}: "${name}" is not in the data model (${q})`).toBe(true)
        for (const [, name] of q.matchAll(/WITH KEY = "([^"]+)"/g)) expect([...spec!.tags, ...COMMON_TAGS], `${file} ${what}`).toContain(name)
        checked++
      }
    }
    expect(checked).toBeGreaterThan(40)
  })

  it('have the panels issue 14 asks for: interval filter, geomap, state timeline, CNY, energy per interval, alarm table', () => {
    const all = dashboards()
    const by = (file: string) => all.find(([f]) => f === file)![1]
    const water = by('water-quality.json')
    expect(water.templating.list.map((v) => v.name)).toContain('interval')
    for (const { what, q } of queries(water).filter((x) => !x.what.startsWith('variable'))) expect(q, what).toContain('"interval" =~ /$interval/')
    const position = by('position.json')
    const map = position.panels.find((p) => p.type === 'geomap')
    expect(map?.targets[0]?.query).toMatch(/^SELECT last\("lat"\) AS "lat", last\("lon"\) AS "lon"/)
    const gw = by('gateway.json')
    expect(gw.panels.find((p) => p.type === 'state-timeline')?.targets[0]?.query).toContain('FROM "device_status"')
    expect(gw.panels.find((p) => p.type === 'table')?.targets[0]?.query).toMatch(/FROM "alarm" .* GROUP BY "rule", "severity", "device"$/)
    const fees = by('etc.json').panels.find((p) => p.title.includes('CNY'))
    expect(fees?.fieldConfig.defaults.unit).toBe('currency:¥')
    expect(fees?.targets[0]?.query).toContain('sum("fee_fen") / 100 AS "fee_yuan"')
    expect(by('energy-meter.json').panels.find((p) => p.title.startsWith('Energy per interval'))?.targets[0]?.query).toContain('non_negative_difference(last("import_energy_kwh"))')
    const ds = parse(readFileSync(join(ROOT, 'dashboards', 'grafana', 'provisioning', 'datasources', 'smartcity.yaml'), 'utf8')) as { datasources: { uid: string; type: string; jsonData: Record<string, unknown> }[] }
    expect(ds.datasources.map((d) => [d.uid, d.type, d.jsonData['version'] ?? 'InfluxQL'])).toEqual([
      ['smartcity', 'influxdb', 'InfluxQL'],
      ['smartcity-flux', 'influxdb', 'Flux'],
    ])
  })
})

/** Grafana's macros and variables as a panel would send them. */
const bind = (q: string, district: string, device: string, every: string, interval = '^(realtime)?$') =>
  q
    .replace(/\$timeFilter/g, 'time > now() - 1h')
    .replace(/\$__interval/g, every)
    .replace(/\$district/g, district)
    .replace(/\$device/g, device)
    .replace(/\$interval/g, interval)

async function everyQueryReturnsRows(influx: InfluxServer, db: string, district: string, device: string, every: string): Promise<string[]> {
  const empty: string[] = []
  for (const [file, d] of dashboards()) {
    for (const { what, q } of queries(d)) {
      const rows = await influx.query(db, bind(q, district, device, every))
      if (rows.length === 0) empty.push(`${file} ${what}: ${bind(q, district, device, every)}`)
    }
  }
  return empty
}

describe.skipIf(!have('influxd'))('Grafana dashboard queries on InfluxDB 1.x, sample data', () => {
  const tmp = tempDir()
  let influx: InfluxServer
  const now = Date.now()
  beforeAll(async () => {
    influx = await startInflux(tmp.dir)
    await fetch(`${influx.url}/query?q=${encodeURIComponent('CREATE DATABASE smartcity')}`, { method: 'POST' })
    // Two points a minute apart of every measurement with every field of the data model, typed as the
    // gateway writes it (two, so that a counter's rise per interval has something to subtract).
    const sample = (k: number): Record<FieldType, number | string | boolean> => ({ float: 1.5 + k, int: 3 + k, bool: true, string: 'x' })
    const lines = [0, 1].flatMap((k) =>
      Object.entries(MEASUREMENTS as Record<string, MeasurementSpec>).map(([m, spec]) => {
        const tags: Record<string, string> = { device: 'dev-1', district: 'd1', kind: 'water_quality', protocol: 'mqtt' }
        for (const t of spec.tags) tags[t] = t === 'interval' ? 'realtime' : `${t}-1`
        const fields = Object.fromEntries(Object.entries(spec.fields).map(([f, t]) => [f, sample(k)[t]]))
        return `${escapeMeasurement(m)}${formatTags(tags)} ${formatFields(m, fields)} ${now - 120_000 + k * 60_000}`
      }),
    )
    const r = await fetch(`${influx.url}/write?db=smartcity&precision=ms`, { method: 'POST', body: lines.join('\n') })
    expect(r.status).toBe(204)
  })
  afterAll(async () => {
    await influx?.stop()
    tmp.cleanup()
  })

  it('every panel query and variable runs and finds the sample data', async () => {
    expect(await everyQueryReturnsRows(influx, 'smartcity', 'd1', 'dev-1', '1m')).toEqual([])
  })
})

const run = promisify(execFile)

describe.skipIf(!have('influxd', 'socat'))('Grafana dashboard queries on InfluxDB 1.x, filled by the ci-smoke scenario', () => {
  const tmp = tempDir('grafana-ci-smoke-')
  let influx: InfluxServer
  beforeAll(async () => {
    influx = await startInflux(join(tmp.dir))
    await fetch(`${influx.url}/query?q=${encodeURIComponent('CREATE DATABASE smartcity')}`, { method: 'POST' })
  })
  afterAll(async () => {
    await influx?.stop()
    tmp.cleanup()
  })

  it('every InfluxQL query of every dashboard returns rows from what the gateway stored', { timeout: 240_000 }, async () => {
    // ci-smoke's gateway configuration, writing to this InfluxDB, with alarm rules the scenario trips (a
    // meter drawing power; a device offline after 3 s: the gateway's start-up presence) for the alarm panels.
    const cfg = parse(readFileSync(join(ROOT, 'test', 'fixtures', 'simulate', 'gateway.yaml'), 'utf8')) as Record<string, unknown>
    cfg['sinks'] = [{ type: 'influx-v1', url: influx.url, database: 'smartcity', flushIntervalMs: 200 }]
    cfg['alarms'] = { rules: [{ name: 'meter_drawing_power', type: 'threshold', measurement: 'energy_meter', field: 'active_power_kw', above: 0 }] }
    const file = join(tmp.dir, 'gateway.yaml')
    writeFileSync(file, stringify(cfg))
    const out = await run(process.execPath, [join(ROOT, 'bin', 'smartcity.js'), 'simulate', 'simulators/scenarios/ci-smoke.yaml', '--gateway-config', file], { cwd: ROOT, timeout: 220_000 }).then(
      (r) => ({ code: 0, text: r.stdout + r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, text: e.stdout + e.stderr }),
    )
    const dir = /^run directory \(gateway log, dead letters, reports\): (.+)$/m.exec(out.text)?.[1]
    if (dir) rmSync(dir, { recursive: true, force: true })
    expect(out.code, out.text).toBe(0)
    expect(await everyQueryReturnsRows(influx, 'smartcity', 'ci-district', '.*', '5s')).toEqual([])
    // The interval filter: HJ 212 minute statistics only with `minute`, MQTT samples only with `realtime`.
    const ph = DASHBOARDS.find((d) => d.file === 'water-quality.json')!
    const q = (JSON.parse(readFileSync(join(DIR, ph.file), 'utf8')) as Dash).panels.find((p) => p.title === 'pH')!.targets[0]!.query
    const rows = (device: string, interval: string) => influx.query('smartcity', bind(q, 'ci-district', device, '5s', interval))
    expect((await rows('HJ212CI0000000000000001', '^minute$')).length).toBeGreaterThan(0)
    expect(await rows('wq-ci-001', '^minute$')).toEqual([])
    expect((await rows('wq-ci-001', '^(realtime)?$')).length).toBeGreaterThan(0)
    expect((await rows('HJ212CI0000000000000001', '^(realtime)?$')).length).toBeGreaterThan(0)
  })
})
