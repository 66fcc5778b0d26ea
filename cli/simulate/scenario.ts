/**
 * The scenario file of `smartcity simulate` (README "Simulated districts in CI"): a district's devices by
 * kind, count, protocol and transport with their value models and reporting periods, the faults to apply on
 * a schedule, and what must hold at the end. Validated with zod; every problem is reported as
 * `FILE:LINE: key.path: message`, as `smartcity check-config` reports a gateway configuration.
 */
import { readFile } from 'node:fs/promises'
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml'
import { z } from 'zod'
import { nearestKey } from '../../gateway/config.ts'

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** `500ms`, `30s`, `2m`, `1h`, `1.5s` (or a bare number of seconds) -> milliseconds. */
export function parseDuration(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v * 1000 : undefined
  if (typeof v !== 'string') return undefined
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(v)
  if (!m) return undefined
  return Number(m[1]) * UNITS[m[2]!]!
}

/** A time like `30s` or `2m`, in milliseconds. */
const Duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDuration(v)
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `not a time: ${JSON.stringify(v)} (write e.g. 500ms, 30s, 2m, 1h)` })
    return z.NEVER
  }
  return ms
})

/** Parameters of the river model (simulators/water-quality/model.ts StationParams). */
const RiverModel = z.strictObject({
  meanTempC: z.number().optional(),
  swingC: z.number().min(0).optional(),
  codMgL: z.number().min(0).optional(),
  ammoniaMgL: z.number().min(0).optional(),
  turbidityNtu: z.number().min(0).optional(),
  conductivityUsCm: z.number().min(0).optional(),
  eventsPerDay: z.number().min(0).optional(),
})

const Common = {
  count: z.number().int().min(1).max(1000).default(1),
  /** Explicit device ids (MQTT station ids, JT/T 808 phone numbers, HJ 212 MNs); their number is the count. */
  ids: z.array(z.string().min(1)).min(1).optional(),
  period: Duration.optional(),
  seed: z.number().int().optional(),
}

export const DeviceEntry = z.discriminatedUnion('protocol', [
  z.strictObject({
    kind: z.enum(['water_quality', 'elevator']),
    protocol: z.literal('mqtt'),
    transport: z.literal('mqtt').default('mqtt'),
    ...Common,
    /** Station ids are `<id_prefix><n>` (water quality, default `wq-sim-`). */
    id_prefix: z.string().min(1).optional(),
    water_body: z.enum(['river', 'lake']).optional(),
    model: RiverModel.optional(),
    /** A discharge upstream of the first station at the start (water quality). */
    pollute: z.boolean().default(false),
    /** Elevators: the building; cars are `<building>-L<n>` (default `tower-sim`). */
    building: z.string().min(1).optional(),
    /** Elevators: the monitors also report their own faults on `/event`. */
    report_events: z.boolean().default(false),
  }),
  z.strictObject({
    kind: z.literal('position'),
    protocol: z.literal('jt808'),
    transport: z.literal('tcp').default('tcp'),
    ...Common,
    vehicle: z.enum(['bus', 'taxi', 'sanitation']).default('bus'),
    first_phone: z.number().int().min(1).max(99_999_999_999).optional(),
    alarm_probability: z.number().min(0).max(1).default(0),
  }),
  z.strictObject({
    kind: z.literal('water_quality'),
    protocol: z.literal('hj212'),
    transport: z.literal('tcp').default('tcp'),
    ...Common,
    id_prefix: z.string().min(1).optional(),
    /** Minute data (2051) period; `period` is the real-time (2011) one. */
    minute_period: Duration.optional(),
    /** The station password (default: the one the gateway's hj212 source has for the MN). */
    password: z.string().max(64).optional(),
    flag_probability: z.number().min(0).max(1).default(0),
  }),
])
export type DeviceEntry = z.infer<typeof DeviceEntry>

const At = { at: Duration }
export const Fault = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('device_silent'), device: z.string().min(1), ...At, for: Duration }),
  z.strictObject({ type: z.literal('gateway_kill'), ...At, restart: Duration.default(0) }),
  z.strictObject({ type: z.literal('influxdb_stop'), ...At, for: Duration }),
])
export type Fault = z.infer<typeof Fault>

const Count = z
  .strictObject({
    measurement: z.string().min(1),
    device: z.string().min(1).optional(),
    equals: z.union([z.number().int().min(0), z.literal('acknowledged')]).optional(),
    min: z.number().int().min(0).optional(),
    max: z.number().int().min(0).optional(),
  })
  .refine((c) => c.equals !== undefined || c.min !== undefined || c.max !== undefined, { message: 'give equals, min or max' })

