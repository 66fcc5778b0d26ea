/**
 * `GET /api/history` against a real InfluxDB 1.x (Debian's influxd): points the test wrote come back per
 * bucket; water quality keeps HJ 212 statistics (`interval` hour) apart from real-time samples; energy
 * `mode=delta` is the consumption per bucket, not the counter; every parameter is validated (nothing of the
 * client's text reaches the query but names from the data model, a checked id and numbers). The Flux path
 * (InfluxDB 2.x) runs against a local endpoint that checks the request as InfluxDB 2 documents it (there is
 * no 2.x server here).
 */
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import Fastify from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Gateway } from '../../gateway/gateway.ts'
import { newToken } from '../../gateway/http/auth.ts'
import { flux, influxQL, parseHistoryQuery, registerHistory } from '../../gateway/http/history.ts'
import { have, tempDir } from '../helpers/env.ts'
import { gatewayFrom } from '../helpers/gateway.ts'
import { useInflux } from '../helpers/influx.ts'

const reader = newToken()
const tokens = [{ name: 'wall-display', sha256: reader.sha256, scopes: ['read' as const] }]
const DB = 'history_test'
const MIN = 60_000
/** A whole hour, two hours back: the buckets below are exact. */
const T0 = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 2 * 3_600_000

describe('/api/history: parameters are validated before anything is queried', () => {
  const now = T0 + 3_600_000
  const parse = (q: Record<string, string>) => parseHistoryQuery(q, now)
  it('refuses what is not a device id, a data-model measurement or field, a time or a bounded bucket count', () => {
    const base = { device: 'wq-1', measurement: 'water_quality', fields: 'ph' }
    for (const [q, msg] of [
      [{ ...base, device: "wq-1' OR 1=1" }, 'device:'],
      [{ ...base, measurement: 'water_quality; DROP DATABASE x' }, 'measurement:'],
      [{ ...base, fields: 'ph) FROM alarm --' }, 'not a field'],
      [{ ...base, fields: 'gb3838_factor' }, 'is text'],
      [{ ...base, since: 'yesterday' }, 'since:'],
      [{ ...base, since: '1h', until: '2h' }, 'after since'],
      [{ ...base, since: '200d' }, 'at most 90 days'],
      [{ ...base, every: '500ms' }, 'every:'],
      [{ ...base, interval: 'week' }, 'interval:'],
      [{ device: 'em-1', measurement: 'energy_meter', fields: 'import_energy_kwh', interval: 'hour' }, 'no interval tag'],
      [{ ...base, mode: 'sum' }, 'mode:'],
      [{ ...base, q: 'SELECT 1' }, 'unknown parameter'],
      [{ device: 'lift-1', measurement: 'elevator_status', fields: 'door_open' }, 'agg=last'],
    ] as const) {
      const r = parse(q)
      expect(r.ok, JSON.stringify(q)).toBe(false)
      expect(r.ok ? '' : r.message).toContain(msg)
    }
    const many = parse({ ...base, since: '7d', every: '1m' })
    expect(many).toMatchObject({ ok: false, code: 'too_many_buckets' })
  })
  it('builds the query from the checked values only; an automatic every keeps a span under 720 buckets', () => {
    const r = parse({ device: 'wq-1', measurement: 'water_quality', fields: 'ph,dissolved_oxygen_mg_l', since: '6h' })
    if (!r.ok) throw new Error(r.message)
    expect(r.q.everyMs).toBe(30_000)
    expect(influxQL(r.q, { database: 'smartcity' })).toBe(
      `SELECT mean("ph") AS "ph", mean("dissolved_oxygen_mg_l") AS "dissolved_oxygen_mg_l" FROM "water_quality" WHERE "device" = 'wq-1' AND time >= ${r.q.from}ms AND time < ${now}ms AND ("interval" = 'realtime' OR "interval" = '') GROUP BY time(30000ms) fill(none)`,
    )
    expect(r.q.from % 30_000).toBe(0)
  })

  it('mode=count: ETC passages per bucket per result (every field counted: no field is in every passage); other measurements, fields or agg are refused', () => {
    const r = parse({ device: 'rsu-g65-k12', measurement: 'etc_transaction', mode: 'count', since: '1h', every: '1m' })
    if (!r.ok) throw new Error(r.message)
    expect(influxQL(r.q, { database: 'smartcity' })).toBe(
      `SELECT count(*) FROM "etc_transaction" WHERE "device" = 'rsu-g65-k12' AND time >= ${r.q.from}ms AND time < ${now}ms GROUP BY time(60000ms), "result" fill(none)`,
    )
    expect(flux(r.q, 'b')).toContain('|> group(columns: ["result"])\n  |> unique(column: "_time")')
    expect(flux(r.q, 'b')).toContain('fn: count')
    expect(parse({ device: 'wq-1', measurement: 'water_quality', mode: 'count' })).toMatchObject({ ok: false, code: 'bad_request', message: expect.stringContaining('etc_transaction') })
    expect(parse({ device: 'g', measurement: 'etc_transaction', mode: 'count', fields: 'fee_fen' })).toMatchObject({ ok: false, code: 'bad_request', message: expect.stringContaining('leave fields') })
    expect(parse({ device: 'g', measurement: 'etc_transaction', mode: 'count', agg: 'max' })).toMatchObject({ ok: false, code: 'bad_request' })
    expect(parse({ device: 'g', measurement: 'etc_transaction', mode: 'sum' })).toMatchObject({ ok: false, message: expect.stringContaining('mean, delta or count') })
  })
})

