/**
 * The gateway configuration: one YAML file validated with zod. Every problem is reported with its file, line
 * and key path (`smartcity check-config FILE`); command-line flags override the file. `${VAR}` and
 * `${VAR:-default}` in values are taken from the environment, so tokens need not live in the file; they are
 * substituted inside the YAML scalars, so a value can be a number or a boolean but never more YAML.
 * `${file:/run/secrets/name}` takes a value from a file (Docker and Kubernetes secrets); such values, and
 * those of secret keys (gateway/secrets.ts), are listed in the result so that nothing prints them.
 */
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { type Document, isMap, isScalar, isSeq, LineCounter, parseDocument, type ScalarTag } from 'yaml'
import { z } from 'zod'
import { KINDS, PROTOCOLS } from '../devices/common/point.ts'
import { AlarmRulesConfig } from './alarms/config.ts'
import { BrokerConfig } from './broker/config.ts'
import { AuditConfig } from './core/audit-log.ts'
import { HttpConfig } from './http/config.ts'
import { LogFormat } from './journald.ts'
import { lowPortWarnings } from './low-ports.ts'
import { NotifiersConfig } from './notifiers/config.ts'
import { createRedactor, findSecrets, secretWarnings } from './secrets.ts'
import { SinkConfig } from './sinks/config.ts'
import { SourceConfig } from './sources/index.ts'
import { issueProblems, keyPath, knownKeys, lineAt, lineOf } from './yaml-problems.ts'

export { nearestKey } from './yaml-problems.ts'

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
/** The pino levels (`log.level`, `--log-level`). */
export const LogLevel = z.enum(LEVELS, { error: () => `not a log level; one of ${LEVELS.join(', ')}` })
export type LogLevel = z.infer<typeof LogLevel>

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
      /** District for devices that name none (docs/data-model.md: `unknown` when not configured). */
      district: z.string().min(1).default('unknown'),
      offlineAfterSec: z.number().int().min(1).default(300),
      /** How often `device_status` points are written. */
      statusIntervalSec: z.number().int().min(1).default(60),
      /** SIGTERM: the longest a stop takes (stop accepting, in-flight ingest, spool stage, sink writes in flight). */
      stopTimeoutSec: z.number().int().min(1).max(600).default(15),
    })
    .prefault({}),
  dataDir: z.string().min(1).default('./data'),
  /** `format`: `auto` prefixes each line with its syslog priority when stdout is the journal (gateway/journald.ts). */
  log: z.strictObject({ level: LogLevel.default('info'), format: LogFormat.default('auto') }).prefault({}),
  broker: BrokerConfig.prefault({ type: 'embedded' }),
  /** The HTTP API: tokens and scopes, HTTPS, /metrics and /healthz access (gateway/http/config.ts). */
  http: HttpConfig.prefault({}),
  /** The security audit log (gateway/core/audit-log.ts). */
  audit: AuditConfig.prefault({}),
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
  /** Alarm notifications: DingTalk, WeCom, e-mail, webhooks, with routes (gateway/notifiers/config.ts); absent: none. */
  notifiers: NotifiersConfig.optional(),
  // --- record and replay (issue 12 item 6) ---
  /** Record every source's raw bytes and messages (gateway/core/recorder.ts); `--record DIR` sets `dir`. */
  record: z
    .strictObject({
      dir: z.string().min(1),
      /** A recording file over this is closed and its connection goes on in the next part. */
      maxFileBytes: z.number().int().min(4 * 1024).default(64 * 1024 * 1024),
      /** All files of this run together; past it recording stops (a warning and a metric). */
      maxTotalBytes: z.number().int().min(4 * 1024).default(1024 * 1024 * 1024),
    })
    .optional(),
  // --- end record ---
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
  logLevel?: string
  /** `--record DIR`: `record.dir` (recording on, the file's caps or the defaults). */
  recordDir?: string
}

export type ConfigResult =
  | {
      ok: true
      config: GatewayConfig
      warnings: string[]
      /** Every secret value of the configuration (by key, and each `${file:}` value): what must never be printed. */
      secrets: string[]
    }
  | { ok: false; problems: string[] }

/**
 * `${VAR}`, `${VAR:-default}` (the default also when VAR is empty, as in the shell), `${file:PATH}` (the
 * file's content, one trailing newline cut; a relative PATH is taken from the configuration file's
 * directory) and `$${`, which writes a literal `${`.
 */
