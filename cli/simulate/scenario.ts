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

// --- simscen: a run without an end (the demo district), per-entry district and site ---
/** `forever`: the run lasts until Ctrl-C or SIGTERM (what `smartcity demo` runs), then the verdict. */
export const FOREVER = Number.POSITIVE_INFINITY
/** A scenario's or `--duration`'s length: a time, or `forever`. */
export function parseRunDuration(v: unknown): number | undefined {
  return v === 'forever' ? FOREVER : parseDuration(v)
}
const RunDuration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseRunDuration(v)
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `not a time: ${JSON.stringify(v)} (write e.g. 30s, 2m, 1h, or forever)` })
    return z.NEVER
  }
  return ms
})
/** Where an entry's devices are: their `district` tag (default: the scenario's) and `site`. */
const Placement = {
  district: z.string().min(1).optional(),
  site: z.string().min(1).optional(),
}
// --- end simscen ---

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
  count: z.number().int().min(1).max(10_000).default(1),
  /** Explicit device ids (MQTT station ids, JT/T 808 phone numbers, HJ 212 MNs); their number is the count. */
  ids: z.array(z.string().min(1)).min(1).optional(),
  period: Duration.optional(),
  seed: z.number().int().optional(),
  ...Placement,
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
    /** Elevators: a fault (trapped, door, overspeed, power loss in turn) on some car this often (simscen). */
    fault_every: Duration.optional(),
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

/** When a fault starts, and (`every`) how often it comes again until the end of the run. */
const At = { at: Duration, every: Duration.optional() }
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
  // Device faults (they name a `device`; cli/simulate/faults.ts deviceFaults has their handlers).
  z.strictObject({ type: z.literal('device_silent'), device: z.string().min(1), ...At, for: Duration }),
  // System faults.
  z.strictObject({ type: z.literal('gateway_kill'), ...At, restart: Duration.default(0) }),
  z.strictObject({ type: z.literal('influxdb_stop'), ...At, for: Duration }),
  /** The MQTT broker (an external Mosquitto the runner starts for the run) stopped and started again. */
  z.strictObject({ type: z.literal('broker_restart'), ...At, for: Duration.default(0) }),
  /** The network between the gateway and InfluxDB (a TCP proxy the runner owns): connections refused, or every chunk held `delay_ms`. */
  z.strictObject({ type: z.literal('influx_network'), ...At, mode: z.enum(['drop', 'delay']), delay_ms: z.number().int().min(1).max(600_000).default(1_000), for: Duration }),
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
    /** Checked at this time of the run (scenario time) instead of at the end. */
    at: Duration.optional(),
  })
  .refine((c) => c.equals !== undefined || c.min !== undefined || c.max !== undefined, { message: 'give equals, min or max' })

/**
 * A window relative to a fault (`fault`: its index in `faults:`, its first occurrence) or to the start of
 * the run: the start must come within `within` of the fault's (or the run's) start, the clear within
 * `clear_within` of the fault's end (or of the start, without a fault).
 */
const Window = {
  fault: z.number().int().min(0).optional(),
  within: Duration.optional(),
  clear_within: Duration.optional(),
  /** It must also clear (default true). */
  clears: z.boolean().default(true),
}

/**
 * An alarm that must fire (and clear): the gateway's `alarm` points in InfluxDB (`via: influx`, the
 * history), its /api/alarms sampled during the run (`api`: what an operator saw), or both.
 */
const AlarmExpect = z.strictObject({ rule: z.string().min(1), device: z.string().min(1).optional(), kind: z.string().min(1).optional(), via: z.enum(['influx', 'api', 'both']).default('influx'), ...Window })
/** An elevator event that must occur (and clear): the gateway's `elevator_event` points in InfluxDB. */
const EventExpect = z.strictObject({ event: z.string().min(1), device: z.string().min(1).optional(), ...Window })

/** Presence as the gateway's /api/devices says, sampled during the run. */
const Presence = z.strictObject({
  /** Every `device_silent` fault: the device goes offline during its silence and online again after it. */
  faults: z.boolean().default(true),
  /** How long after the silence ends (or a check's time) the gateway may take to say so. */
  within: Duration.default(10_000),
  checks: z.array(z.strictObject({ device: z.string().min(1), online: z.boolean(), at: Duration, within: Duration.optional() })).default([]),
})

