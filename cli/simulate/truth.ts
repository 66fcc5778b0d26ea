/**
 * Ground truth of a simulated run: every reading a simulator sent and had acknowledged (MQTT PUBACK, the
 * JT/T 808 platform's 0x8001 with result 0, the HJ 212 platform's 9014), as the point it must become, and
 * the point-by-point comparison with what InfluxDB holds. The expected points are built from what the
 * simulators sent (their model values), not by running the gateway's decoders, so a wrong decode shows.
 * What nothing acknowledges (a Modbus or DL/T 645 answer, an NMEA fix) is matched with the gateway's own
 * record of it: the point it stored for that poll cycle or at that fix's time, else a dead letter of its
 * bytes or a fault's loss window that explains it (`compareAnswers`).
 */
import { JT808_STATUS, type Jt808Location } from '../../devices/position/jt808/index.ts'
import { type Hj212Message, hj212Data, INTERVAL_TAG, WATER_FACTORS } from '../../devices/water-quality/hj212/index.ts'
import { toEngineering, toRaw } from '../../devices/common/modbus/planner.ts'
import type { ModbusProfile } from '../../devices/common/modbus/profile.ts'
import { registerCount } from '../../devices/common/modbus/registers.ts'
import type { AnswerEvent } from '../../simulators/modbus/servers.ts'

export type Value = number | string | boolean

export interface ExpectedPoint {
  measurement: string
  device: string
  /** Tags besides `device` that tell series apart (HJ 212 `interval`, JT/T 808 `system`). */
  tags: Record<string, string>
  time: number
  fields: Record<string, Value>
  /**
   * The ETC lane: the gateway stamps the point with its own time (the end of the passage), not the device's. Such a point matches the stored point of its device
   * nearest in time within this many ms (tags besides `device` only when given), and its fields must be
   * those of one such point. Undefined: the exact series and time, as the device sent it.
   */
  within?: number
  /**
   * A DL/T 645 meter's answer or an NMEA receiver's fix: nothing acknowledges these, so the comparison looks
   * for the gateway's own record of it (`compare`'s `answers`) instead of a point near in time.
   */
  answer?: Answer
}

/** One answer of a polled device or one fix of a serial stream, as the simulator wrote it. */
export interface Answer {
  /** When the simulator wrote it (epoch ms, the wall clock the gateway stamps with too). */
  sent: number
  /**
   * The device's poll cycle it answered (DL/T 645: the master asks a meter's data identifiers one after the
   * other and stores one point per meter per cycle). Absent: a fix, matched by the time it carries.
   */
  cycle?: number
  /** The bytes written (hex) or the sentences (text): a dead letter carrying them is the gateway's record. */
  raw: string[]
  /**
   * Modbus: the read it answered. The same read answered twice in a row within `RETRY_MS` is the gateway
   * asking again after a time-out: it keeps one of the two answers, the other is accounted.
   */
  request?: string
}

/** A time a fault made the gateway unable to keep what devices said (it was killed, a port was pulled). */
export interface LossWindow {
  /** Undefined: every device. */
  device?: string
  start: number
  end: number
  label: string
}

/** A dead-letter record as far as the comparison needs it (cli/simulate/expect.ts `readRefusals`). */
export interface RefusedRecord {
  reason?: string
  device?: string
  raw?: string
  raw_hex?: string
}

export interface CompareOptions {
  /** Expected answers and fixes only: the gateway's dead letters (an answer refused is accounted, not lost). */
  refused?: readonly RefusedRecord[]
  /** Expected answers and fixes only: answers without a record inside one of these are accounted as lost to the fault. */
  windows?: readonly LossWindow[]
}

/** Answers and fixes the gateway has no stored point of but a record that explains it. */
export interface Accounted {
  /** Refused by the gateway: reason -> answers. */
  refused: Record<string, number>
  /** Lost inside a fault's window: label -> answers. */
  lost: Record<string, number>
}

