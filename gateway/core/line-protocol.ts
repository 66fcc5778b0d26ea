/**
 * InfluxDB line protocol, millisecond precision. Field types come from the data model's table
 * (devices/common/measurements.ts) so a field is always written with the same type.
 */
import { type FieldType, MEASUREMENTS, type MeasurementSpec } from '../../devices/common/measurements.ts'
import type { FieldValue } from '../../devices/common/point.ts'

const MEAS_RE = /[, \\]/g
const KEY_RE = /[,= \\]/g
const NEEDS_KEY_ESCAPE = /[,= \\\n]/
const STR_RE = /["\\]/g

const measurementCache = new Map<string, string>()

export function escapeMeasurement(s: string): string {
  let e = measurementCache.get(s)
  if (e === undefined) {
    e = s.replace(MEAS_RE, '\\$&').replace(/\n/g, '\\n')
    if (measurementCache.size < 1000) measurementCache.set(s, e)
  }
  return e
}

/** Escape a tag key, tag value or field key. */
export function escapeKey(s: string): string {
  return NEEDS_KEY_ESCAPE.test(s) ? s.replace(KEY_RE, '\\$&').replace(/\n/g, '\\n') : s
}

function escapeString(s: string): string {
  // Newlines cannot travel inside a line; keep them readable as the two characters \n.
  return `"${s.replace(STR_RE, '\\$&').replace(/\r?\n/g, '\\n')}"`
}

const specs = MEASUREMENTS as Record<string, MeasurementSpec>

/**
 * The field set `k=v,k=v`, or '' when no field can be written (non-finite numbers are left out: line
 * protocol has no NaN). `dropped` counts left-out fields.
 */
export function formatFields(measurement: string, fields: Readonly<Record<string, FieldValue>>, dropped?: { n: number }): string {
  const types = specs[measurement]?.fields
  let out = ''
  for (const k in fields) {
    const v = fields[k]
    let s: string
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) {
        if (dropped) dropped.n++
        continue
      }
      const t: FieldType | undefined = types?.[k]
      if (t === 'int') s = `${Math.round(v)}i`
      else if (t === 'bool') s = v ? 'true' : 'false'
      else if (t === 'string') s = escapeString(String(v))
      else s = String(v)
    } else if (typeof v === 'boolean') {
      s = v ? 'true' : 'false'
    } else if (typeof v === 'string') {
      s = escapeString(v)
    } else {
      if (dropped) dropped.n++
      continue
    }
    out += (out ? ',' : '') + escapeKey(k) + '=' + s
  }
  return out
}

/** `,k=v,k=v` for tags (sorted by key, empty values left out: line protocol has no empty tag values). */
export function formatTags(tags: Readonly<Record<string, string>>): string {
  const keys = Object.keys(tags).sort()
  let out = ''
  for (const k of keys) {
    const v = tags[k]
    if (v === undefined || v === '') continue
    out += ',' + escapeKey(k) + '=' + escapeKey(v)
  }
  return out
}

const INTERVAL_TAG = Buffer.from(',interval=')

/**
 * Each line of a batch of line protocol: its measurement (escapes kept), its `interval` tag ('' when it has
 * none; docs/data-model.md: HJ 212 statistics, whose time is their interval's, not a reading's) and its
 * timestamp (ms), without parsing the rest. `fn` gets NaN for a line without a timestamp. For the
 * reading-age histogram: a few hundred nanoseconds a line.
 */
export function eachLineTime(body: Uint8Array, fn: (measurement: string, interval: string, timeMs: number) => void): void {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength)
  let start = 0
  let lastMeasurement = ''
  let lastBytes: Uint8Array | undefined
  let lastInterval = ''
  // Where the next `,interval=` is (-1: none after here): found once, not searched again for every line.
  let nextInterval = -2
  const n = buf.length
  while (start < n) {
    let end = buf.indexOf(10, start)
    if (end < 0) end = n
    // Measurement: up to the first unescaped ',' or ' '.
    let i = start
    while (i < end) {
      const c = buf[i]!
      if (c === 92) i += 2
      else if (c === 44 || c === 32) break
      else i++
    }
    const mLen = i - start
    let same = lastBytes !== undefined && lastBytes.length === mLen
    for (let k = 0; same && k < mLen; k++) if (lastBytes![k] !== buf[start + k]) same = false
    if (!same) {
      lastBytes = buf.subarray(start, i)
      lastMeasurement = buf.toString('utf8', start, i)
    }
    let interval = ''
    if (nextInterval !== -1 && nextInterval < start) nextInterval = buf.indexOf(INTERVAL_TAG, start)
    if (nextInterval !== -1 && nextInterval < end) {
      // In the tag set only: before the first unescaped space.
      let sp = buf.indexOf(32, i)
      while (sp > 0 && sp < end && buf[sp - 1] === 92) sp = buf.indexOf(32, sp + 1)
      if (nextInterval < sp) {
        const v = nextInterval + INTERVAL_TAG.length
        let e = v
        while (e < sp && buf[e] !== 44) e++
        const len = e - v
        if (len !== lastInterval.length || buf.toString('latin1', v, e) !== lastInterval) lastInterval = buf.toString('utf8', v, e)
        interval = lastInterval
      }
    }
    // Timestamp: the digits after the last space.
    let j = end - 1
    let t = 0
    let mul = 1
    while (j > i && buf[j]! >= 48 && buf[j]! <= 57) {
      t += (buf[j]! - 48) * mul
      mul *= 10
      j--
    }
    fn(lastMeasurement, interval, j < end - 1 && buf[j] === 32 ? t : Number.NaN)
    start = end + 1
  }
}

