/**
 * `GET /api/history` (read): one device's fields over time from the InfluxDB the gateway writes to, for the
 * page's trend charts (docs/dashboard-api.md). The client sends parameters, never query text: the device id
 * is checked against the inventory's id pattern, the measurement and fields against the data model's table
 * (devices/common/measurements.ts), times and durations are parsed to numbers, and the InfluxQL is built
 * from those values only (identifiers from the table, the id inside single quotes it cannot contain, times
 * as integers).
 *
 *   ?device=wq-0001&measurement=water_quality&fields=ph,dissolved_oxygen_mg_l
 *   &since=6h|ISO &until=ISO &every=1m &interval=realtime &mode=mean|delta &agg=mean|min|max|last
 *
 * Queried on the first `influx-v1` sink (InfluxQL on `/query`) or, without one, the first `influx-v2` sink
 * (Flux on `/api/v2/query`). `mode=delta` gives what a counter (`import_energy_kwh`) grew by in each bucket:
 * `non_negative_difference(last(...))`, so a meter that was replaced (its counter restarting) is not a
 * negative consumption. `mode=count` (etc_transaction only) gives the passages per bucket per `result` tag
 * (see `COUNTED` for what is counted).
 */
import type { FastifyInstance, FastifyReply } from 'fastify'
import { type FieldType, MEASUREMENTS, type MeasurementSpec } from '../../devices/common/measurements.ts'
import { parseDurationMs, parseWhen } from '../core/when.ts'
import type { InfluxV1SinkConfig, InfluxV2SinkConfig, SinkConfig } from '../sinks/config.ts'
import { sendError } from './ui.ts'

/** At most this many buckets per answer (a 1920-pixel chart has no use for more). */
export const MAX_BUCKETS = 2_000
/** The longest span one request may ask for. */
export const MAX_SPAN_MS = 90 * 86_400_000
export const MAX_FIELDS = 16
const DEVICE_ID = /^[A-Za-z0-9_.:-]{1,64}$/
const INTERVALS = ['realtime', 'minute', 'hour', 'day'] as const
const AGGS = ['mean', 'min', 'max', 'last'] as const
type Agg = (typeof AGGS)[number]
/** Steps the automatic `every` chooses from: the smallest with at most `AUTO_BUCKETS` buckets. */
const NICE_STEPS = ['1s', '5s', '10s', '30s', '1m', '5m', '10m', '15m', '30m', '1h', '3h', '6h', '12h', '1d', '7d'].map((s) => parseDurationMs(s)!)
const AUTO_BUCKETS = 720

export interface HistoryQuery {
  device: string
  measurement: string
  fields: string[]
  from: number
  to: number
  everyMs: number
  /** `interval` tag (water_quality): one value, or realtime-and-untagged when `realtime`/absent. */
  interval?: (typeof INTERVALS)[number]
  mode: 'mean' | 'delta' | 'count'
  agg: Agg
}

/**
 * What `mode=count` counts per measurement, and the tag it splits by. No field is in every etc_transaction
 * point: the RSU lane always writes `obu_id` and `transaction_ms` (gateway/sources/etc-rsu/lane.ts `finish`),
 * but JSON telemetry (devices/etc/schema.ts) may leave any field out (a passage without an OBU has no
 * `obu_id`). So InfluxDB counts every field (`count(*)`) and a bucket's passages are the largest of those
 * counts: exact whenever one field is in every passage of the bucket (always for a lane's, and for a source
 * that sends the same fields each time), never more than the passages.
 */
export const COUNTED: Record<string, { by: string }> = {
  etc_transaction: { by: 'result' },
}

export type Parsed = { ok: true; q: HistoryQuery } | { ok: false; code: string; message: string }

