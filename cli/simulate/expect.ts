/**
 * The expectations of a scenario beyond the stored readings (cli/simulate/run.ts checks those): refusals
 * from the gateway's dead-letter log, alarms and elevator events from its points in InfluxDB, presence
 * sampled from /api/devices during the run, end-to-end latency from its smartcity_reading_age_seconds
 * histogram, CPU share from /proc. Each check gives one Assertion (report.ts).
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { refusalCounts } from '../../gateway/core/deadletter.ts'
import type { Occurrence } from './faults.ts'
import type { Assertion } from './report.ts'
import type { Expect, Fault } from './scenario.ts'
import { type Accounted, type CompareOptions, compare, type Difference, type InfluxTarget, influxQuery, type LossWindow, type Truth } from './truth.ts'

const secs = (ms: number) => `${Math.round(ms / 100) / 10} s`

// ---------------------------------------------------------------------------------------------- refusals

export interface Refusal {
  time?: string
  reason?: string
  device?: string
  source?: string
  detail?: string
  /** Refusals one record stands for (a coalesced record); 1 when absent. */
  count?: number
  /** The refused bytes (hex) or text, as the dead-letter log keeps them. */
  raw_hex?: string
  raw?: string
}

/** The dead-letter records of the gateway written since `since` (epoch ms). */
export function readRefusals(dataDir: string, since: number): Refusal[] {
  const dl = join(dataDir, 'deadletter', 'deadletter.jsonl')
  return (existsSync(dl) ? readFileSync(dl, 'utf8').split('\n') : [])
    .filter(Boolean)
    .map((l) => {
      try {
        return JSON.parse(l) as Refusal & { reasons?: unknown }
      } catch {
        return {}
      }
    })
    .filter((r) => r.time === undefined || Date.parse(r.time) >= since)
    // A record of several reasons (one message's refusals, an overflow record) counts as each of them.
    .flatMap((r) => {
      const counts = refusalCounts(r)
      if (counts.length <= 1 || !('reasons' in r)) return [r]
      const { reasons: _r, ...rest } = r
      return counts.map(([reason, count]) => ({ ...rest, reason, count }))
    })
}

const weight = (r: Refusal) => (typeof r.count === 'number' && r.count > 0 ? r.count : 1)

export function byReason(refusals: readonly Refusal[]): Map<string, number> {
  const m = new Map<string, number>()
  for (const r of refusals) m.set(r.reason ?? '?', (m.get(r.reason ?? '?') ?? 0) + weight(r))
  return m
}

const describeRefusal = (r: Refusal) => `${r.time ?? ''} ${r.source ?? ''} ${r.device ?? ''}: ${r.reason ?? ''}${r.detail ? ` (${r.detail})` : ''}`

/**
 * `no_unexpected_refusals`: every refusal has a reason the scenario allows, and each reason the device
 * faults caused was given exactly as often as the faults caused it (a bad frame the gateway took is a
 * failure too).
 */
export function checkNoUnexpectedRefusals(setting: Expect['no_unexpected_refusals'], refusals: readonly Refusal[], caused: ReadonlyMap<string, number>): Assertion | undefined {
  if (setting === undefined || setting === false) return undefined
  const allow = new Set(typeof setting === 'object' ? setting.allow : [])
  const unexpected = refusals.filter((r) => !allow.has(r.reason ?? '') && !caused.has(r.reason ?? ''))
  const counts = byReason(refusals)
  // A fault's count is an upper bound (a slow answer may or may not arrive late; a bad frame is refused once):
  // more refusals of a caused reason than the faults could cause are unexpected. That they came at all is the
  // `refusals: [{reason, min}]` assertion's to check.
  const wrong = [...caused].filter(([reason, n]) => (counts.get(reason) ?? 0) > n).map(([reason, n]) => `${reason}: the faults caused at most ${n}, the gateway refused ${counts.get(reason) ?? 0}`)
  const total = refusals.reduce((n, r) => n + weight(r), 0)
  const un = byReason(unexpected)
  const ok = unexpected.length === 0 && wrong.length === 0
  const fromFaults = [...caused].map(([k, v]) => `${k} x${v}`).join(', ')
  return {
    name: 'no unexpected refusals',
    ok,
    message: ok
      ? `${total} refusal(s), all allowed${caused.size > 0 ? ` (caused by the faults: ${fromFaults})` : ''}`
      : [unexpected.length > 0 ? `${[...un.values()].reduce((a, b) => a + b, 0)} refused input(s): ${[...un].map(([k, v]) => `${k} x${v}`).join(', ')}` : '', ...wrong].filter(Boolean).join('; '),
    details: [...wrong, ...unexpected.map(describeRefusal)],
  }
}

