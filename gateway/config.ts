/**
 * The gateway configuration: one YAML file validated with zod. Every problem is reported with its key path
 * (`smartcity check-config FILE`); command-line flags override the file. `${VAR}` and `${VAR:-default}`
 * in string values are taken from the environment, so tokens need not live in the file.
 */
import { readFile } from 'node:fs/promises'
import { parseDocument } from 'yaml'
import { z } from 'zod'
import { KINDS, PROTOCOLS } from '../devices/common/point.ts'
import { AlarmRulesConfig } from './alarms/config.ts'
import { SinkConfig } from './sinks/config.ts'
import { SourceConfig } from './sources/index.ts'

const Host = z.string().min(1).default('127.0.0.1')
const Port = z.number().int().min(0).max(65_535)

export const EmbeddedBrokerConfig = z.strictObject({
  type: z.literal('embedded'),
  host: Host,
  port: Port.default(1883),
  /** MQTT over WebSocket on this port (optional). */
  wsPort: Port.optional(),
  /** Optional device credentials: username -> password. Empty means anonymous devices are allowed. */
  users: z.record(z.string(), z.string()).default({}),
})

export const ExternalBrokerConfig = z.strictObject({
  type: z.literal('external'),
  url: z.string().regex(/^(mqtts?|wss?|tcp):\/\//, 'an mqtt://, mqtts://, ws:// or wss:// URL'),
  /** Fixed client id: the persistent session (clean: false) is keyed by it. */
  clientId: z.string().min(1).default('smartcity-gateway'),
  username: z.string().optional(),
  password: z.string().optional(),
  keepaliveSec: z.number().int().min(5).max(3600).default(30),
  /** How long start-up waits for the broker before going on without it (and reconnecting). */
  connectWaitMs: z.number().int().min(0).max(600_000).default(5_000),
})

export const BrokerConfig = z.discriminatedUnion('type', [EmbeddedBrokerConfig, ExternalBrokerConfig])
export type BrokerConfig = z.infer<typeof BrokerConfig>

export const DeviceConfig = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'letters, digits, _ . : - (at most 64)'),
  kind: z.enum(KINDS),
  district: z.string().min(1).optional(),
  site: z.string().min(1).optional(),
  protocol: z.enum(PROTOCOLS).optional(),
  /** Seconds of silence after which the device counts as offline (default: gateway.offlineAfterSec). */
  offlineAfterSec: z.number().int().min(1).optional(),
  /** Per-device options read by its source and kind (e.g. `waterBody: lake`). */
  options: z.record(z.string(), z.unknown()).default({}),
})
export type DeviceConfig = z.infer<typeof DeviceConfig>

export const GatewayConfig = z.strictObject({
  gateway: z
    .strictObject({
      id: z.string().min(1).default('edge-gateway'),
      /** District for devices that name none (data-model.md: `unknown` when not configured). */
      district: z.string().min(1).default('unknown'),
      offlineAfterSec: z.number().int().min(1).default(300),
      /** How often `device_status` points are written. */
      statusIntervalSec: z.number().int().min(1).default(60),
    })
    .prefault({}),
  dataDir: z.string().min(1).default('./data'),
  log: z
    .strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
    .prefault({}),
  broker: BrokerConfig.default({ type: 'embedded', host: '127.0.0.1', port: 1883, users: {} }),
  http: z
    .strictObject({
      enabled: z.boolean().default(true),
      host: Host,
      port: Port.default(8080),
      /** The operators' live page at `/` and its event stream `/api/live`. */
      dashboard: z.boolean().default(true),
    })
    .prefault({}),
  spool: z
    .strictObject({
      /** Cap on the spool's size on disk; past it the oldest segment goes to the dead-letter log. */
      maxBytes: z.number().int().min(64 * 1024).default(512 * 1024 * 1024),
      segmentBytes: z.number().int().min(4 * 1024).default(8 * 1024 * 1024),
      /** fsync after each group append (power-loss safety, costs throughput); kill -9 is safe either way. */
      fsync: z.boolean().default(false),
    })
    .prefault({}),
  deadLetter: z
    .strictObject({ maxBytes: z.number().int().min(64 * 1024).default(256 * 1024 * 1024) })
    .prefault({}),
  sinks: z.array(SinkConfig).default([]),
  sources: z.array(SourceConfig).prefault([{ type: 'mqtt' }]),
  devices: z.array(DeviceConfig).default([]),
  /** Alarm rules and elevator fault detection (gateway/alarms/config.ts). */
  alarms: AlarmRulesConfig.prefault({}),
})
export type GatewayConfig = z.infer<typeof GatewayConfig>
export type GatewayConfigInput = z.input<typeof GatewayConfig>

/** The flags that override the file, named exactly as the CLI takes them. */
export interface ConfigOverrides {
  mqttPort?: number
  mqttUrl?: string
  influxUrl?: string
  influxDb?: string
  influxOrg?: string
  influxBucket?: string
  influxToken?: string
  httpPort?: number
  dataDir?: string
}

export type ConfigResult = { ok: true; config: GatewayConfig } | { ok: false; problems: string[] }

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g