export const Expect = z.strictObject({
  /** Every reading a simulator sent and had acknowledged is in InfluxDB with its values and time. */
  readings_stored: z.literal('all_acknowledged').optional(),
  counts: z.array(Count).default([]),
  /** No input refused by the gateway (its dead-letter log), except for the reasons listed. */
  no_unexpected_refusals: z.union([z.boolean(), z.strictObject({ allow: z.array(z.string().min(1)) })]).optional(),
  max_rss_mb: z.number().positive().optional(),
})

export const Scenario = z
  .strictObject({
    name: z.string().min(1),
    description: z.string().optional(),
    duration: Duration,
    district: z.string().min(1).default('sim-district'),
    /** How long to wait after the run for the gateway to store what it acknowledged. */
    settle: Duration.default(30_000),
    devices: z.array(DeviceEntry).min(1),
    faults: z.array(Fault).default([]),
    expect: Expect.default({ counts: [] }),
  })
  .superRefine((s, ctx) => {
    s.devices.forEach((d, i) => {
      // Cars are numbered by their building and terminals count up from first_phone.
      if (d.ids && (d.kind === 'elevator' || d.protocol === 'jt808')) {
        ctx.addIssue({ code: 'custom', path: ['devices', i, 'ids'], message: `not for ${d.kind === 'elevator' ? 'elevators (use building and count: cars are <building>-L<n>)' : 'JT/T 808 terminals (use first_phone and count)'}` })
      }
    })
    s.faults.forEach((f, i) => {
      if (f.at > s.duration) ctx.addIssue({ code: 'custom', path: ['faults', i, 'at'], message: `after the end of the run (duration ${s.duration / 1000} s)` })
    })
  })
export type Scenario = z.infer<typeof Scenario>

export type ScenarioResult = { ok: true; scenario: Scenario } | { ok: false; problems: string[] }

function keyPath(path: readonly PropertyKey[]): string {
  let s = ''
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${String(p)}` : String(p)
  return s || '(root)'
}

/**
 * Parse and validate scenario text. gateway/config.ts does the same for a gateway configuration but does
 * not export its YAML-to-zod formatting (only `nearestKey`), so the few lines that map an issue's path to
 * its line are repeated here.
 */
export function parseScenarioText(text: string, file: string): ScenarioResult {
  const lines = new LineCounter()
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, lineCounter: lines })
  if (doc.errors.length > 0) return { ok: false, problems: doc.errors.map((e) => `${file}:${e.linePos?.[0].line ?? 1}: ${e.message.split('\n')[0]}`) }
  const lineAt = (path: readonly PropertyKey[], key?: string): number | undefined => {
    const full = key === undefined ? path : [...path, key]
    for (let n = full.length; n >= 0; n--) {
      let node: unknown = doc.contents
      let keyNode: unknown
      let found = true
      for (const seg of full.slice(0, n)) {
        if (isMap(node)) {
          const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(seg))
          if (!pair) {
            found = false
            break
          }
          keyNode = pair.key
          node = pair.value
        } else if (isSeq(node) && typeof seg === 'number' && node.items[seg] !== undefined) {
          node = node.items[seg]
          keyNode = undefined
        } else {
          found = false
          break
        }
      }
      if (!found) continue
      const at = (n === full.length && key !== undefined ? keyNode : (node ?? keyNode)) as { range?: [number, number, number] } | undefined
      if (at?.range) return lines.linePos(at.range[0]).line
    }
    return undefined
  }
  const known = new Map<string, string[]>()
  const r = Scenario.safeParse(doc.toJS() ?? {}, {
    error: (iss) => {
      if (iss.code === 'unrecognized_keys') {
        const shape = (iss.inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod?.def?.shape
        if (shape) known.set(keyPath(iss.path ?? []), Object.keys(shape))
      }
      return undefined
    },
  })
  if (r.success) return { ok: true, scenario: r.data }
  const problems: string[] = []
  const where = (path: readonly PropertyKey[], key?: string) => {
    const line = lineAt(path, key)
    return `${file}${line !== undefined ? `:${line}` : ''}: ${keyPath(key === undefined ? path : [...path, key])}`
  }
  for (const issue of r.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      const keys = known.get(keyPath(issue.path)) ?? []
      for (const k of issue.keys) {
        const near = nearestKey(k, keys)
        problems.push(`${where(issue.path, k)}: unknown key; ${near ? `did you mean "${near}"?` : `known keys: ${keys.join(', ')}`}`)
      }
    } else problems.push(`${where(issue.path)}: ${issue.message}`)
  }
  return { ok: false, problems }
}

export async function loadScenario(file: string): Promise<ScenarioResult> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    return { ok: false, problems: [`${file}: ${(err as Error).message}`] }
  }
  return parseScenarioText(text, file)
}