/** `refusals: [{reason, min, max}]`, at the end or at a step (`label` names the step). */
export function checkRefusalCount(c: Expect['refusals'][number], refusals: readonly Refusal[], label = ''): Assertion {
  const n = byReason(refusals).get(c.reason) ?? 0
  const bad = [c.min !== undefined && n < c.min ? `expected at least ${c.min}` : '', c.max !== undefined && n > c.max ? `expected at most ${c.max}` : ''].filter(Boolean)
  const range = c.min !== undefined && c.max !== undefined ? `${c.min}..${c.max}` : c.min !== undefined ? `at least ${c.min}` : `at most ${c.max}`
  return { name: `refusals ${c.reason} ${range}${label}`, ok: bad.length === 0, message: `${n} refused${bad.length > 0 ? `, ${bad.join(', ')}` : ''}`, details: refusals.filter((r) => r.reason === c.reason).slice(0, 5).map(describeRefusal) }
}

// ------------------------------------------------------------------------------------- alarms and events

export interface Transition {
  time: number
  active: boolean
  device: string
  /** `rule` of an alarm, `event` of an elevator event. */
  name: string
}

const quote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`

/** Starts and clears of `alarm` (by rule) or `elevator_event` (by event) points since `since`. */
export async function transitions(t: InfluxTarget, what: 'alarm' | 'elevator_event', name: string, filter: { device?: string | undefined; kind?: string | undefined }, since: number): Promise<Transition[]> {
  const tag = what === 'alarm' ? 'rule' : 'event'
  const where = [`time >= ${since}ms`, `"${tag}" = ${quote(name)}`, ...(filter.device ? [`"device" = ${quote(filter.device)}`] : []), ...(filter.kind ? [`"kind" = ${quote(filter.kind)}`] : [])]
  const series = await influxQuery(t, `SELECT "active" FROM "${what}" WHERE ${where.join(' AND ')} GROUP BY "device"`)
  const out: Transition[] = []
  for (const s of series) for (const row of s.rows) out.push({ time: Number(row['time']), active: row['active'] === true, device: s.tags['device'] ?? '', name })
  return out.sort((a, b) => a.time - b.time)
}

/** The fault window an alarm or event is checked against: its first occurrence that was applied. */
export function faultWindow(index: number | undefined, occurrences: readonly Occurrence[], runStart: number): { start: number; end: number; label: string } | undefined {
  if (index === undefined) return { start: runStart, end: runStart, label: 'the start of the run' }
  const o = occurrences.find((x) => x.index === index && !x.failed)
  if (!o) return undefined
  return { start: o.start, end: o.end ?? o.start, label: `faults[${index}] (${o.type})` }
}

type WindowExpect = Expect['alarms'][number] | Expect['events'][number]

/**
 * An alarm or event that must start (within `within` of the fault's or run's start) and, unless
 * `clears: false`, clear after it (within `clear_within` of the fault's end). Times in the scenario are
 * scenario time, divided by `speed`.
 */
export function checkTransitions(name: string, e: WindowExpect, found: readonly Transition[], win: ReturnType<typeof faultWindow>, speed: number, faults: readonly Fault[]): Assertion {
  if (!win) return { name, ok: false, message: `faults[${e.fault}] (${faults[e.fault ?? 0]?.type ?? '?'}) was not applied, so there is nothing to check against`, details: [] }
  const within = e.within === undefined ? undefined : e.within / speed
  const clearWithin = e.clear_within === undefined ? undefined : e.clear_within / speed
  const starts = found.filter((x) => x.active && x.time >= win.start - 1000 && (within === undefined || x.time <= win.start + within))
  const rel = (t: number) => `${secs(t - win.start)} after ${win.label}`
  const history = found.slice(0, 6).map((x) => `${x.active ? 'start' : 'clear'} ${x.device} at ${new Date(x.time).toISOString()} (${rel(x.time)})`)
  if (starts.length === 0) {
    return {
      name,
      ok: false,
      message: `did not start${within !== undefined ? ` within ${secs(within)} of ${win.label}` : ` after ${win.label}`}${found.length > 0 ? ` (${found.length} other start/clear point(s))` : ' (no point at all)'}`,
      details: history,
    }
  }
  const first = starts[0]!
  if (!e.clears) return { name, ok: true, message: `started ${rel(first.time)} (${first.device})`, details: [] }
  const clear = found.find((x) => !x.active && x.device === first.device && x.time >= first.time && (clearWithin === undefined || x.time <= win.end + clearWithin))
  if (!clear) return { name, ok: false, message: `started ${rel(first.time)} (${first.device}) but did not clear${clearWithin !== undefined ? ` within ${secs(clearWithin)} of the fault's end` : ''}`, details: history }
  return { name, ok: true, message: `started ${rel(first.time)}, cleared ${rel(clear.time)} (${first.device})`, details: [] }
}

// --------------------------------------------------------------------------------------------- presence

export interface PresenceSample {
  t: number
  online: boolean
}

/**
 * The gateway's API sampled every `everyMs` while the run lasts: each device's presence over time
 * (/api/devices) and, with `alarms`, the starts and clears of active alarms (/api/alarms: a start at the
 * alarm's own `since`, a clear when it leaves the list).
 */
export function presenceWatcher(url: () => string | undefined, everyMs = 500, opts: { devices?: boolean; alarms?: boolean } = {}) {
  const samples = new Map<string, PresenceSample[]>()
  const alarmTransitions: Transition[] = []
  const active = new Map<string, { rule: string; device: string }>()
  let errors = 0
  let polls = 0
  let busy = false
  const get = async <T>(base: string, path: string): Promise<T> => (await fetch(new URL(path, base), { signal: AbortSignal.timeout(2_000) })).json() as Promise<T>
  const poll = async () => {
    const base = url()
    if (!base || busy) return
    busy = true
    try {
      if (opts.devices !== false) {
        const body = await get<{ devices?: { id: string; online: boolean }[] }>(base, '/api/devices')
        const t = Date.now()
        for (const d of body.devices ?? []) {
          const list = samples.get(d.id) ?? []
          // Keep changes only (and the first sample): a long run at 2 samples a second stays small.
          if (list.length === 0 || list[list.length - 1]!.online !== d.online) list.push({ t, online: d.online })
          samples.set(d.id, list)
        }
      }
      if (opts.alarms) {
        const body = await get<{ alarms?: { id: string; rule: string; device: string; since: number }[] }>(base, '/api/alarms')
        const t = Date.now()
        const now = new Set<string>()
        for (const a of body.alarms ?? []) {
          now.add(a.id)
          if (!active.has(a.id)) {
            active.set(a.id, { rule: a.rule, device: a.device })
            alarmTransitions.push({ time: a.since, active: true, device: a.device, name: a.rule })
          }
        }
        for (const [id, a] of active) {
          if (now.has(id)) continue
          active.delete(id)
          alarmTransitions.push({ time: t, active: false, device: a.device, name: a.rule })
        }
      }
      polls++
    } catch {
      errors++ // the gateway down (a kill fault): no sample
    } finally {
      busy = false
    }
  }
  const timer = setInterval(() => void poll(), everyMs)
  timer.unref()
  return {
    samples,
    /** Starts and clears of alarms /api/alarms showed, of one rule (and device). */
    alarms: (rule: string, device?: string) => alarmTransitions.filter((x) => x.name === rule && (device === undefined || x.device === device)).sort((a, b) => a.time - b.time),
    /** Presence of `device` at `t`: the last change before it (undefined: not seen yet). */
    at(device: string, t: number): boolean | undefined {
      const list = samples.get(device) ?? []
      let v: boolean | undefined
      for (const s of list) if (s.t <= t) v = s.online
      return v
    },
    polls: () => polls,
    errors: () => errors,
    poll,
    stop: () => clearInterval(timer),
  }
}
export type PresenceWatcher = ReturnType<typeof presenceWatcher>

/**
 * Presence as the faults dictate: a device silenced (`device_silent`) is offline at some time between the
 * start of its silence and `within` after its end, and online again after that, within `within` of the end.
 */
export function checkPresence(p: NonNullable<Expect['presence']>, faults: readonly Fault[], occurrences: readonly Occurrence[], w: PresenceWatcher, runStart: number, speed: number): Assertion[] {
  const out: Assertion[] = []
  const within = p.within / speed
  if (p.faults) {
    for (const o of occurrences) {
      const f = faults[o.index]
      if (f?.type !== 'device_silent' || o.failed || o.end === undefined) continue
      const list = w.samples.get(f.device) ?? []
      const name = `presence: ${f.device} offline while silent (faults[${o.index}] at ${secs(o.start - runStart)})`
      const off = list.find((s) => !s.online && s.t >= o.start && s.t <= o.end! + within)
      const on = off ? list.find((s) => s.online && s.t > off.t && s.t <= o.end! + within) : undefined
      const seen = list.map((s) => `${s.online ? 'online' : 'offline'} at ${secs(s.t - runStart)}`).slice(0, 8)
      if (!off) out.push({ name, ok: false, message: `/api/devices never said offline between ${secs(o.start - runStart)} and ${secs(o.end + within - runStart)} (the gateway takes the device's offlineAfterSec of silence, or its MQTT status/will, to say so)`, details: seen })
      else if (!on) out.push({ name, ok: false, message: `offline at ${secs(off.t - runStart)}, not online again within ${secs(within)} of the silence's end`, details: seen })
      else out.push({ name, ok: true, message: `offline at ${secs(off.t - runStart)}, online again at ${secs(on.t - runStart)}`, details: [] })
    }
  }
  for (const c of p.checks) {
    const at = runStart + c.at / speed
    const until = at + (c.within ?? p.within) / speed
    const list = w.samples.get(c.device) ?? []
    const name = `presence: ${c.device} ${c.online ? 'online' : 'offline'} at ${secs(c.at)}`
    // As the gateway said at that time, or changed to by the end of the grace period.
    const v = w.at(c.device, at)
    const hit = v === c.online ? at : list.find((s) => s.online === c.online && s.t > at && s.t <= until)?.t
    out.push(
      hit !== undefined
        ? { name, ok: true, message: `${c.online ? 'online' : 'offline'} at ${secs(hit - runStart)}`, details: [] }
        : { name, ok: false, message: v === undefined ? `/api/devices did not list ${c.device} by then` : `${v ? 'online' : 'offline'} at ${secs(c.at / speed)} and until ${secs(until - runStart)}`, details: [] },
    )
  }
  return out
}

