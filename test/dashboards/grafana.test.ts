import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type FieldType, MEASUREMENTS, type MeasurementSpec } from '../../devices/common/measurements.ts'
import { DASHBOARDS, query, render } from '../../dashboards/grafana/generate.ts'
import { escapeMeasurement, formatFields, formatTags } from '../../gateway/core/line-protocol.ts'
import { have, tempDir } from '../helpers/env.ts'
import { type InfluxServer, startInflux } from '../helpers/influx.ts'

const DIR = join(import.meta.dirname, '..', '..', 'dashboards', 'grafana', 'dashboards')

describe('Grafana dashboards', () => {
  it('are the generator\'s output (regenerate with node --import tsx dashboards/grafana/generate.ts)', () => {
    for (const [file, text] of Object.entries(render())) expect(readFileSync(join(DIR, file), 'utf8'), file).toBe(text)
  })
})

describe.skipIf(!have('influxd'))('Grafana dashboard queries on InfluxDB 1.x', () => {
  const tmp = tempDir()
  let influx: InfluxServer
  const now = Date.now()
  beforeAll(async () => {
    influx = await startInflux(tmp.dir)
    await fetch(`${influx.url}/query?q=${encodeURIComponent('CREATE DATABASE smartcity')}`, { method: 'POST' })
    // One point of every measurement with every field of the data model, typed as the gateway writes it.
    const sample: Record<FieldType, number | string | boolean> = { float: 1.5, int: 3, bool: true, string: 'x' }
    const lines = Object.entries(MEASUREMENTS as Record<string, MeasurementSpec>).map(([m, spec]) => {
      const tags: Record<string, string> = { device: 'dev-1', district: 'd1', kind: 'water_quality', protocol: 'mqtt' }
      for (const t of spec.tags) tags[t] = `${t}-1`
      const fields = Object.fromEntries(Object.entries(spec.fields).map(([f, t]) => [f, sample[t]]))
      return `${escapeMeasurement(m)}${formatTags(tags)} ${formatFields(m, fields)} ${now - 60_000}`
    })
    const r = await fetch(`${influx.url}/write?db=smartcity&precision=ms`, { method: 'POST', body: lines.join('\n') })
    expect(r.status).toBe(204)
  })
  afterAll(async () => {
    await influx?.stop()
    tmp.cleanup()
  })

  const bind = (q: string) => q.replace(/\$timeFilter/g, 'time > now() - 1h').replace(/\$__interval/g, '1m').replace(/\$district/g, 'd1').replace(/\$device/g, 'dev-1')

  for (const d of DASHBOARDS) {
    it(`${d.file}: every panel query and variable runs and finds the sample data`, async () => {
      for (const p of d.panels) {
        for (const f of p.fields) {
          const rows = await influx.query('smartcity', bind(query(p, f)))
          expect(rows.length, `${d.file} ${p.title} ${f}`).toBeGreaterThan(0)
        }
      }
      const dash = JSON.parse(readFileSync(join(DIR, d.file), 'utf8')) as { templating: { list: { name: string; query: string }[] } }
      for (const v of dash.templating.list.filter((x) => x.name !== 'datasource')) {
        const rows = await influx.query('smartcity', bind(v.query))
        expect(rows.length, `${d.file} variable ${v.name}`).toBeGreaterThan(0)
      }
    })
  }
})