describe.skipIf(!have('influxd'))('/api/history on a real InfluxDB 1.x', () => {
  const influx = useInflux()
  const tmp = tempDir()
  let gw: Gateway
  let base: string
  const get = async (q: Record<string, string>, token: string | null = reader.token) => {
    const res = await fetch(`${base}/api/history?${new URLSearchParams(q)}`, { headers: token ? { authorization: `Bearer ${token}` } : {} })
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & { series: Record<string, [number, number][]> } }
  }
  beforeAll(async () => {
    const write = async (lines: string[]) => {
      const res = await fetch(`${influx.url}/write?db=${DB}&precision=ms`, { method: 'POST', body: lines.join('\n') })
      if (res.status !== 204) throw new Error(`write: ${res.status} ${await res.text()}`)
    }
    await fetch(`${influx.url}/query`, { method: 'POST', body: new URLSearchParams({ q: `CREATE DATABASE ${DB}` }) })
    const lines: string[] = []
    for (let i = 0; i < 60; i++) {
      // Real-time samples (HJ 212 realtime) and plain MQTT samples alternate: 7.0 + i/100.
      const tag = i % 2 === 0 ? ',interval=realtime' : ''
      lines.push(`water_quality,device=wq-1,kind=water_quality,district=d${tag} ph=${(7 + i / 100).toFixed(2)} ${T0 + i * MIN}`)
      // A meter whose counter grows by i/10 kWh each minute; replaced at minute 40 (counter back to 0).
      const kwh = i < 40 ? 1000 + (i * (i + 1)) / 20 : (i - 40) * 0.5
      lines.push(`energy_meter,device=em-1,kind=energy_meter,district=d import_energy_kwh=${kwh} ${T0 + i * MIN}`)
    }
    // An hourly HJ 212 statistic of the same station at the same time as a sample: not mixed in.
    lines.push(`water_quality,device=wq-1,kind=water_quality,district=d,interval=hour ph=9.99 ${T0}`)
    lines.push(`water_quality,device=wq-2,kind=water_quality,district=d ph=1 ${T0}`)
    // ETC passages at gantry etc-1: minute 0 has 10 within one second (7 ok, 2 insufficient_balance, 1
    // no_card, each its own millisecond as the lane writes them, with obu_id), minute 3 has 2 ok and a timeout
    // sent as JSON telemetry without an obu_id (plate and fee only, as test/dashboard/district.ts sends them);
    // another gantry's passage is not counted.
    const etc = (device: string, result: string, t: number, i: number) => `etc_transaction,device=${device},kind=etc,district=d,lane=L1,result=${result} obu_id="A0B1C2${String(i).padStart(2, '0')}",transaction_ms=120i ${t}`
    const json = (result: string, t: number, i: number) => `etc_transaction,device=etc-1,kind=etc,district=d,lane=L1,result=${result} plate="陕A1234${i}",fee_fen=${1200 + i}i ${t}`
    const burst = ['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'insufficient_balance', 'insufficient_balance', 'no_card']
    for (const [i, r] of burst.entries()) lines.push(etc('etc-1', r, T0 + 20_000 + i * 90, i))
    lines.push(json('ok', T0 + 3 * MIN + 1_000, 1), json('ok', T0 + 3 * MIN + 1_001, 2), json('timeout', T0 + 3 * MIN + 59_000, 3))
    lines.push(etc('etc-2', 'ok', T0 + 20_000, 30))
    await write(lines)
    gw = gatewayFrom({ dataDir: join(tmp.dir, 'gw'), http: { port: 0, tokens }, sinks: [{ type: 'influx-v1', url: influx.url, database: DB }] }, { mqttPort: 0 })
    await gw.start()
    base = gw.endpoints().http!
  }, 60_000)
  afterAll(async () => {
    await gw?.stop()
    tmp.cleanup()
  })

  it('needs a read token; gives each field per bucket (realtime and untagged samples, not the hourly statistic)', async () => {
    expect((await get({ device: 'wq-1', measurement: 'water_quality', fields: 'ph' }, null)).status).toBe(401)
    const r = await get({ device: 'wq-1', measurement: 'water_quality', fields: 'ph', since: new Date(T0).toISOString(), until: new Date(T0 + 60 * MIN).toISOString(), every: '10m' })
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ device: 'wq-1', measurement: 'water_quality', every: '600s', everyMs: 600_000, interval: 'realtime', mode: 'mean' })
    const ph = r.body.series['ph']!
    expect(ph.map(([t]) => (t - T0) / MIN)).toEqual([0, 10, 20, 30, 40, 50])
    // Minutes 0..9: mean of 7.00..7.09 = 7.045 (the hourly 9.99 at minute 0 is not in it).
    expect(ph[0]![1]).toBeCloseTo(7.045, 6)
    expect(ph[5]![1]).toBeCloseTo(7.545, 6)
    const hour = await get({ device: 'wq-1', measurement: 'water_quality', fields: 'ph', since: new Date(T0).toISOString(), until: new Date(T0 + 60 * MIN).toISOString(), every: '1h', interval: 'hour' })
    expect(hour.body.series['ph']).toEqual([[T0, 9.99]])
  })

  it('mode=delta: energy consumed per bucket from the counter, never negative when the meter was replaced', async () => {
    const r = await get({ device: 'em-1', measurement: 'energy_meter', fields: 'import_energy_kwh', since: new Date(T0 + 10 * MIN).toISOString(), until: new Date(T0 + 60 * MIN).toISOString(), every: '10m', mode: 'delta' })
    expect(r.status).toBe(200)
    const d = r.body.series['import_energy_kwh']!
    // Last counter of each 10-minute bucket: minute 9 -> 1004.5, 19 -> 1019, 29 -> 1043.5, 39 -> 1078; then
    // the new meter: 49 -> 4.5, 59 -> 9.5. Differences: 14.5, 24.5, 34.5, (reset: none), 5.
    expect(d.map(([t, v]) => [(t - T0) / MIN, Math.round(v * 1000) / 1000])).toEqual([
      [10, 14.5],
      [20, 24.5],
      [30, 34.5],
      [50, 5],
    ])
  })

  it('mode=count: passages per minute per result from the real InfluxDB, the ten of one second all counted', async () => {
    const r = await get({ device: 'etc-1', measurement: 'etc_transaction', mode: 'count', since: new Date(T0).toISOString(), until: new Date(T0 + 60 * MIN).toISOString(), every: '1m' })
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ device: 'etc-1', measurement: 'etc_transaction', mode: 'count', by: 'result', everyMs: MIN })
    expect(r.body.series).toEqual({
      ok: [
        [T0, 7],
        [T0 + 3 * MIN, 2],
      ],
      insufficient_balance: [[T0, 2]],
      no_card: [[T0, 1]],
      timeout: [[T0 + 3 * MIN, 1]],
    })
    expect((await get({ device: 'nobody', measurement: 'etc_transaction', mode: 'count', since: '1h' })).body.series).toEqual({})
    const bad = await get({ device: 'etc-1', measurement: 'etc_transaction', mode: 'count', fields: 'plate' })
    expect(bad).toMatchObject({ status: 400, body: { error: { code: 'bad_request', message: expect.stringContaining('mode: count') } } })
    const notEtc = await get({ device: 'em-1', measurement: 'energy_meter', mode: 'count' })
    expect(notEtc).toMatchObject({ status: 400, body: { error: { code: 'bad_request' } } })
  })

  it('/api/ui/config says history is there', async () => {
    const cfg = (await (await fetch(`${base}/api/ui/config`, { headers: { authorization: `Bearer ${reader.token}` } })).json()) as Record<string, unknown>
    expect(cfg['history']).toBe(true)
  })

  it('an unknown device has empty series; bad parameters are 400 with {error: {code, message}}', async () => {
    expect((await get({ device: 'nobody', measurement: 'water_quality', fields: 'ph' })).body.series).toEqual({ ph: [] })
    const bad = await get({ device: "x' OR '1'='1", measurement: 'water_quality', fields: 'ph' })
    expect(bad).toMatchObject({ status: 400, body: { error: { code: 'bad_request', message: expect.stringContaining('device') } } })
  })
})