function interpolate(value: unknown, env: NodeJS.ProcessEnv, path: string, problems: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (_m, name: string, dflt: string | undefined) => {
      const v = env[name]
      if (v !== undefined) return v
      if (dflt !== undefined) return dflt
      problems.push(`${path || '(root)'}: environment variable ${name} is not set`)
      return ''
    })
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, `${path}[${i}]`, problems))
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, env, path ? `${path}.${k}` : k, problems)
    return out
  }
  return value
}

function keyPath(path: readonly PropertyKey[]): string {
  let s = ''
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${String(p)}` : String(p)
  return s || '(root)'
}

/** Apply CLI overrides to raw (unvalidated) config data. */
export function applyOverrides(raw: Record<string, unknown>, o: ConfigOverrides): Record<string, unknown> {
  const cfg: Record<string, unknown> = { ...raw }
  const obj = (k: string): Record<string, unknown> => {
    const v = cfg[k]
    const copy = v !== null && typeof v === 'object' && !Array.isArray(v) ? { ...(v as Record<string, unknown>) } : {}
    cfg[k] = copy
    return copy
  }
  if (o.dataDir !== undefined) cfg['dataDir'] = o.dataDir
  if (o.httpPort !== undefined) obj('http')['port'] = o.httpPort
  if (o.mqttUrl !== undefined) {
    const prev = (cfg['broker'] ?? {}) as Record<string, unknown>
    cfg['broker'] = {
      type: 'external',
      url: o.mqttUrl,
      ...(prev['type'] === 'external' ? { clientId: prev['clientId'], username: prev['username'], password: prev['password'] } : {}),
    }
    for (const k of ['clientId', 'username', 'password']) {
      if ((cfg['broker'] as Record<string, unknown>)[k] === undefined) delete (cfg['broker'] as Record<string, unknown>)[k]
    }
  }
  if (o.mqttPort !== undefined) {
    const b = obj('broker')
    if (b['type'] === undefined) b['type'] = 'embedded'
    b['port'] = o.mqttPort
  }
  const sinks = Array.isArray(cfg['sinks']) ? (cfg['sinks'] as Record<string, unknown>[]).map((s) => ({ ...s })) : []
  const v2Given = o.influxOrg !== undefined || o.influxBucket !== undefined || o.influxToken !== undefined
  const v1Given = o.influxDb !== undefined
  const find = (type: string) => sinks.find((s) => s['type'] === type)
  if (o.influxUrl !== undefined || v1Given || v2Given) {
    // The flags target the v2 sink when any v2 flag is given (or the file has only a v2 sink), else v1.
    const useV2 = v2Given || (find('influx-v2') !== undefined && find('influx-v1') === undefined)
    const type = useV2 ? 'influx-v2' : 'influx-v1'
    let sink = find(type)
    if (!sink) {
      sink = { type }
      sinks.push(sink)
    }
    if (o.influxUrl !== undefined) sink['url'] = o.influxUrl
    if (o.influxDb !== undefined) {
      const v1 = find('influx-v1') ?? (() => {
        const s: Record<string, unknown> = { type: 'influx-v1' }
        if (o.influxUrl !== undefined) s['url'] = o.influxUrl
        sinks.push(s)
        return s
      })()
      v1['database'] = o.influxDb
    }
    if (o.influxOrg !== undefined) sink['org'] = o.influxOrg
    if (o.influxBucket !== undefined) sink['bucket'] = o.influxBucket
    if (o.influxToken !== undefined) sink['token'] = o.influxToken
    cfg['sinks'] = sinks
  }
  return cfg
}

/** Validate config data (already parsed), reporting every problem with its key path. */
export function parseConfig(raw: unknown, overrides: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): ConfigResult {
  const problems: string[] = []
  const base = raw === null || raw === undefined ? {} : raw
  if (typeof base !== 'object' || Array.isArray(base)) return { ok: false, problems: ['(root): the configuration must be a mapping'] }
  const data = interpolate(applyOverrides(base as Record<string, unknown>, overrides), env, '', problems)
  const r = GatewayConfig.safeParse(data)
  if (!r.success) {
    for (const issue of r.error.issues) problems.push(`${keyPath(issue.path)}: ${issue.message}`)
  }
  if (problems.length > 0 || !r.success) return { ok: false, problems }
  const cfg = r.data
  const ids = new Set<string>()
  cfg.devices.forEach((d, i) => {
    if (ids.has(d.id)) problems.push(`devices[${i}].id: duplicate device id ${d.id}`)
    ids.add(d.id)
  })
  const names = new Set<string>()
  for (const [list, key] of [
    [cfg.sources, 'sources'],
    [cfg.sinks, 'sinks'],
  ] as const) {
    list.forEach((s, i) => {
      const id = `${key}:${s.id}`
      if (names.has(id)) problems.push(`${key}[${i}].id: duplicate id ${s.id}`)
      names.add(id)
    })
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, config: cfg }
}

/** Read, parse and validate a YAML file. YAML syntax errors are reported with line and column. */
export async function loadConfig(file: string | undefined, overrides: ConfigOverrides = {}, env = process.env): Promise<ConfigResult> {
  if (file === undefined) return parseConfig({}, overrides, env)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    return { ok: false, problems: [`${file}: ${(err as Error).message}`] }
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true })
  if (doc.errors.length > 0) return { ok: false, problems: doc.errors.map((e) => `${file}: ${e.message}`) }
  return parseConfig(doc.toJS(), overrides, env)
}