// ---------------------------------------------------------------------------------------------- latency

/**
 * Buckets (upper bound in s -> cumulative count) by measurement, from Prometheus text. Readings (no
 * `interval` tag, or `realtime`) are under their measurement; HJ 212 statistics, whose time is their
 * interval's, under `<measurement>/<interval>` (e.g. `water_quality/minute`): their age is not a latency.
 */
export type AgeHistograms = Map<string, Map<number, number>>

export function parseAgeHistograms(text: string): AgeHistograms {
  const out: AgeHistograms = new Map()
  const label = (labels: string, name: string) => new RegExp(`(?:^|,)${name}="((?:[^"\\\\]|\\\\.)*)"`).exec(labels)?.[1]?.replace(/\\(.)/g, '$1')
  for (const m of text.matchAll(/^smartcity_reading_age_seconds_bucket\{(.*)\} (\S+)$/gm)) {
    const labels = m[1]!
    const measurement = label(labels, 'measurement')
    const le = label(labels, 'le')
    if (measurement === undefined || le === undefined) continue
    const interval = label(labels, 'interval') ?? ''
    const key = interval === '' || interval === 'realtime' ? measurement : `${measurement}/${interval}`
    const b = out.get(key) ?? new Map<number, number>()
    const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le)
    b.set(bound, (b.get(bound) ?? 0) + Number(m[2]))
    out.set(key, b)
  }
  return out
}