export interface Truth {
  add(p: ExpectedPoint): void
  /** One point per series and time (as InfluxDB keeps them): the last acknowledged. */
  points(): ExpectedPoint[]
  /**
   * Every reading acknowledged for that series and time. Two readings of one second (JT/T 808 and HJ 212
   * times are whole seconds) are one point in InfluxDB, and which write lands last is the sink's order,
   * not the acknowledgements': the stored point must be one of them.
   */
  candidates(p: ExpectedPoint): ExpectedPoint[]
  acked(): number
  ackedBy(device: string): number
  /** Every acknowledged reading in the order it was acknowledged (`--truth FILE`). */
  all(): ExpectedPoint[]
  /**
   * Drop a polled device's answers (points with `within`) from `from` on: a poll the gateway was in the
   * middle of when a fault began (slow answers, a pulled port) is stored when it ends, outside the window.
   */
  forget(device: string, from: number): void
}

const keyOf = (p: Pick<ExpectedPoint, 'measurement' | 'device' | 'tags' | 'time'>) =>
  `${p.measurement}|${p.device}|${Object.entries(p.tags)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(',')}|${p.time}`

export function createTruth(): Truth {
  const byKey = new Map<string, ExpectedPoint[]>()
  const perDevice = new Map<string, number>()
  const order: ExpectedPoint[] = []
  // Answers are each their own truth (two replies of one cycle share a point, not a key).
  const answers: ExpectedPoint[] = []
  let n = 0
  return {
    add(p) {
      n++
      order.push(p)
      perDevice.set(p.device, (perDevice.get(p.device) ?? 0) + 1)
      if (p.answer) {
        answers.push(p)
        return
      }
      const k = keyOf(p)
      const list = byKey.get(k)
      if (list) list.push(p)
      else byKey.set(k, [p])
    },
    points: () => [...[...byKey.values()].map((l) => l[l.length - 1]!), ...answers],
    candidates: (p) => byKey.get(keyOf(p)) ?? [p],
    acked: () => n,
    ackedBy: (d) => perDevice.get(d) ?? 0,
    all: () => [...order],
    forget(device, from) {
      for (let i = order.length - 1; i >= 0; i--) {
        const p = order[i]!
        if (p.device === device && (p.within !== undefined || p.answer) && p.time >= from) order.splice(i, 1)
      }
      for (let i = answers.length - 1; i >= 0; i--) {
        const p = answers[i]!
        if (p.device === device && p.time >= from) {
          answers.splice(i, 1)
          n--
          perDevice.set(device, (perDevice.get(device) ?? 0) - 1)
        }
      }
      for (const [k, list] of byKey) {
        const keep = list.filter((p) => p.device !== device || p.within === undefined || p.time < from)
        n -= list.length - keep.length
        perDevice.set(device, (perDevice.get(device) ?? 0) - (list.length - keep.length))
        if (keep.length === 0) byKey.delete(k)
        else if (keep.length !== list.length) byKey.set(k, keep)
      }
    },
  }
}

/** A water-quality station's MQTT telemetry object. */
export function fromMqttWater(device: string, t: { ts: number } & Record<string, number>): ExpectedPoint {
  const { ts, ...fields } = t
  return { measurement: 'water_quality', device, tags: {}, time: ts, fields }
}