/** End-to-end latency: a reading's time to its write acknowledged by InfluxDB (the gateway's smartcity_reading_age_seconds). */
const Latency = z
  .strictObject({
    p50_ms: z.number().positive().optional(),
    p99_ms: z.number().positive().optional(),
    /** Only these measurements (default: those of the simulators' readings). */
    measurements: z.array(z.string().min(1)).min(1).optional(),
  })
  .refine((l) => l.p50_ms !== undefined || l.p99_ms !== undefined, { message: 'give p50_ms or p99_ms' })

/** Refusals (the gateway's dead-letter log) by reason: at least `min`, at most `max`. */
const RefusalCount = z
  .strictObject({ reason: z.string().min(1), min: z.number().int().min(0).optional(), max: z.number().int().min(0).optional(), at: Duration.optional() })
  .refine((r) => r.min !== undefined || r.max !== undefined, { message: 'give min or max' })

export const Expect = z.strictObject({
  /** Every reading a simulator sent and had acknowledged is in InfluxDB with its values and time. */
  readings_stored: z.literal('all_acknowledged').optional(),
  counts: z.array(Count).default([]),
  /** No input refused by the gateway (its dead-letter log), except for the reasons listed. */
  no_unexpected_refusals: z.union([z.boolean(), z.strictObject({ allow: z.array(z.string().min(1)) })]).optional(),
  max_rss_mb: z.number().positive().optional(),
  alarms: z.array(AlarmExpect).default([]),
  events: z.array(EventExpect).default([]),
  presence: Presence.optional(),
  latency: Latency.optional(),
  /** The gateway child's CPU time over the run's wall time (1 = one core busy), from /proc. */
  max_cpu_share: z.number().positive().optional(),
  refusals: z.array(RefusalCount).default([]),
  /** simscen: every device's points carry its entry's district tag (default the scenario's) and no other. */
  districts_apart: z.boolean().optional(),
})
export type Expect = z.infer<typeof Expect>

export const Scenario = z
  .strictObject({
    name: z.string().min(1),
    description: z.string().optional(),
    duration: RunDuration,
    district: z.string().min(1).default('sim-district'),
    /** simdev: where the value models' clock starts (ISO time); default derived from --seed (see cli/simulate/clock.ts). */
    start_time: z.iso.datetime({ offset: true }).optional(),
    /** How long to wait after the run for the gateway to store what it acknowledged. */
    settle: Duration.default(30_000),
    devices: z.array(DeviceEntry).min(1),
    faults: z.array(Fault).default([]),
    expect: Expect.default({ counts: [], alarms: [], events: [], refusals: [] }),
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
      const lasts = 'for' in f ? (f.for ?? 0) : f.type === 'gateway_kill' ? f.restart : 0
      if (f.every !== undefined && f.every <= lasts) ctx.addIssue({ code: 'custom', path: ['faults', i, 'every'], message: `not longer than the fault lasts (${'for' in f ? 'for' : 'restart'} ${lasts / 1000} s): one would start before the last is over` })
      if (f.every === 0) ctx.addIssue({ code: 'custom', path: ['faults', i, 'every'], message: 'must be more than 0' })
    })
    const late = (at: number | undefined, path: (string | number)[]) => {
      if (at !== undefined && at >= s.duration) ctx.addIssue({ code: 'custom', path, message: `not before the end of the run (duration ${s.duration / 1000} s): check at the end without at` })
    }
    s.expect.counts.forEach((c, i) => late(c.at, ['expect', 'counts', i, 'at']))
    s.expect.refusals.forEach((c, i) => late(c.at, ['expect', 'refusals', i, 'at']))
    s.expect.presence?.checks.forEach((c, i) => late(c.at, ['expect', 'presence', 'checks', i, 'at']))
    for (const [key, list] of [['alarms', s.expect.alarms], ['events', s.expect.events]] as const) {
      list.forEach((a, i) => {
        if (a.fault !== undefined && a.fault >= s.faults.length) ctx.addIssue({ code: 'custom', path: ['expect', key, i, 'fault'], message: `no such fault: faults has ${s.faults.length} entr${s.faults.length === 1 ? 'y' : 'ies'} (0-based)` })
      })
    }
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