/** Add `b` into `a` (one histogram per gateway process: a kill resets it). */
export function addHistograms(a: AgeHistograms, b: AgeHistograms): void {
  for (const [m, buckets] of b) {
    const into = a.get(m) ?? new Map<number, number>()
    for (const [le, n] of buckets) into.set(le, (into.get(le) ?? 0) + n)
    a.set(m, into)
  }
}

/** The gateway's histograms from its /metrics. */
export async function scrapeAges(httpUrl: string): Promise<AgeHistograms> {
  const res = await fetch(new URL('/metrics?name=smartcity_reading_age_seconds', httpUrl), { signal: AbortSignal.timeout(5_000) })
  return parseAgeHistograms(await res.text())
}

/**
 * The q-quantile of cumulative buckets, interpolated linearly inside its bucket as Prometheus'
 * histogram_quantile does (so it is as precise as the bucket bounds: READING_AGE_BUCKETS).
 */
export function quantile(q: number, buckets: ReadonlyMap<number, number>): number | undefined {
  const bs = [...buckets].sort((x, y) => x[0] - y[0])
  const total = bs[bs.length - 1]?.[1] ?? 0
  if (total === 0) return undefined
  const rank = q * total
  let prevLe = 0
  let prevN = 0
  for (const [le, n] of bs) {
    if (n >= rank) {
      if (!Number.isFinite(le)) return prevLe
      return prevLe + ((le - prevLe) * (rank - prevN)) / Math.max(1e-12, n - prevN)
    }
    prevLe = le
    prevN = n
  }
  return prevLe
}

