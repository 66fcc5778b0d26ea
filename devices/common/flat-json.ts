/**
 * The fast path for the commonest MQTT message: a flat JSON object of numbers in canonical field names,
 * `{"ts":1785000000000,"ph":7.12,"water_temp_c":18.3}`, as almost every station sends all day.
 *
 * It is compiled from the kind's zod schema (the schema stays the one definition of what is valid) and reads
 * the bytes in one pass: no JSON.parse object, no zod run, and each number's decimal text goes to line
 * protocol as it came instead of being printed again from a double. It accepts a strict subset of what the
 * schema accepts and returns `undefined` for everything else (a string or exponent anywhere, an unknown or
 * repeated key, a value out of range, anything malformed); the caller then takes the schema path, which
 * accepts the message or says exactly why not. For a message it accepts, the result is what the schema path
 * gives: test/devices/common/flat-json.test.ts checks that over generated messages.
 */
import type { z } from 'zod'
import { MEASUREMENTS, type MeasurementSpec } from './measurements.ts'
import { Timestamp } from './time.ts'

interface Rule {
  key: string
  /** The key's bytes followed by the closing quote. */
  quoted: Uint8Array
  /** Bit in the `seen` mask. */
  bit: number
  /** `key=`, and `,key=` for every field after the first. */
  first: string
  next: string
  min: number
  minInclusive: boolean
  max: number
  maxInclusive: boolean
  /** Only whole numbers (zod `.int()`). */
  int: boolean
  /** Written with line protocol's `i` (the data model types the field `int`). */
  lineInt: boolean
  isTs: boolean
}

export interface FlatReading {
  /** The fields (every key but `ts`), in the message's order. */
  fields: Record<string, number>
  /** The same fields as a line-protocol field set, `ph=7.12,water_temp_c=18.3`. */
  line: string
  /** `ts` when the message has one (epoch ms). */
  ts: number | undefined
}

export interface FlatReadingParser {
  /** The reading, or undefined when the message is not one this fast path takes. Never throws. */
  parse(payload: Buffer): FlatReading | undefined
}

// 10^k is exact in a double up to k = 22.
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k)

interface Bounds {
  min: number
  minInclusive: boolean
  max: number
  maxInclusive: boolean
  int: boolean
}

/** The bounds of a zod number schema, or undefined when it has a check this path does not know. */
function numberBounds(schema: z.ZodType): Bounds | undefined {
  const def = schema.def as { type: string; checks?: { _zod: { def: Record<string, unknown> } }[] }
  if (def.type !== 'number') return undefined
  const b: Bounds = { min: Number.NEGATIVE_INFINITY, minInclusive: true, max: Number.POSITIVE_INFINITY, maxInclusive: true, int: false }
  for (const c of def.checks ?? []) {
    const d = c._zod.def
    if (d['check'] === 'greater_than' && typeof d['value'] === 'number') {
      b.min = d['value']
      b.minInclusive = d['inclusive'] === true
    } else if (d['check'] === 'less_than' && typeof d['value'] === 'number') {
      b.max = d['value']
      b.maxInclusive = d['inclusive'] === true
    } else if (d['check'] === 'number_format' && d['format'] === 'safeint') {
      b.int = true
    } else {
      return undefined
    }
  }
  return b
}

/**
 * Compile the fast path for a kind's reading schema: a strict zod object whose keys are optional numbers
 * and an optional `ts` (devices/common/time.ts Timestamp, taken here as epoch ms only).
 * `refinements` is the number of object-level refinements the schema has; the only one this path knows is
 * "at least one field besides ts" (`requireField`). Returns undefined for any schema it cannot mirror
 * exactly, so such a kind simply has no fast path.
 */
export function compileFlatReading(schema: z.ZodType, measurement: string, opts: { requireField?: boolean; refinements?: number } = {}): FlatReadingParser | undefined {
  const def = schema.def as { type: string; shape?: Record<string, z.ZodType>; catchall?: z.ZodType; checks?: unknown[] }
  if (def.type !== 'object' || !def.shape || def.catchall?.def.type !== 'never') return undefined
  if ((def.checks?.length ?? 0) !== (opts.refinements ?? 0)) return undefined
  const spec = (MEASUREMENTS as Record<string, MeasurementSpec>)[measurement]
  const rules: Rule[] = []
  const tsBounds = numberBounds(Timestamp.def.options[0])
  for (const [key, s] of Object.entries(def.shape)) {
    if (rules.length >= 30 || !/^[a-z][a-z0-9_]*$/.test(key)) return undefined
    const sd = s.def as { type: string; innerType?: z.ZodType }
    if (sd.type !== 'optional' || !sd.innerType) return undefined
    const isTs = key === 'ts'
    if (isTs && sd.innerType !== Timestamp) return undefined
    const b = isTs ? tsBounds : numberBounds(sd.innerType)
    if (!b) return undefined
    const type = spec?.fields[key]
    if (type !== undefined && type !== 'float' && type !== 'int') return undefined
    rules.push({ key, quoted: Buffer.from(`${key}"`, 'latin1'), bit: 1 << rules.length, first: `${key}=`, next: `,${key}=`, ...b, lineInt: type === 'int', isTs })
  }
  const requireField = opts.requireField === true
  // A device sends its keys in the same order every time: `follow[k]` is the rule that came after rule k
  // last time (k = rules.length for the first key), tried before the others.
  const follow = new Int32Array(rules.length + 1)
  return { parse: (payload) => parseFlat(payload, rules, follow, requireField) }
}

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09
}