/** An elevator monitor's status object (undefined members are not sent). */
export function fromElevator(device: string, s: Record<string, unknown> & { ts: number }): ExpectedPoint {
  const fields: Record<string, Value> = {}
  for (const [k, v] of Object.entries(s)) if (k !== 'ts' && (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean')) fields[k] = v
  return { measurement: 'elevator_status', device, tags: {}, time: s.ts, fields }
}

/** A JT/T 808 location report (the simulators drive north and east of the equator and Greenwich). */
export function fromJt808(device: string, l: Jt808Location): ExpectedPoint | undefined {
  if (l.time === null) return undefined
  const fields: Record<string, Value> = { lat: l.latE6 / 1e6, lon: l.lonE6 / 1e6, speed_kmh: l.speed01 / 10, alt_m: l.altitudeM, course_deg: l.courseDeg }
  // docs/data-model.md: `system` names the one constellation used, GNSS for several (status bits 18-21).
  const used = (['bds', 'gps', 'glonass', 'galileo'] as const).filter((b) => (l.status & JT808_STATUS[b]) !== 0)
  const system = used.length === 1 ? used[0]!.toUpperCase() : 'GNSS'
  return { measurement: 'position', device, tags: { system }, time: l.time, fields }
}

/** An HJ 212 data upload (2011 real-time: Rtd; 2051 minute: Avg). */
export function fromHj212(device: string, m: Hj212Message): ExpectedPoint | undefined {
  const d = hj212Data(m.cp)
  if (!d.ok || d.value.dataTime === undefined) return undefined
  const key = m.cn === '2011' ? 'Rtd' : 'Avg'
  const fields: Record<string, Value> = {}
  for (const [code, vals] of Object.entries(d.value.factors)) {
    const f = WATER_FACTORS[code]
    const v = vals[key]
    if (f !== undefined && v !== undefined) fields[f] = Number(v)
  }
  return { measurement: 'water_quality', device, tags: { interval: INTERVAL_TAG[m.cn] ?? 'realtime' }, time: d.value.dataTime, fields }
}

export interface InfluxTarget {
  url: string
  database: string
  username?: string | undefined
  password?: string | undefined
}

export interface StoredSeries {
  tags: Record<string, string>
  rows: Record<string, unknown>[]
}

/** InfluxQL against the sink's database, epoch ms, every series with its tags. */
export async function influxQuery(t: InfluxTarget, q: string): Promise<StoredSeries[]> {
  const headers: Record<string, string> = {}
  if (t.username) headers['authorization'] = `Basic ${Buffer.from(`${t.username}:${t.password ?? ''}`).toString('base64')}`
  const res = await fetch(`${t.url}/query?db=${encodeURIComponent(t.database)}&epoch=ms&q=${encodeURIComponent(q)}`, { headers, signal: AbortSignal.timeout(10_000) })
  const body = (await res.json()) as { error?: string; results?: { error?: string; series?: { tags?: Record<string, string>; columns: string[]; values: unknown[][] }[] }[] }
  const r0 = body.results?.[0]
  if (body.error || r0?.error) throw new Error(body.error ?? r0?.error)
  return (r0?.series ?? []).map((s) => ({ tags: s.tags ?? {}, rows: s.values.map((row) => Object.fromEntries(s.columns.map((c, i) => [c, row[i]]))) }))
}

export interface Difference {
  point: ExpectedPoint
  /** `missing`, or the fields that differ. */
  what: string
}

const same = (want: Value, got: unknown) => (typeof want === 'number' ? typeof got === 'number' && Math.abs(got - want) <= 1e-9 * Math.max(1, Math.abs(want)) : got === want)

/**
 * Each expected point against InfluxDB: missing ones and ones whose fields differ from every candidate.
 * Answers and fixes (ExpectedPoint.answer) are matched with the gateway's record of them (`compareAnswers`);
 * those it refused or lost to a fault are `accounted`, not differences.
 */
export async function compare(
  t: InfluxTarget,
  expected: readonly ExpectedPoint[],
  since: number,
  candidates: (p: ExpectedPoint) => ExpectedPoint[] = (p) => [p],
  opts: CompareOptions = {},
): Promise<{ checked: number; differences: Difference[]; accounted: Accounted }> {
  const differences: Difference[] = []
  const byMeasurement = new Map<string, ExpectedPoint[]>()
  // One push per point: copying the list for each (as this did) made the load scenario's 140,000 points take minutes.
  const near: ExpectedPoint[] = []
  const answers: ExpectedPoint[] = []
  for (const p of expected) {
    if (p.answer) {
      answers.push(p)
      continue
    }
    if (p.within !== undefined) {
      near.push(p)
      continue
    }
    const list = byMeasurement.get(p.measurement)
    if (list) list.push(p)
    else byMeasurement.set(p.measurement, [p])
  }
  differences.push(...(await compareNearest(t, near, since)))
  const a = await compareAnswers(t, answers, since, opts)
  differences.push(...a.differences)
  for (const [m, points] of byMeasurement) {
    const stored = new Map<string, Record<string, unknown>>()
    const tagNames = new Set(points.flatMap((p) => Object.keys(p.tags)))
    const series = await influxQuery(t, `SELECT * FROM "${m.replace(/"/g, '\\"')}" WHERE time >= ${since}ms GROUP BY *`)
    for (const s of series) {
      for (const row of s.rows) {
        const device = s.tags['device'] ?? ''
        const tags: Record<string, string> = {}
        for (const k of tagNames) if (s.tags[k] !== undefined && s.tags[k] !== '') tags[k] = s.tags[k]
        stored.set(keyOf({ measurement: m, device, tags, time: Number(row['time']) }), row)
      }
    }
    for (const p of points) {
      const row = stored.get(keyOf(p))
      if (!row) {
        differences.push({ point: p, what: 'missing' })
        continue
      }
      if (candidates(p).some((c) => Object.entries(c.fields).every(([k, v]) => same(v, row[k])))) continue
      const bad = Object.entries(p.fields)
        .filter(([k, v]) => !same(v, row[k]))
        .map(([k, v]) => `${k} sent ${JSON.stringify(v)} stored ${JSON.stringify(row[k] ?? null)}`)
      if (bad.length > 0) differences.push({ point: p, what: bad.join(', ') })
    }
  }
  return { checked: expected.length, differences, accounted: a.accounted }
}

/** Rows of one device's measurement since `since`, with their series' tags, in time order. */
async function deviceRows(t: InfluxTarget, measurement: string, device: string, since: number) {
  const series = await influxQuery(t, `SELECT * FROM "${measurement.replace(/"/g, '\\"')}" WHERE time >= ${since}ms AND "device" = '${device.replace(/'/g, "\\'")}' GROUP BY *`)
  return series.flatMap((s) => s.rows.map((r) => ({ tags: s.tags, row: r, time: Number(r['time']) }))).sort((a, b) => a.time - b.time)
}

type Row = Awaited<ReturnType<typeof deviceRows>>[number]

const fieldsDiffer = (p: ExpectedPoint, row: Record<string, unknown>, note = '') =>
  Object.entries(p.fields)
    .filter(([k, v]) => !same(v, row[k]))
    .map(([k, v]) => `${k} sent ${JSON.stringify(v)} stored ${JSON.stringify(row[k] ?? null)}${note}`)
    .join(', ')

/**
 * A stamp is taken after the answer was read, but the simulator notes its answer just after writing it: on a
 * busy machine the gateway may read, store and stamp before the simulator's process runs again. A point
 * stamped up to this much before a cycle's first noted answer (never more than half the gap to the
 * device's cycle before) is that cycle's.
 */
const STAMP_SLACK_MS = 250

/** A Modbus read answered twice within this is one request asked again after a time-out (cli/simulate/devices/modbus.ts). */
const RETRY_MS = 1_000

/**
 * Answers and fixes against the gateway's record of each (not the nearest point in time):
 * - an NMEA fix is the stored position of its device at the very time the fix carries (the gateway stamps
 *   the point with the sentence's time; `system` is the gateway's to derive);
 * - a DL/T 645 meter's (or a Modbus device's) answers of one poll cycle are one stored point, the one the gateway stamped after the
 *   cycle's first answer: the meter's cycles, in the order it answered them, are aligned with its stored
 *   points, in the order the gateway stamped them (the bus hands each meter's readings to the pipeline in
 *   order), a point going to the latest cycle begun before its stamp and not yet matched that it agrees with;
 * - an answer without such a point is explained by a dead letter carrying its bytes (the gateway refused it:
 *   a late `unexpected_reply`, a broken frame) or by a fault's loss window (the gateway killed before the
 *   cycle was committed, the port pulled): `accounted`. Any other is missing.
 */
async function compareAnswers(t: InfluxTarget, expected: readonly ExpectedPoint[], since: number, opts: CompareOptions): Promise<{ differences: Difference[]; accounted: Accounted }> {
  const differences: Difference[] = []
  const accounted: Accounted = { refused: {}, lost: {} }
  if (expected.length === 0) return { differences, accounted }
  // A dead letter's bytes are the frame the framer cut out (a DL/T 645 reply without its FE preamble): contained in the answer's.
  const refused = (opts.refused ?? []).flatMap((r) => {
    const raw = r.raw_hex ? r.raw_hex.toLowerCase() : typeof r.raw === 'string' ? r.raw.trim() : ''
    return raw.length >= 8 ? [{ raw, reason: r.reason ?? '?' }] : []
  })
  const windows = opts.windows ?? []
  /** Why the gateway has no point of this answer, when something says why. */
  const explain = (p: ExpectedPoint): boolean => {
    const a = p.answer!
    for (const raw of a.raw) {
      const text = raw.trim()
      const hit = refused.find((r) => text === r.raw || text.toLowerCase().includes(r.raw))
      if (hit) {
        accounted.refused[hit.reason] = (accounted.refused[hit.reason] ?? 0) + 1
        return true
      }
    }
    const w = windows.find((x) => (x.device === undefined || x.device === p.device) && a.sent >= x.start && a.sent <= x.end)
    if (!w) return false
    accounted.lost[w.label] = (accounted.lost[w.label] ?? 0) + 1
    return true
  }
  const groups = new Map<string, ExpectedPoint[]>()
  for (const p of expected) {
    const k = `${p.measurement}\u0000${p.device}`
    const list = groups.get(k)
    if (list) list.push(p)
    else groups.set(k, [p])
  }
  for (const points of groups.values()) {
    const { measurement, device } = points[0]!
    const rows = await deviceRows(t, measurement, device, since)
    const fixes = points.filter((p) => p.answer!.cycle === undefined)
    if (fixes.length > 0) {
      const at = new Map<number, Row[]>()
      for (const r of rows) at.set(r.time, [...(at.get(r.time) ?? []), r])
      for (const p of fixes) {
        const here = (at.get(p.time) ?? []).filter((r) => Object.entries(p.tags).every(([k, v]) => r.tags[k] === v))
        if (here.some((r) => Object.entries(p.fields).every(([k, v]) => same(v, r.row[k])))) continue
        if (explain(p)) continue
        differences.push({ point: p, what: here.length === 0 ? `missing (no ${measurement} point of ${device} at the fix's time)` : fieldsDiffer(p, here[0]!.row) })
      }
    }
    const byCycle = new Map<number, ExpectedPoint[]>()
    for (const p of points) {
      const c = p.answer!.cycle
      if (c === undefined) continue
      const list = byCycle.get(c)
      if (list) list.push(p)
      else byCycle.set(c, [p])
    }
    const cycles = [...byCycle.entries()]
      .sort(([a], [b]) => a - b)
      .map(([, list]) => ({ answers: list, first: Math.min(...list.map((p) => p.answer!.sent)), last: Math.max(...list.map((p) => p.answer!.sent)), slack: STAMP_SLACK_MS }))
    cycles.forEach((c, k) => {
      if (k > 0) c.slack = Math.max(0, Math.min(STAMP_SLACK_MS, (c.first - cycles[k - 1]!.last) / 2))
    })
    type Cycle = (typeof cycles)[number]
    const whole = (p: ExpectedPoint, row: Record<string, unknown>) => Object.entries(p.fields).every(([k, v]) => same(v, row[k]))
    // Agrees: every field the point has is what the cycle said; partly: one answer of the cycle is all in it.
    const agrees = (c: Cycle, row: Record<string, unknown>) => c.answers.every((p) => Object.entries(p.fields).every(([k, v]) => row[k] === undefined || row[k] === null || same(v, row[k]))) && c.answers.some((p) => whole(p, row))
    const partly = (c: Cycle, row: Record<string, unknown>) => c.answers.some((p) => whole(p, row))
    const matched = new Map<number, Row>()
    let next = 0
    for (const r of rows) {
      // The point is the latest cycle begun before its stamp that it agrees with (the cycles before it the gateway lost).
      let last = next - 1
      while (last + 1 < cycles.length && cycles[last + 1]!.first <= r.time + cycles[last + 1]!.slack) last++
      let k = last
      while (k >= next && !agrees(cycles[k]!, r.row)) k--
      if (k < next) {
        k = last
        while (k >= next && !partly(cycles[k]!, r.row)) k--
      }
      if (k < next) continue
      matched.set(k, r)
      next = k + 1
    }
    /** A Modbus read the neighbouring cycle, kept by the gateway, answered again right after or before: a retry. */
    const retried = (k: number, p: ExpectedPoint) =>
      p.answer!.request !== undefined &&
      [k - 1, k + 1].some((j) => matched.has(j) && cycles[j]!.answers.some((q) => q.answer!.request === p.answer!.request && Math.abs(q.answer!.sent - p.answer!.sent) <= RETRY_MS))
    cycles.forEach((c, k) => {
      const r = matched.get(k)
      for (const p of c.answers) {
        if (r && Object.entries(p.fields).every(([f, v]) => same(v, r.row[f]))) continue
        if (!r && retried(k, p)) {
          const why = 'a read asked again right after (a retry: the gateway kept the other answer)'
          accounted.lost[why] = (accounted.lost[why] ?? 0) + 1
          continue
        }
        if (explain(p)) continue
        differences.push({ point: p, what: r ? fieldsDiffer(p, r.row, ` (the point of its poll cycle, stamped ${r.time - p.answer!.sent} ms after the answer)`) : `missing (no ${measurement} point of ${device} for this poll cycle, and no dead letter or fault explains it)` })
      }
    })
  }
  return { differences, accounted }
}

/**
 * Points matched by device and nearest time (ExpectedPoint.within): each needs a stored point of its device
 * whose fields (and given tags) are its own (one stored point may hold several expected ones: a poll's
 * fields). The fields of such a point identify it (an ETC passage: its OBU), so a point with the same
 * fields is looked for within the window first and then within three windows (the gateway stamps the end
 * of the passage, later on a busy machine); only when none has them is the nearest point in the window
 * reported as differing.
 */
async function compareNearest(t: InfluxTarget, expected: readonly ExpectedPoint[], since: number): Promise<Difference[]> {
  const differences: Difference[] = []
  const groups = new Map<string, ExpectedPoint[]>()
  for (const p of expected) {
    const k = `${p.measurement}\u0000${p.device}`
    groups.set(k, [...(groups.get(k) ?? []), p])
  }
  for (const points of groups.values()) {
    const { measurement, device } = points[0]!
    const rows = await deviceRows(t, measurement, device, since)
    const near = (p: ExpectedPoint, w: number, fieldsToo: boolean) =>
      rows
        .filter((r) => Math.abs(r.time - p.time) <= w && Object.entries(p.tags).every(([k, v]) => r.tags[k] === v))
        .filter((r) => !fieldsToo || Object.entries(p.fields).every(([k, v]) => same(v, r.row[k])))
        .sort((a, b) => Math.abs(a.time - p.time) - Math.abs(b.time - p.time))
    for (const p of points) {
      const w = p.within ?? 0
      if (near(p, w, true).length > 0 || near(p, 3 * w, true).length > 0) continue
      const close = near(p, w, false)
      if (close.length === 0) {
        differences.push({ point: p, what: `missing (no ${measurement} point of ${device} within ${w} ms)` })
        continue
      }
      const r = close[0]!
      differences.push({ point: p, what: fieldsDiffer(p, r.row, ` (nearest point ${r.time - p.time} ms off)`) })
    }
  }
  return differences
}

/** Points of `measurement` (of `device`) since `since`: the largest field count (InfluxQL count(*)). */
export async function countPoints(t: InfluxTarget, measurement: string, device: string | undefined, since: number): Promise<number> {
  const where = `time >= ${since}ms${device ? ` AND "device" = '${device.replace(/'/g, "\\'")}'` : ''}`
  const s = await influxQuery(t, `SELECT count(*) FROM "${measurement.replace(/"/g, '\\"')}" WHERE ${where}`)
  const row = s[0]?.rows[0] ?? {}
  return Math.max(0, ...Object.entries(row).filter(([k]) => k.startsWith('count_')).map(([, v]) => Number(v) || 0))
}