const ENV_REF = /\$\$\{|\$\{file:([^}]+)\}|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g

interface SubstituteHooks {
  missing(name: string): void
  /** The content of a `${file:}` target, or undefined when it cannot be read (the hook reports why). */
  readFile(path: string): string | undefined
}

function substitute(text: string, env: NodeJS.ProcessEnv, hooks: SubstituteHooks): string {
  return text.replace(ENV_REF, (m, file: string | undefined, name: string | undefined, dflt: string | undefined) => {
    if (m === '$${') return '${'
    if (file !== undefined) return hooks.readFile(file.trim()) ?? ''
    if (name === undefined) return m
    const v = env[name]
    if (dflt !== undefined && (v === undefined || v === '')) return dflt
    if (v !== undefined) return v
    hooks.missing(name)
    return ''
  })
}

type Path = (string | number)[]

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
  if (o.logLevel !== undefined) obj('log')['level'] = o.logLevel
  if (o.httpPort !== undefined) obj('http')['port'] = o.httpPort
  if (o.recordDir !== undefined) obj('record')['dir'] = o.recordDir
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

/** Where a configuration came from: the file, its YAML document and line counter (for line numbers). */
interface Origin {
  file: string
  doc: Document.Parsed
  lines: LineCounter
}

/** The flag behind a key path when the flag was given (its value, not the file's, is what failed). */
function flagFor(path: string, o: ConfigOverrides, value: unknown): string | undefined {
  const flags: [RegExp, keyof ConfigOverrides, string][] = [
    [/^log\.level$/, 'logLevel', '--log-level'],
    [/^dataDir$/, 'dataDir', '--data-dir'],
    [/^http\.port$/, 'httpPort', '--http-port'],
    [/^record\.dir$/, 'recordDir', '--record'],
    [/^broker\.port$/, 'mqttPort', '--mqtt-port'],
    [/^broker\.url$/, 'mqttUrl', '--mqtt-url'],
    [/^sinks\[\d+\]\.url$/, 'influxUrl', '--influx-url'],
    [/^sinks\[\d+\]\.database$/, 'influxDb', '--influx-db'],
    [/^sinks\[\d+\]\.org$/, 'influxOrg', '--influx-org'],
    [/^sinks\[\d+\]\.bucket$/, 'influxBucket', '--influx-bucket'],
    [/^sinks\[\d+\]\.token$/, 'influxToken', '--influx-token'],
  ]
  return flags.find(([re, key]) => re.test(path) && o[key] !== undefined && o[key] === value)?.[2]
}

/** What substitution did: its problems, the key paths of unset variables, the text of values it typed. */
interface Substituted {
  problems: string[]
  missing: Set<string>
  /** Key path -> substituted text, for plain scalars that YAML typed as other than a string. */
  typed: Map<string, string>
  /** Key paths of the values that held a reference (`${VAR}` or `${file:}`). */
  referenced: Set<string>
  /** `${file:}` targets by key path, and the values read from them (secrets whatever their key). */
  fileRefs: { path: string; file: string }[]
  fileValues: string[]
}

function getAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let node = data
  for (const seg of path) {
    if (node === null || typeof node !== 'object') return undefined
    node = (node as Record<PropertyKey, unknown>)[seg]
  }
  return node
}

function setAt(data: unknown, path: readonly PropertyKey[], value: unknown): boolean {
  let node = data
  for (const seg of path.slice(0, -1)) {
    if (node === null || typeof node !== 'object') return false
    node = (node as Record<PropertyKey, unknown>)[seg]
  }
  const last = path[path.length - 1]
  if (last === undefined || node === null || typeof node !== 'object') return false
  ;(node as Record<PropertyKey, unknown>)[last] = value
  return true
}

/**
 * Validate config data and keep its secrets out of the answer: every problem and warning is scrubbed of
 * the secret values the data holds (found by key in the raw data, so also when it does not validate), and
 * a valid config lists its secrets and adds the warnings about files that expose them.
 */