describe('/api/history without an InfluxDB sink, and on InfluxDB 2.x (Flux) against a local endpoint checking the request as InfluxDB 2 documents it', () => {
  const requests: { url: string; headers: IncomingMessage['headers']; body: string }[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      requests.push({ url: req.url ?? '', headers: req.headers, body })
      // https://docs.influxdata.com/influxdb/v2/api/#operation/PostQuery: POST /api/v2/query?org=,
      // Authorization: Token, Content-Type application/vnd.flux, Accept application/csv -> annotated CSV.
      const okReq = req.method === 'POST' && req.url === '/api/v2/query?org=city' && req.headers['authorization'] === 'Token s3cret-token' && req.headers['content-type'] === 'application/vnd.flux'
      if (!okReq) {
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'invalid', message: 'bad request' }))
        return
      }
      res.writeHead(200, { 'content-type': 'text/csv; charset=utf-8' })
      res.end(
        [
          '#datatype,string,long,dateTime:RFC3339,string,double',
          '#group,false,false,false,true,false',
          '#default,_result,,,,',
          ',result,table,_time,_field,_value',
          `,,0,${new Date(T0).toISOString()},ph,7.1`,
          `,,0,${new Date(T0 + 10 * MIN).toISOString()},ph,7.2`,
          '',
          '#datatype,string,long,dateTime:RFC3339,string,double',
          '#group,false,false,false,true,false',
          '#default,_result,,,,',
          ',result,table,_time,_field,_value',
          `,,1,${new Date(T0).toISOString()},dissolved_oxygen_mg_l,8.5`,
          '',
        ].join('\r\n'),
      )
    })
  })
  beforeAll(() => new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r())))
  afterAll(() => new Promise<void>((r) => server.close(() => r())))

  it('503 NO_HISTORY without a sink', async () => {
    const app = Fastify()
    registerHistory(app, { sinks: [], now: () => T0 + 3_600_000 })
    const r = await app.inject('/api/history?device=wq-1&measurement=water_quality&fields=ph')
    expect(r.statusCode).toBe(503)
    expect(r.json()).toMatchObject({ error: { code: 'NO_HISTORY' } })
    await app.close()
  })

  it('sends Flux with the token and reads the annotated CSV into series', async () => {
    const port = (server.address() as AddressInfo).port
    const app = Fastify()
    registerHistory(app, { sinks: [{ type: 'influx-v2', id: 'v2', url: `http://127.0.0.1:${port}`, org: 'city', bucket: 'smartcity', token: 's3cret-token', batchSize: 5000, flushIntervalMs: 1000, concurrency: 2, timeoutMs: 10_000, minBackoffMs: 250, maxBackoffMs: 30_000 }], now: () => T0 + 3_600_000 })
    const r = await app.inject(`/api/history?device=wq-1&measurement=water_quality&fields=ph,dissolved_oxygen_mg_l&since=${new Date(T0).toISOString()}&every=10m`)
    expect(r.statusCode).toBe(200)
    expect(r.json().series).toEqual({
      ph: [
        [T0, 7.1],
        [T0 + 10 * MIN, 7.2],
      ],
      dissolved_oxygen_mg_l: [[T0, 8.5]],
    })
    const sent = requests.at(-1)!
    expect(sent.headers['accept']).toBe('application/csv')
    expect(sent.body).toContain('from(bucket: "smartcity")')
    expect(sent.body).toContain('r._measurement == "water_quality" and r.device == "wq-1"')
    expect(sent.body).toContain('not exists r.interval or r.interval == "realtime"')
    expect(sent.body).toContain('aggregateWindow(every: 600000ms, fn: mean')
    const p = parseHistoryQuery({ device: 'em-1', measurement: 'energy_meter', fields: 'import_energy_kwh', mode: 'delta', every: '1h', since: '1d' }, T0)
    if (!p.ok) throw new Error(p.message)
    expect(flux(p.q, 'b')).toContain('difference(nonNegative: true)')
    await app.close()
  })
})