export function checkLatency(l: NonNullable<Expect['latency']>, h: AgeHistograms, defaultMeasurements: readonly string[]): { assertion: Assertion; p50Ms?: number; p99Ms?: number } {
  const names = l.measurements ?? defaultMeasurements
  const merged = new Map<number, number>()
  for (const m of names) for (const [le, n] of h.get(m) ?? []) merged.set(le, (merged.get(le) ?? 0) + n)
  const label = [l.p50_ms !== undefined ? `p50 at most ${l.p50_ms} ms` : '', l.p99_ms !== undefined ? `p99 at most ${l.p99_ms} ms` : ''].filter(Boolean).join(', ')
  const name = `latency device to stored: ${label}`
  const count = Math.max(0, ...merged.values())
  if (count === 0) return { assertion: { name, ok: false, message: `no point of ${names.join(', ')} was written (smartcity_reading_age_seconds empty)`, details: [] } }
  const p50 = quantile(0.5, merged)! * 1000
  const p99 = quantile(0.99, merged)! * 1000
  const bad = [l.p50_ms !== undefined && p50 > l.p50_ms ? `p50 over ${l.p50_ms} ms` : '', l.p99_ms !== undefined && p99 > l.p99_ms ? `p99 over ${l.p99_ms} ms` : ''].filter(Boolean)
  const assertion: Assertion = {
    name,
    ok: bad.length === 0,
    message: `p50 ${Math.round(p50)} ms, p99 ${Math.round(p99)} ms over ${count} points of ${names.join(', ')}${bad.length > 0 ? `: ${bad.join(', ')}` : ''}`,
    details: names.map((m) => {
      const b = h.get(m)
      return b ? `${m}: p50 ${Math.round(quantile(0.5, b)! * 1000)} ms, p99 ${Math.round(quantile(0.99, b)! * 1000)} ms, ${Math.max(0, ...b.values())} points` : `${m}: no point written`
    }),
  }
  return { assertion, p50Ms: p50, p99Ms: p99 }
}

// -------------------------------------------------------------------------------------------------- CPU

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (getconf CLK_TCK: 100 on Linux). */
const CLK_TCK = 100

/** The CPU seconds (user + system) a process has used, from /proc/<pid>/stat; undefined once it is gone. */
export function cpuSecondsOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command (which may hold spaces) in parentheses: state is field 3, utime 14, stime 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(rest[11]) + Number(rest[12])) / CLK_TCK
  } catch {
    return undefined
  }
}

/**
 * The gateway's CPU time over the wall time it served, across restarts: for each process, from `mark()`
 * (called once it is up, so start-up compilation is left out) to its last reading (sampled every 250 ms
 * and just before a kill fault), summed over the processes.
 */