/** One line of line protocol read back into a point (what the spool holds, for sinks that send points). */
export interface ParsedLine {
  measurement: string
  tags: Record<string, string>
  fields: Record<string, FieldValue>
  /** Epoch ms. */
  time: number
}

/**
 * The inverse of the formatting above, for one line as the spool stores it (escapes as written by
 * `escapeMeasurement`, `escapeKey` and the string escaping; field types as line protocol spells them: `1.5`,
 * `3i`, `3u`, `"text"`, `true`/`t`/`false`/`f`). `undefined` for a line that is not line protocol. Not for the
 * hot path: the uplink sinks (gateway/sinks/uplink.ts) call it once per point they forward.
 */
export function parseLine(line: string): ParsedLine | undefined {
  const n = line.length
  let i = 0
  // Read up to one of `stops` (unescaped); `\n` in text is the two characters \ n (a newline of the value).
  // Stops are some of ',' (44), '=' (61), ' ' (32); text without a backslash is one slice.
  const token = (comma: boolean, equals: boolean): string => {
    const start = i
    let out: string | undefined
    let from = i
    while (i < n) {
      const c = line.charCodeAt(i)
      if (c === 92 && i + 1 < n) {
        const d = line[i + 1]!
        out = (out ?? '') + line.slice(from, i) + (d === 'n' ? '\n' : d)
        i += 2
        from = i
        continue
      }
      if (c === 32 || (comma && c === 44) || (equals && c === 61)) break
      i++
    }
    return out === undefined ? line.slice(start, i) : out + line.slice(from, i)
  }
  const measurement = token(true, false)
  if (!measurement) return undefined
  // Without a prototype: a key named __proto__ (an unknown HJ 212 factor code) is a key like any other.
  const tags: Record<string, string> = Object.create(null) as Record<string, string>
  while (line[i] === ',') {
    i++
    const k = token(true, true)
    if (line[i] !== '=') return undefined
    i++
    const v = token(true, false)
    if (!k || !v) return undefined
    tags[k] = v
  }
  if (line[i] !== ' ') return undefined
  i++
  const fields: Record<string, FieldValue> = Object.create(null) as Record<string, FieldValue>
  for (;;) {
    const k = token(true, true)
    if (!k || line[i] !== '=') return undefined
    i++
    if (line[i] === '"') {
      i++
      let s = ''
      let from = i
      for (;;) {
        if (i >= n) return undefined
        const c = line.charCodeAt(i)
        if (c === 92 && i + 1 < n) {
          const d = line[i + 1]!
          s += line.slice(from, i) + (d === 'n' ? '\n' : d)
          i += 2
          from = i
          continue
        }
        if (c === 34) break
        i++
      }
      fields[k] = s + line.slice(from, i)
      i++
    } else {
      const start = i
      while (i < n && line[i] !== ',' && line[i] !== ' ') i++
      const raw = line.slice(start, i)
      if (raw === 't' || raw === 'T' || raw === 'true' || raw === 'True' || raw === 'TRUE') fields[k] = true
      else if (raw === 'f' || raw === 'F' || raw === 'false' || raw === 'False' || raw === 'FALSE') fields[k] = false
      else {
        const num = raw.endsWith('i') || raw.endsWith('u') ? raw.slice(0, -1) : raw
        const v = Number(num)
        if (num === '' || !Number.isFinite(v)) return undefined
        fields[k] = v
      }
    }
    if (line[i] === ',') {
      i++
      continue
    }
    break
  }
  if (line[i] !== ' ') return undefined
  const ts = line.slice(i + 1)
  if (!/^-?\d+$/.test(ts)) return undefined
  return { measurement, tags, fields, time: Number(ts) }
}