function validate(raw: unknown, overrides: ConfigOverrides, origin?: Origin, sub?: Substituted): ConfigResult {
  const r = validateData(raw, overrides, origin, sub)
  const fromRaw = findSecrets(raw === null || typeof raw !== 'object' ? {} : applyOverrides(raw as Record<string, unknown>, overrides))
  const values = [...fromRaw.values.map((v) => v.value), ...(sub?.fileValues ?? [])]
  if (!r.ok) {
    const redactor = createRedactor(values)
    return { ok: false, problems: r.problems.map((p) => redactor.scrub(p)) }
  }
  const found = findSecrets(r.config)
  const secrets = [...new Set([...values, ...found.values.map((v) => v.value)])]
  const redactor = createRedactor(secrets)
  const referenced = sub?.referenced ?? new Set<string>()
  // In the file as written (not from a flag, `${VAR}` or `${file:}`).
  const literal = origin ? findSecrets(raw).values.map((v) => v.path).filter((p) => !referenced.has(p.replace(/ \(password\)$/, ''))) : []
  const warnings = [...r.warnings, ...secretWarnings({ ...(origin ? { configFile: origin.file } : {}), literal, fileRefs: sub?.fileRefs ?? [], found })]
  return { ok: true, config: r.config, warnings: warnings.map((w) => redactor.scrub(w)), secrets }
}

type Validated = { ok: true; config: GatewayConfig; warnings: string[] } | { ok: false; problems: string[] }

/** Validate config data, reporting every problem with its key path (and file and line when known). */
function validateData(raw: unknown, overrides: ConfigOverrides, origin?: Origin, sub?: Substituted): Validated {
  const problems = [...(sub?.problems ?? [])]
  const skip = sub?.missing ?? new Set<string>()
  const base = raw === null || raw === undefined ? {} : raw
  if (typeof base !== 'object' || Array.isArray(base)) return { ok: false, problems: [`${origin ? `${origin.file}: ` : ''}(root): the configuration must be a mapping`] }
  const data = applyOverrides(base as Record<string, unknown>, overrides)
  // A path and line for a problem: the flag's name when a flag set the value, else the file and line.
  const where = (path: readonly PropertyKey[], key?: string): string => {
    const full = key === undefined ? path : [...path, key]
    const kp = keyPath(full)
    const flag = flagFor(kp, overrides, getAt(data, full))
    if (flag) return `${flag} (${kp})`
    if (!origin) return kp
    const line = lineAt(origin.doc, origin.lines, path, key)
    return `${origin.file}${line !== undefined ? `:${line}` : ''}: ${kp}`
  }
  // The keys each object schema knows, by key path, for "did you mean" on an unknown key.
  const { known, error } = knownKeys()
  const parse = () => GatewayConfig.safeParse(data, { error })
  let r = parse()
  // A substituted value YAML typed as a number or boolean where the schema wants a string (a password of
  // digits) is taken as the text it was: the environment cannot know which keys are strings.
  if (!r.success && sub) {
    let patched = false
    for (const issue of r.error.issues) {
      const text = sub.typed.get(keyPath(issue.path))
      if (text !== undefined && issue.code === 'invalid_type' && issue.expected === 'string' && setAt(data, issue.path, text)) patched = true
    }
    if (patched) r = parse()
  }
  if (!r.success) problems.push(...issueProblems(r.error.issues, known, where, skip))
  if (problems.length > 0 || !r.success) return { ok: false, problems }
  const cfg = r.data
  const ids = new Set<string>()
  cfg.devices.forEach((d, i) => {
    if (ids.has(d.id)) problems.push(`${where(['devices', i, 'id'])}: duplicate device id ${d.id}`)
    ids.add(d.id)
  })
  const names = new Set<string>()
  for (const [list, key] of [
    [cfg.sources, 'sources'],
    [cfg.sinks, 'sinks'],
  ] as const) {
    list.forEach((s, i) => {
      const id = `${key}:${s.id}`
      if (names.has(id)) problems.push(`${where([key, i, 'id'])}: duplicate id ${s.id}`)
      names.add(id)
    })
  }
  if (problems.length > 0) return { ok: false, problems }
  const warnings: string[] = []
  if (cfg.sinks.length === 0) warnings.push(`${origin ? `${origin.file}: ` : ''}sinks: none configured; readings would only be kept in the spool (${cfg.dataDir})`)
  for (const w of lowPortWarnings(cfg)) warnings.push(`${origin ? `${origin.file}: ` : ''}${w}`)
  return { ok: true, config: cfg, warnings }
}

