/**
 * The point-by-point check of `smartcity simulate` against a real InfluxDB: a point stored as sent holds,
 * a missing one and one with another value are named; two readings of one second (one point in InfluxDB)
 * hold when the stored one is either of them.
 */
import { describe, expect, it } from 'vitest'
import { compare, countPoints, createTruth, type ExpectedPoint } from '../../cli/simulate/truth.ts'
import { have } from '../helpers/env.ts'
import { useInflux } from '../helpers/influx.ts'

describe.skipIf(!have('influxd'))('simulate ground truth against InfluxDB', () => {
  const influx = useInflux()

  it('names missing points and points with other values; accepts any reading of a shared second', { timeout: 30_000 }, async () => {
    const db = 'truth'
    await fetch(`${influx.url}/query`, { method: 'POST', body: new URLSearchParams({ q: `CREATE DATABASE ${db}` }) })
    const t = Date.UTC(2026, 11, 1, 10, 0, 0)
    const lines = [
      `water_quality,device=wq-1 ph=7.41,cod_mg_l=14.2 ${t}`,
      `water_quality,device=wq-2 ph=7.5 ${t}`,
      `position,device=139,system=BDS lat=34.2,speed_kmh=31.5 ${t + 1000}`,
    ]
    const w = await fetch(`${influx.url}/write?db=${db}&precision=ms`, { method: 'POST', body: lines.join('\n') })
    expect(w.status).toBe(204)
    const truth = createTruth()
    const p = (device: string, time: number, fields: ExpectedPoint['fields'], measurement = 'water_quality', tags: Record<string, string> = {}): ExpectedPoint => ({ measurement, device, tags, time, fields })
    truth.add(p('wq-1', t, { ph: 7.41, cod_mg_l: 14.2 }))
    truth.add(p('wq-2', t, { ph: 7.4 }))
    truth.add(p('wq-3', t, { ph: 7.0 }))
    // Two locations in one second: InfluxDB keeps one; the first one sent is the one stored here.
    truth.add(p('139', t + 1000, { lat: 34.2, speed_kmh: 31.5 }, 'position', { system: 'BDS' }))
    truth.add(p('139', t + 1000, { lat: 34.3, speed_kmh: 12 }, 'position', { system: 'BDS' }))
    const target = { url: influx.url, database: db }
    const r = await compare(target, truth.points(), t - 1000, truth.candidates)
    expect(r.checked).toBe(4)
    expect(r.differences.map((d) => `${d.point.device}: ${d.what}`).sort()).toEqual(['wq-2: ph sent 7.4 stored 7.5', 'wq-3: missing'])
    // Without the candidates the shared second would be a difference: the check is not blind.
    const strict = await compare(target, truth.points(), t - 1000)
    expect(strict.differences.map((d) => d.point.device)).toContain('139')
    expect(await countPoints(target, 'water_quality', 'wq-1', t - 1000)).toBe(1)
    expect(await countPoints(target, 'water_quality', undefined, t - 1000)).toBe(2)
  })
})