// --- simdev: ground truth of the polled and serial devices and the ETC lane ---
/**
 * The poll cycle of each answer of a polled device: the master asks a device's reads (Modbus) or data
 * identifiers (DL/T 645) one after the other and stores one point per device per cycle, so a device's new
 * cycle begins with an answer to a request it already answered in this one. On a bus polled device by device
 * (`bus`: DL/T 645), also with its first answer after another device's: that the device's first request got
 * no counted answer (a broken reply) must not merge two of its cycles into one. A `late` answer (slowed by a
 * fault: it lands in the middle of the next device's cycle) does not count as the bus moving on.
 */
export function createCycleCounter(opts: { bus?: boolean } = {}): (device: string, request: string, late?: boolean) => number {
  const cycles = new Map<string, { n: number; asked: Set<string> }>()
  let lastOnBus: string | undefined
  return (device, request, late = false) => {
    let c = cycles.get(device)
    const movedOn = opts.bus === true && !late && lastOnBus !== undefined && lastOnBus !== device
    if (!c || c.asked.has(request) || movedOn) {
      c = { n: (c?.n ?? 0) + 1, asked: new Set() }
      cycles.set(device, c)
    }
    c.asked.add(request)
    if (!late) lastOnBus = device
    return c.n
  }
}

/**
 * What a Modbus device answered to one read (FC 3/4): every profile point with a canonical field inside the
 * answered range, with the value the model had, as its register holds it (rounded to an integer register,
 * or to float32). Written at `sent` (wall ms) in the device's poll `cycle`: the gateway stores a poll's reads
 * as one point stamped with its own time, matched with the cycle like a DL/T 645 meter's (`compare`).
 */
