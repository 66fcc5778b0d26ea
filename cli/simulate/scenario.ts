/**
 * The scenario file of `smartcity simulate` (README "Simulated districts in CI"): a district's devices by
 * kind, count, protocol and transport with their value models and reporting periods, the faults to apply on
 * a schedule, and what must hold at the end. Validated with zod; every problem is reported as
 * `FILE:LINE: key.path: message`, as `smartcity check-config` reports a gateway configuration.
 */
import { readFile } from 'node:fs/promises'
import { LineCounter, parseDocument } from 'yaml'
import { z } from 'zod'
import { issueProblems, keyPath, knownKeys, lineAt } from '../../gateway/yaml-problems.ts'

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
  // --- simdev: polled and serial devices, the ETC gantry (device entries beyond the first slice) ---
  z.strictObject({
    kind: z.enum(['energy_meter', 'water_quality']),
    /** Modbus TCP, RTU on a pseudo-terminal (socat), or RTU through a transparent serial server over TCP. */
    protocol: z.enum(['modbus-tcp', 'modbus-rtu', 'modbus-rtu-over-tcp']),
    transport: z.enum(['tcp', 'serial']).optional(),
    ...Common,
    /** The device's register map: a built-in profile (eastron-sdm630, chint-dtsu666, generic-sonde). */
    profile: z.string().min(1),
    /** Device ids are `<id_prefix><n>` (default `em<i>-` / `wqm<i>-`), units count up from `first_unit`. */
    id_prefix: z.string().min(1).optional(),
    first_unit: z.number().int().min(1).max(247).default(1),
    /** Energy meters: rated total active power (kW) scaled by the daily load curve (morning and evening peaks). */
    rated_kw: z.number().positive().optional(),
  }),
  z.strictObject({
    kind: z.literal('position'),
    protocol: z.literal('nmea'),
    transport: z.literal('serial').default('serial'),
    ...Common,
    /** Route waypoints [lat, lon] the receiver drives in a loop (default: a loop through Gaoxin). */
    route: z.array(z.tuple([z.number().min(-90).max(90), z.number().min(-180).max(180)])).min(2).optional(),
    speed_kmh: z.number().min(0).max(300).default(35),
    /** Along-route ranges in metres without a fix (a tunnel); default none. */
    tunnels: z.array(z.tuple([z.number().min(0), z.number().min(0)])).default([]),
  }),
  z.strictObject({
    kind: z.literal('energy_meter'),
    protocol: z.literal('dlt645'),
    transport: z.literal('serial').default('serial'),
    ...Common,
    /** Meter addresses (12 digits), one per device id (default: counted up from 110101000001). */
    addresses: z.array(z.string().regex(/^\d{1,12}$/)).min(1).optional(),
    /** Mean three-phase load (kW), shaped by the daily load curve. */
    base_load_kw: z.number().positive().optional(),
  }),
  z.strictObject({
    kind: z.literal('etc'),
    protocol: z.literal('etc-rsu'),
    transport: z.literal('tcp').default('tcp'),
    ...Common,
    /** Mean vehicles per second outside the rush hours. */
    rate_per_sec: z.number().positive().max(20).default(0.5),
    /** Rush hours (Beijing time of the model clock): the rate is multiplied by up to `factor` around each peak. */
    rush_hour: z
      .strictObject({ peaks: z.array(z.number().min(0).max(24)).min(1).default([8, 18]), factor: z.number().min(1).max(20).default(4), width_h: z.number().positive().max(12).default(1.5) })
      .optional(),
  }),
  // --- end simdev device entries ---
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
// --- simdev: device-level faults (handlers in cli/simulate/device-faults.ts `deviceFaults`) ---
/** Frames or answers a device sends broken: a wrong CRC/checksum, cut short, or bytes that are no frame. */
const BadFrames = z
  .strictObject({
    type: z.literal('bad_frames'),
    device: z.string().min(1),
    ...At,
    kind: z.enum(['crc', 'truncated', 'garbage']).default('crc'),
    /** This many bad frames (one per device period), or ... */
    count: z.number().int().min(1).max(10_000).optional(),
    /** ... with this probability per device period during `for`. */
    rate: z.number().min(0).max(1).optional(),
    for: Duration.optional(),
  })
  .refine((f) => (f.count !== undefined) !== (f.rate !== undefined && f.for !== undefined), { message: 'give count, or rate and for' })
export const DEVICE_FAULTS = ['bad_frames', 'slow_answers', 'serial_unplug', 'clock_skew'] as const
export const DeviceFault = z.discriminatedUnion('type', [
  BadFrames,
  /** A polled device answers late (delay_ms after each request) for a while. */
  z.strictObject({ type: z.literal('slow_answers'), device: z.string().min(1), ...At, delay_ms: z.number().int().min(1).max(60_000), for: Duration }),
  /** The serial port pulled (the pty closed) and plugged back at the same path after `for`. */
  z.strictObject({ type: z.literal('serial_unplug'), device: z.string().min(1), ...At, for: Duration }),
  /** The device's clock runs `offset_ms` off for a while (its readings carry that time). */
  z.strictObject({ type: z.literal('clock_skew'), device: z.string().min(1), ...At, offset_ms: z.number().int().min(-86_400_000).max(86_400_000), for: Duration }),
])
export type DeviceFault = z.infer<typeof DeviceFault>
// --- end simdev device faults ---

export const Fault = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('device_silent'), device: z.string().min(1), ...At, for: Duration }),
  z.strictObject({ type: z.literal('gateway_kill'), ...At, restart: Duration.default(0) }),
  z.strictObject({ type: z.literal('influxdb_stop'), ...At, for: Duration }),
  ...DeviceFault.options,
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
    /** simdev: where the value models' clock starts (ISO time); default derived from --seed (see cli/simulate/clock.ts). */
    start_time: z.iso.datetime({ offset: true }).optional(),
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

/** Parse and validate scenario text: every problem as `FILE:LINE: key.path: message`, as check-config prints. */
export function parseScenarioText(text: string, file: string): ScenarioResult {
  const lines = new LineCounter()
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, lineCounter: lines })
  if (doc.errors.length > 0) return { ok: false, problems: doc.errors.map((e) => `${file}:${e.linePos?.[0].line ?? 1}: ${e.message.split('\n')[0]}`) }
  const { known, error } = knownKeys()
  const r = Scenario.safeParse(doc.toJS() ?? {}, { error })
  if (r.success) return { ok: true, scenario: r.data }
  const where = (path: readonly PropertyKey[], key?: string) => {
    const line = lineAt(doc, lines, path, key)
    return `${file}${line !== undefined ? `:${line}` : ''}: ${keyPath(key === undefined ? path : [...path, key])}`
  }
  return { ok: false, problems: issueProblems(r.error.issues, known, where) }
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