export function cpuMeter(pid: () => number | undefined) {
  const procs = new Map<number, { base: number; baseAt: number; last: number; lastAt: number }>()
  const sample = () => {
    const p = pid()
    const e = p === undefined ? undefined : procs.get(p)
    if (p === undefined || !e) return
    const s = cpuSecondsOf(p)
    if (s === undefined) return
    e.last = s
    e.lastAt = Date.now()
  }
  const timer = setInterval(sample, 250)
  timer.unref()
  return {
    sample,
    /** The current process is up: measure it from now. */
    mark() {
      const p = pid()
      const s = p === undefined ? undefined : cpuSecondsOf(p)
      if (p !== undefined && s !== undefined) procs.set(p, { base: s, baseAt: Date.now(), last: s, lastAt: Date.now() })
    },
    stop: () => clearInterval(timer),
    /** CPU seconds, wall seconds, and their ratio (1 = one core busy the whole time). */
    share(): { cpuSec: number; wallSec: number; share: number } | undefined {
      sample()
      if (procs.size === 0) return undefined
      let cpuSec = 0
      let wallMs = 0
      for (const e of procs.values()) {
        cpuSec += e.last - e.base
        wallMs += e.lastAt - e.baseAt
      }
      const wallSec = Math.max(0.001, wallMs / 1000)
      return { cpuSec, wallSec, share: cpuSec / wallSec }
    },
  }
}

function describeDiff(d: Difference): string {
  const p = d.point
  const tags = Object.entries(p.tags).map(([k, v]) => ` ${k}=${v}`).join('')
  return `${p.measurement} ${p.device}${tags} at ${new Date(p.time).toISOString()}: ${d.what}`
}

/**
 * `readings_stored: all_acknowledged`: every acknowledged reading point by point, compared again each second
 * until `deadline` (the settle time the spool has to drain), then the verdict with the first differing points.
 */
export async function checkStored(target: InfluxTarget, truth: Truth, since: number, deadline: number, answers: () => CompareOptions = () => ({})): Promise<Assertion> {
  const name = 'readings stored: all acknowledged'
  const expected = truth.points()
  const none: Accounted = { refused: {}, lost: {} }
  const once = () => compare(target, expected, since, truth.candidates, answers()).then((r) => ({ ...r, error: undefined }), (err: Error) => ({ checked: expected.length, differences: [] as Difference[], accounted: none, error: err.message }))
  let r = await once()
  while ((r.differences.length > 0 || r.error !== undefined) && Date.now() < deadline) {
    await sleep(1_000)
    r = await once()
  }
  if (r.error !== undefined) return { name, ok: false, message: `InfluxDB query failed: ${r.error}`, details: [] }
  const explained = describeAccounted(r.accounted)
  if (r.differences.length === 0) return { name, ok: expected.length > 0, message: expected.length > 0 ? `${truth.acked()} acknowledged readings (${expected.length} points) all in InfluxDB with their values and times${explained}` : 'no reading was acknowledged', details: [] }
  const missing = r.differences.filter((d) => d.what.startsWith('missing')).length
  return { name, ok: false, message: `${r.differences.length} of ${expected.length} acknowledged points not as sent (${missing} missing, ${r.differences.length - missing} with other values)${explained}`, details: r.differences.map(describeDiff) }
}

/** Polled answers and fixes the gateway has no point of, and what explains each. */
function describeAccounted(a: Accounted): string {
  const parts = [...Object.entries(a.refused).map(([k, n]) => `${n} refused as ${k}`), ...Object.entries(a.lost).map(([k, n]) => `${n} lost to ${k}`)]
  return parts.length > 0 ? `; polled answers and fixes without a point, each explained: ${parts.join(', ')}` : ''
}

/**
 * The times the gateway could not keep what the unacknowledged devices (DL/T 645 meters, Modbus devices,
 * NMEA receivers) said: a gateway kill, from `beforeMs` before it (a cycle read but not yet committed dies
 * with the process) to `afterMs` after the gateway was back (it reopens the port; a sentence cut in two);
 * and the end of the run from `beforeMs` before the simulators stopped (`stopping`): an answer on its way
 * when the port closes is never read, the cycle is stored without it.
 */
export function lossWindows(occurrences: readonly Occurrence[], runStart: number, stopping = Number.POSITIVE_INFINITY, beforeMs = 3_000, afterMs = 3_000): LossWindow[] {
  const kills = occurrences
    .filter((o) => o.type === 'gateway_kill' && !o.failed)
    .map((o) => ({ start: o.start - beforeMs, end: (o.end ?? Number.POSITIVE_INFINITY) + afterMs, label: `faults[${o.index}] gateway_kill at ${secs(o.start - runStart)}` }))
  const end = Number.isFinite(stopping) ? [{ start: stopping - 1_000, end: Number.POSITIVE_INFINITY, label: `the end of the run at ${secs(stopping - runStart)} (simulators stopped, ports closed)` }] : []
  return [...kills, ...end]
}