export function fromModbusAnswer(device: string, profile: ModbusProfile, a: AnswerEvent, sent: number, cycle: number, request?: string): ExpectedPoint | undefined {
  const req = a.request
  const values = a.values
  if ((req.fc !== 3 && req.fc !== 4) || a.corrupt || 'exception' in a.response || !values) return undefined
  const table = req.fc === 3 ? 'holding' : 'input'
  const fields: Record<string, Value> = {}
  for (const p of profile.points) {
    if (p.field === undefined || p.function !== table) continue
    if (p.address < req.address || p.address + registerCount(p.type, p.length) > req.address + req.quantity) continue
    const v = values.get(p.name)
    if (typeof v !== 'number') continue
    const raw = toRaw(v, p)
    const held = p.type === 'float32' ? Math.fround(raw) : raw
    const e = toEngineering(held, p)
    if (typeof e === 'number') fields[p.field] = e
  }
  if (Object.keys(fields).length === 0) return undefined
  return { measurement: profile.kind, device, tags: {}, time: sent, fields, answer: { sent, cycle, raw: [], ...(request !== undefined ? { request } : {}) } }
}

/**
 * A DL/T 645 meter's reply to one data identifier, written at `sent` (wall ms) in the meter's poll cycle
 * `cycle` (`raw`: the reply's bytes, hex): matched with the point the gateway stored for that cycle.
 */