/** Whether `key"` is at byte `i`. */
function keyAt(b: Buffer, i: number, quoted: Uint8Array): boolean {
  const len = quoted.length
  if (i + len > b.length) return false
  for (let q = 0; q < len; q++) if (b[i + q] !== quoted[q]) return false
  return true
}

/** Index of the rule whose key starts at `i` and is followed by `"`, trying `hint` first; -1 if none. */
function matchKey(b: Buffer, i: number, rules: readonly Rule[], hint: number): number {
  if (hint < rules.length && keyAt(b, i, rules[hint]!.quoted)) return hint
  for (let k = 0; k < rules.length; k++) if (keyAt(b, i, rules[k]!.quoted)) return k
  return -1
}

/** The byte at `i`, or -1 past the end (typed-array reads past the end would give undefined). */
function at(b: Buffer, i: number, n: number): number {
  return i < n ? b[i]! : -1
}

function parseFlat(b: Buffer, rules: readonly Rule[], follow: Int32Array, requireField: boolean): FlatReading | undefined {
  // The scan reads bytes; number texts are cut from one Latin-1 string of the message, made only once the
  // message looks like ours. Anything outside ASCII can only be inside a string, and a string value or an
  // unknown key sends the message down the schema path anyway.
  const n = b.length
  let s: string | undefined
  let i = 0
  while (isWs(at(b, i, n))) i++
  if (at(b, i, n) !== 0x7b) return undefined
  i++
  const fields: Record<string, number> = {}
  let line = ''
  let ts: number | undefined
  let seen = 0
  let prev = rules.length
  for (;;) {
    while (isWs(at(b, i, n))) i++
    if (at(b, i, n) !== 0x22) return undefined
    i++
    const k = matchKey(b, i, rules, follow[prev]!)
    if (k < 0) return undefined
    const r = rules[k]!
    if ((seen & r.bit) !== 0) return undefined
    seen |= r.bit
    follow[prev] = k
    prev = k
    i += r.quoted.length
    while (isWs(at(b, i, n))) i++
    if (at(b, i, n) !== 0x3a) return undefined
    i++
    while (isWs(at(b, i, n))) i++
    // A JSON number without exponent: -?(0|[1-9][0-9]*)(\.[0-9]+)?
    const start = i
    const neg = at(b, i, n) === 0x2d
    if (neg) i++
    let c = at(b, i, n)
    let m = 0
    let digits = 0
    let frac = 0
    if (c === 0x30) {
      c = at(b, ++i, n)
      if (c >= 0x30 && c <= 0x39) return undefined
    } else if (c >= 0x31 && c <= 0x39) {
      while (c >= 0x30 && c <= 0x39) {
        m = m * 10 + (c - 0x30)
        digits++
        c = at(b, ++i, n)
      }
    } else {
      return undefined
    }
    if (c === 0x2e) {
      c = at(b, ++i, n)
      if (!(c >= 0x30 && c <= 0x39)) return undefined
      while (c >= 0x30 && c <= 0x39) {
        m = m * 10 + (c - 0x30)
        digits++
        frac++
        c = at(b, ++i, n)
      }
    }
    // Exponents, more than 15 significant digits and -0 take the schema path: below those limits the
    // integer m and 10^frac are exact, so m / 10^frac is the correctly rounded value JSON.parse gives.
    if (c === 0x65 || c === 0x45 || digits > 15 || (neg && m === 0)) return undefined
    let v = frac === 0 ? m : m / POW10[frac]!
    if (neg) v = -v
    if (r.minInclusive ? !(v >= r.min) : !(v > r.min)) return undefined
    if (r.maxInclusive ? !(v <= r.max) : !(v < r.max)) return undefined
    if (r.int && !Number.isInteger(v)) return undefined
    if (r.isTs) {
      ts = v
    } else {
      // An int field is written with `i`; its text must then be a plain integer.
      if (r.lineInt && frac !== 0) return undefined
      fields[r.key] = v
      s ??= b.toString('latin1')
      const text = s.slice(start, i)
      line += (line === '' ? r.first : r.next) + (r.lineInt ? `${text}i` : text)
    }
    while (isWs(at(b, i, n))) i++
    c = at(b, i, n)
    i++
    if (c === 0x2c) continue
    if (c === 0x7d) break
    return undefined
  }
  while (isWs(at(b, i, n))) i++
  if (i !== n) return undefined
  if (requireField && line === '') return undefined
  return { fields, line, ts }
}