/** Validate config data (already parsed, no `${VAR}` substitution), reporting every problem with its key path. */
export function parseConfig(raw: unknown, overrides: ConfigOverrides = {}): ConfigResult {
  return validate(raw, overrides)
}

/** Resolve a plain (unquoted) scalar's text to the type YAML's schema gives it (null, bool, int, float, or string). */
function resolvePlain(doc: Document.Parsed, text: string, onError: (msg: string) => void): unknown {
  for (const tag of doc.schema.tags) {
    if (tag.collection || tag.default !== true || !tag.test?.test(text)) continue
    const v = (tag as ScalarTag).resolve(text, onError, doc.options)
    return isScalar(v) ? v.value : v
  }
  return text
}

/**
 * Substitute `${VAR}` in every value scalar of the document, in place. A substituted value becomes exactly
 * one scalar (it is never parsed as YAML, so `: `, `#` or a newline in it cannot make keys); a plain scalar
 * is then typed by its new text as YAML would type it (`1883` a number, `true` a boolean), a quoted or
 * block scalar stays a string. Returns the problems and the key paths they are at.
 */
function substituteDocument(o: Origin, env: NodeJS.ProcessEnv): Substituted {
  const sub: Substituted = { problems: [], missing: new Set(), typed: new Map(), referenced: new Set(), fileRefs: [], fileValues: [] }
  const walk = (node: unknown, path: Path): void => {
    if (isMap(node)) {
      for (const pair of node.items) walk(pair.value, [...path, String(isScalar(pair.key) ? pair.key.value : pair.key)])
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        walk(item, [...path, i])
      })
    } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('${')) {
      const kp = keyPath(path)
      const line = lineOf(o.lines, node)
      const at = `${o.file}${line !== undefined ? `:${line}` : ''}: ${kp}`
      sub.referenced.add(kp)
      const text = substitute(node.value, env, {
        missing: (name) => {
          sub.problems.push(`${at}: environment variable ${name} is not set`)
          sub.missing.add(kp)
        },
        readFile: (p) => {
          const file = resolve(dirname(o.file), p)
          sub.fileRefs.push({ path: kp, file })
          try {
            const v = readFileSync(file, 'utf8').replace(/\r?\n$/, '')
            if (v !== '') sub.fileValues.push(v)
            return v
          } catch (err) {
            // The code only (ENOENT, EACCES): never the content, and the path is the operator's own.
            sub.problems.push(`${at}: cannot read the secret file ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
            sub.missing.add(kp)
            return undefined
          }
        },
      })
      node.value = node.type === 'PLAIN' && !node.tag ? resolvePlain(o.doc, text, (msg) => sub.problems.push(`${at}: ${msg}`)) : text
      if (typeof node.value !== 'string') sub.typed.set(kp, text)
    }
  }
  walk(o.doc.contents, [])
  return sub
}

/**
 * Parse, substitute and validate YAML text. YAML syntax errors are reported with line and column, every
 * other problem as `FILE:LINE: key.path: message`.
 */
export function parseConfigText(text: string, file: string, overrides: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): ConfigResult {
  const lines = new LineCounter()
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, lineCounter: lines })
  if (doc.errors.length > 0) {
    // One error per line: the first; the rest of a line is usually the parser losing its way.
    const byLine = new Map<number, string>()
    const textLines = text.split('\n')
    for (const e of doc.errors) {
      const line = e.linePos?.[0].line ?? 1
      if (byLine.has(line)) continue
      const hint = /[{[][^\n]*\$\{/.test(textLines[line - 1] ?? '') ? ' (a ${VAR} inside { } or [ ] must be quoted: "${VAR}")' : ''
      byLine.set(line, `${file}:${line}: ${e.message.trimEnd()}${hint}`)
    }
    return { ok: false, problems: [...byLine.values()] }
  }
  const origin: Origin = { file, doc, lines }
  const sub = substituteDocument(origin, env)
  return validate(doc.toJS(), overrides, origin, sub)
}

/** Read, parse and validate a YAML file (no file: the defaults and the flags). */
export async function loadConfig(file: string | undefined, overrides: ConfigOverrides = {}, env = process.env): Promise<ConfigResult> {
  if (file === undefined) return parseConfig({}, overrides)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    return { ok: false, problems: [`${file}: ${(err as Error).message}`] }
  }
  return parseConfigText(text, file, overrides, env)
}