export function fromDlt645Reply(device: string, fields: Record<string, number>, sent: number, cycle: number, raw: string): ExpectedPoint {
  return { measurement: 'energy_meter', device, tags: {}, time: sent, fields: { ...fields }, answer: { sent, cycle, raw: [raw] } }
}

/** A coordinate as NMEA carries it: whole degrees and minutes with `decimals` decimals (devices/position/nmea/encode.ts). */
function nmeaCoord(a: number, decimals: number): number {
  const abs = Math.abs(a)
  let deg = Math.floor(abs)
  let min = Number(((abs - deg) * 60).toFixed(decimals))
  if (min >= 60) {
    deg += 1
    min -= 60
  }
  return Math.sign(a || 1) * (deg + min / 60)
}

/**
 * A GNSS receiver's epoch with a fix, written at `sent` as `lines`: its position at the NMEA time, the time
 * the gateway stamps it with (tags such as `system` are the gateway's to derive).
 */
export function fromNmeaEpoch(device: string, e: { time: number; fix: boolean; lat: number; lon: number }, sent = e.time, lines: readonly string[] = [], decimals = 5): ExpectedPoint | undefined {
  if (!e.fix) return undefined
  return { measurement: 'position', device, tags: {}, time: e.time, fields: { lat: nmeaCoord(e.lat, decimals), lon: nmeaCoord(e.lon, decimals) }, answer: { sent, raw: [...lines] } }
}

/** A passage the lane took part in: its OBU and the result the lane must record, at the end of the passage (within `within` ms of its start). */
export function fromEtcPassage(device: string, p: { vehicle: { obuId: string }; result: string; startedAt: number }, within: number): ExpectedPoint {
  return { measurement: 'etc_transaction', device, tags: { result: p.result }, time: p.startedAt, fields: { obu_id: p.vehicle.obuId }, within }
}