/** Validate the query string into numbers and names from the data model; nothing else reaches InfluxDB. */
export function parseHistoryQuery(raw: Record<string, unknown>, now: number): Parsed {
  const bad = (message: string): Parsed => ({ ok: false, code: 'bad_request', message })
  const str = (k: string): string | undefined => {
    const v = raw[k]
    return typeof v === 'string' && v !== '' ? v : undefined
  }
  for (const k of Object.keys(raw)) if (!['device', 'measurement', 'fields', 'since', 'until', 'every', 'interval', 'mode', 'agg'].includes(k)) return bad(`${k}: unknown parameter`)
  for (const [k, v] of Object.entries(raw)) if (typeof v !== 'string') return bad(`${k}: give it once`)
  const device = str('device')
  if (!device || !DEVICE_ID.test(device)) return bad('device: a device id (letters, digits, _ . : -, at most 64)')
  const measurement = str('measurement')
  const spec = measurement === undefined ? undefined : (MEASUREMENTS as Record<string, MeasurementSpec>)[measurement]
  if (!measurement || !spec) return bad(`measurement: one of ${Object.keys(MEASUREMENTS).join(', ')}`)
  const mode = str('mode') ?? 'mean'
  if (mode !== 'mean' && mode !== 'delta' && mode !== 'count') return bad('mode: mean, delta or count')
  const counted = COUNTED[measurement]
  if (mode === 'count') {
    if (!counted) return bad(`mode: count is for ${Object.keys(COUNTED).join(', ')} (passages per bucket)`)
    if (str('fields') !== undefined || str('agg') !== undefined) return bad(`mode: count counts ${measurement} points by ${counted.by} (leave fields and agg out)`)
  }
  const agg = (str('agg') ?? (mode === 'delta' ? 'last' : 'mean')) as Agg
  if (!AGGS.includes(agg)) return bad(`agg: one of ${AGGS.join(', ')}`)
  if (mode === 'delta' && str('agg') !== undefined && agg !== 'last') return bad('agg: mode=delta takes the last value of each bucket (leave agg out)')
  const numeric = (t: FieldType) => t === 'float' || t === 'int'
  const fieldsRaw = str('fields')
  // mode=count reads no field by name (COUNTED).
  const fields = mode === 'count' ? [] : fieldsRaw ? fieldsRaw.split(',') : Object.keys(spec.fields).filter((f) => numeric(spec.fields[f]!))
  if (mode !== 'count' && (fields.length === 0 || fields.length > MAX_FIELDS || new Set(fields).size !== fields.length)) return bad(`fields: 1 to ${MAX_FIELDS} different fields, comma-separated`)
  for (const f of fields) {
    const t = spec.fields[f]
    if (t === undefined) return bad(`fields: ${f} is not a field of ${measurement} (docs/data-model.md)`)
    if (t === 'string') return bad(`fields: ${f} is text; history charts numbers`)
    if (t === 'bool' && agg !== 'last') return bad(`fields: ${f} is a boolean: use agg=last`)
  }
  const since = str('since') ?? '6h'
  const from = parseWhen(since, now)
  if (from === undefined) return bad('since: a duration ago (30m, 6h, 7d) or an ISO time')
  const untilRaw = str('until')
  const to = untilRaw === undefined ? now : parseWhen(untilRaw, now)
  if (to === undefined) return bad('until: an ISO time or a duration ago')
  if (to <= from) return bad('until must be after since')
  if (to - from > MAX_SPAN_MS) return bad(`since..until: at most ${MAX_SPAN_MS / 86_400_000} days`)
  const everyRaw = str('every')
  let everyMs: number
  if (everyRaw === undefined) {
    everyMs = NICE_STEPS.find((s) => (to - from) / s <= AUTO_BUCKETS) ?? NICE_STEPS[NICE_STEPS.length - 1]!
  } else {
    const e = parseDurationMs(everyRaw)
    if (e === undefined || e < 1_000) return bad('every: a duration of at least 1s (10s, 1m, 1h)')
    everyMs = e
  }
  const buckets = Math.ceil((to - from) / everyMs)
  if (buckets > MAX_BUCKETS) return { ok: false, code: 'too_many_buckets', message: `${buckets} buckets of ${everyRaw}: at most ${MAX_BUCKETS}; a longer every or a shorter span` }
  const interval = str('interval')
  if (interval !== undefined) {
    if (!spec.tags.includes('interval')) return bad(`interval: ${measurement} has no interval tag`)
    if (!(INTERVALS as readonly string[]).includes(interval)) return bad(`interval: one of ${INTERVALS.join(', ')}`)
  }
  // Buckets start at multiples of `every` since the epoch (InfluxQL GROUP BY time, Flux aggregateWindow):
  // the first one is the one `since` falls in.
  const q: HistoryQuery = { device, measurement, fields, from: Math.floor(from / everyMs) * everyMs, to, everyMs, mode, agg }
  if (interval !== undefined) q.interval = interval as HistoryQuery['interval']
  else if (spec.tags.includes('interval')) q.interval = 'realtime'
  return { ok: true, q }
}

const ident = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`

/**
 * The InfluxQL of a validated query. `interval=realtime` also takes points without the tag (plain samples
 * from MQTT stations and sondes: InfluxQL compares a missing tag as ''). For `delta` the first bucket
 * before `from` is read too, so the first bucket in range has a difference.
 */
export function influxQL(q: HistoryQuery, db: { retentionPolicy?: string | undefined; database: string }): string {
  if (q.mode === 'count') {
    const c = COUNTED[q.measurement]!
    const table = db.retentionPolicy ? `${ident(db.database)}.${ident(db.retentionPolicy)}.${ident(q.measurement)}` : ident(q.measurement)
    return `SELECT count(*) FROM ${table} WHERE "device" = '${q.device}' AND time >= ${Math.floor(q.from)}ms AND time < ${Math.ceil(q.to)}ms GROUP BY time(${q.everyMs}ms), ${ident(c.by)} fill(none)`
  }
  const fn = q.mode === 'delta' ? (f: string) => `non_negative_difference(last(${ident(f)})) AS ${ident(f)}` : (f: string) => `${q.agg}(${ident(f)}) AS ${ident(f)}`
  const from = q.mode === 'delta' ? q.from - q.everyMs : q.from
  const table = db.retentionPolicy ? `${ident(db.database)}.${ident(db.retentionPolicy)}.${ident(q.measurement)}` : ident(q.measurement)
  const where = [`"device" = '${q.device}'`, `time >= ${Math.floor(from)}ms`, `time < ${Math.ceil(q.to)}ms`]
  if (q.interval === 'realtime') where.push(`("interval" = 'realtime' OR "interval" = '')`)
  else if (q.interval !== undefined) where.push(`"interval" = '${q.interval}'`)
  return `SELECT ${q.fields.map(fn).join(', ')} FROM ${table} WHERE ${where.join(' AND ')} GROUP BY time(${q.everyMs}ms) fill(none)`
}

/** The Flux of a validated query (InfluxDB 2.x/3.x), one table per field, `_time` at each bucket's start. */
export function flux(q: HistoryQuery, bucket: string): string {
  if (q.mode === 'count') {
    const c = COUNTED[q.measurement]!
    // A point is one row per field: each row becomes a 1 (fields of different types cannot share a table),
    // one row per point time is kept per tag value, those are counted per window, and `_field` is the tag
    // value so the CSV reads like the other modes.
    return `from(bucket: ${JSON.stringify(bucket)})
  |> range(start: ${new Date(q.from).toISOString()}, stop: ${new Date(q.to).toISOString()})
  |> filter(fn: (r) => r._measurement == ${JSON.stringify(q.measurement)} and r.device == ${JSON.stringify(q.device)})
  |> map(fn: (r) => ({_time: r._time, ${c.by}: r.${c.by}, _value: 1}))
  |> group(columns: [${JSON.stringify(c.by)}])
  |> unique(column: "_time")
  |> aggregateWindow(every: ${q.everyMs}ms, fn: count, createEmpty: false, timeSrc: "_start")
  |> map(fn: (r) => ({_time: r._time, _field: r.${c.by}, _value: r._value}))`
  }
  const from = q.mode === 'delta' ? q.from - q.everyMs : q.from
  const iso = (ms: number) => new Date(ms).toISOString()
  const fields = q.fields.map((f) => `r._field == ${JSON.stringify(f)}`).join(' or ')
  const interval = q.interval === 'realtime' ? `\n  |> filter(fn: (r) => not exists r.interval or r.interval == "realtime")` : q.interval ? `\n  |> filter(fn: (r) => r.interval == ${JSON.stringify(q.interval)})` : ''
  const agg = q.mode === 'delta' ? 'last' : q.agg
  const tail = q.mode === 'delta' ? '\n  |> difference(nonNegative: true)' : ''
  return `from(bucket: ${JSON.stringify(bucket)})
  |> range(start: ${iso(from)}, stop: ${iso(q.to)})
  |> filter(fn: (r) => r._measurement == ${JSON.stringify(q.measurement)} and r.device == ${JSON.stringify(q.device)})
  |> filter(fn: (r) => ${fields})${interval}
  |> group(columns: ["_field"])
  |> aggregateWindow(every: ${q.everyMs}ms, fn: ${agg}, createEmpty: false, timeSrc: "_start")${tail}
  |> keep(columns: ["_time", "_field", "_value"])`
}

type Series = Record<string, [number, number | boolean][]>

export class HistoryError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

async function queryV1(sink: InfluxV1SinkConfig, q: HistoryQuery, timeoutMs: number): Promise<Series> {
  const headers: Record<string, string> = {}
  if (sink.username) headers['authorization'] = `Basic ${Buffer.from(`${sink.username}:${sink.password ?? ''}`).toString('base64')}`
  const url = `${sink.url.replace(/\/$/, '')}/query?db=${encodeURIComponent(sink.database)}&epoch=ms&q=${encodeURIComponent(influxQL(q, sink))}`
  const res = await fetchOr502(url, { headers, signal: AbortSignal.timeout(timeoutMs) })
  const text = await res.text()
  let body: { error?: string; results?: { error?: string; series?: { columns: string[]; tags?: Record<string, string>; values: (number | boolean | null)[][] }[] }[] }
  try {
    body = JSON.parse(text)
  } catch {
    throw new HistoryError('HISTORY_UNAVAILABLE', `InfluxDB answered ${res.status} without JSON`)
  }
  const err = body.error ?? body.results?.[0]?.error
  if (!res.ok || err) {
    // A database that does not exist yet (nothing written) has no history rather than an error.
    if (err && /database not found/.test(err)) return q.mode === 'count' ? {} : Object.fromEntries(q.fields.map((f) => [f, []]))
    throw new HistoryError('HISTORY_UNAVAILABLE', `InfluxDB answered ${res.status}: ${err ?? text.slice(0, 200)}`)
  }
  if (q.mode === 'count') {
    // One series per tag value (GROUP BY "result"): `{ok: [[ms, n], ...], timeout: [...]}`.
    const by = COUNTED[q.measurement]!.by
    const counts: Series = {}
    for (const s of body.results?.[0]?.series ?? []) {
      const at = s.columns.indexOf('time')
      const key = s.tags?.[by] ?? ''
      const rows = counts[key] ?? []
      counts[key] = rows
      for (const row of s.values) {
        const t = row[at]
        // count(*): a count per field (`count_obu_id`, ...); the passages are the largest (COUNTED).
        let v = 0
        for (const [j, x] of row.entries()) if (j !== at && typeof x === 'number' && x > v) v = x
        if (typeof t === 'number' && v > 0 && t >= q.from) rows.push([t, v])
      }
    }
    return counts
  }
  const out: Series = Object.fromEntries(q.fields.map((f) => [f, []]))
  const s = body.results?.[0]?.series?.[0]
  if (!s) return out
  const at = s.columns.indexOf('time')
  for (const f of q.fields) {
    const i = s.columns.indexOf(f)
    if (i < 0) continue
    for (const row of s.values) {
      const t = row[at]
      const v = row[i]
      if (typeof t !== 'number' || v === null || v === undefined || t < q.from) continue
      out[f]!.push([t, v])
    }
  }
  return out
}

async function fetchOr502(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init)
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } }
    throw new HistoryError('HISTORY_UNAVAILABLE', `InfluxDB not reachable: ${e.name === 'TimeoutError' ? 'timed out' : (e.cause?.code ?? e.message)}`)
  }
}

/** Annotated CSV of `/api/v2/query` (InfluxDB docs, "Annotated CSV"): `_time`, `_field`, `_value` columns. */
async function queryV2(sink: InfluxV2SinkConfig, q: HistoryQuery, timeoutMs: number): Promise<Series> {
  const url = `${sink.url.replace(/\/$/, '')}/api/v2/query?org=${encodeURIComponent(sink.org)}`
  const res = await fetchOr502(url, {
    method: 'POST',
    headers: { authorization: `Token ${sink.token}`, 'content-type': 'application/vnd.flux', accept: 'application/csv' },
    body: flux(q, sink.bucket),
    signal: AbortSignal.timeout(timeoutMs),
  })
  const text = await res.text()
  if (!res.ok) {
    let msg = text.slice(0, 200)
    try {
      msg = (JSON.parse(text) as { message?: string }).message ?? msg
    } catch {}
    throw new HistoryError('HISTORY_UNAVAILABLE', `InfluxDB answered ${res.status}: ${msg}`)
  }
  const out: Series = q.mode === 'count' ? {} : Object.fromEntries(q.fields.map((f) => [f, []]))
  let cols: string[] | undefined
  for (const line of text.split(/\r?\n/)) {
    if (line === '') {
      cols = undefined
      continue
    }
    if (line.startsWith('#')) continue
    const cells = line.split(',')
    if (!cols) {
      cols = cells
      continue
    }
    const t = Date.parse(cells[cols.indexOf('_time')] ?? '')
    const f = cells[cols.indexOf('_field')] ?? ''
    const raw = cells[cols.indexOf('_value')] ?? ''
    const v = raw === 'true' ? true : raw === 'false' ? false : Number(raw)
    if (q.mode === 'count' && !out[f] && f !== '') out[f] = []
    if (!out[f] || Number.isNaN(t) || t < q.from || raw === '' || (typeof v === 'number' && Number.isNaN(v))) continue
    out[f].push([t, v])
  }
  return out
}

export interface HistoryDeps {
  sinks: readonly SinkConfig[]
  now(): number
  /** Per query (default 10 s). */
  timeoutMs?: number
}

/** The sink history is read from: the first influx-v1, else the first influx-v2, else none. */
export function historySink(sinks: readonly SinkConfig[]): InfluxV1SinkConfig | InfluxV2SinkConfig | undefined {
  return sinks.find((s): s is InfluxV1SinkConfig => s.type === 'influx-v1') ?? sinks.find((s): s is InfluxV2SinkConfig => s.type === 'influx-v2')
}

export function registerHistory(app: FastifyInstance, deps: HistoryDeps): void {
  const sink = historySink(deps.sinks)
  const v1 = sink?.type === 'influx-v1' ? sink : undefined
  const v2 = sink?.type === 'influx-v2' ? sink : undefined
  app.get('/api/history', async (req, reply: FastifyReply) => {
    const p = parseHistoryQuery((req.query ?? {}) as Record<string, unknown>, deps.now())
    if (!p.ok) return sendError(reply, 400, p.code, p.message)
    if (!v1 && !v2) return sendError(reply, 503, 'NO_HISTORY', 'no InfluxDB sink is configured: history lives in InfluxDB')
    const q = p.q
    try {
      const series = v1 ? await queryV1(v1, q, deps.timeoutMs ?? 10_000) : await queryV2(v2!, q, deps.timeoutMs ?? 10_000)
      return {
        device: q.device,
        measurement: q.measurement,
        every: `${q.everyMs / 1000}s`,
        everyMs: q.everyMs,
        from: q.from,
        to: q.to,
        mode: q.mode,
        ...(q.mode === 'count' ? { by: COUNTED[q.measurement]!.by } : { agg: q.mode === 'delta' ? 'last' : q.agg }),
        ...(q.interval ? { interval: q.interval } : {}),
        series,
      }
    } catch (err) {
      if (err instanceof HistoryError) return sendError(reply, 502, err.code, err.message)
      throw err
    }
  })
}
