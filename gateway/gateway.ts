/**
 * Compose a gateway from a validated config: spool and dead-letter log, sinks with their drain loops, the
 * pipeline, the MQTT broker, sources, processors and the HTTP API. Start sinks, then the pipeline, then
 * sources, the broker and the HTTP API; stop in reverse (Telegraf agent.go). A component that cannot start
 * (a port already taken) stops what started before it and `start` rejects with a `StartError`
 * (code `start_failed`): the gateway runs whole or not at all. Sinks are the exception by design: InfluxDB
 * may be down at start-up, so they keep trying in the background while the spool holds readings.
 *
 * Life cycle (issue 13 item 6): `stop` runs in that reverse order within `gateway.stopTimeoutSec`: stop
 * accepting (HTTP, the broker, each source, which waits for the input it has handed over to be durable),
 * write the spool's staging buffer, let the sinks' writes in flight finish, close; a step that overruns the
 * deadline is logged and left behind (what it had not written stays in the spool for the next start).
 * `reload(next)` applies a new configuration without a restart: the inventory, alarm rules, credentials
 * (the broker's and the hooks' `reload`), the log level, and sources added, changed (stopped and started
 * again) or removed; the rest is reported as needing a restart. An invalid new configuration changes
 * nothing. Every reload is audited (`config.reload`) and counted.
 */
// First: makes disabled `debug` loggers no-ops before aedes, mqtt-packet and MQTT.js load them.
import './broker/quiet-debug.ts'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { createAlarmProcessor } from './alarms/processor.ts'
import { registerAlarmRoutes } from './alarms/http.ts'
import { type AlarmStore, createAlarmStore, type PublishFn } from './alarms/store.ts'
import { type Broker, createBroker } from './broker/index.ts'
import type { BrokerConfig } from './broker/config.ts'
import type { ConfigResult, GatewayConfig } from './config.ts'
import { type Audit, type AuditRecord, noAudit } from './core/audit.ts'
import { createAuditLog } from './core/audit-log.ts'
import { createDeadLetterLog } from './core/deadletter.ts'
import { createDeviceRegistry } from './core/devices.ts'
import { createDrain, type Drain } from './core/drain.ts'
import { StartError } from './core/errors.ts'
import { createMetrics } from './core/metrics.ts'
import { createPipeline, type Pipeline } from './core/pipeline.ts'
import { createRecorder, type Recorder } from './core/recorder.ts'
import { createSpool } from './core/spool.ts'
import type { ComponentHealth, Logger, Processor, Sink, Source, SourceContext } from './core/types.ts'
import { buildApp, type HttpsFiles, type ReloadResult as HttpReloadResult } from './http/app.ts'
import { createHttpAuth, type HttpAuth } from './http/auth.ts'
import { createLiveView } from './http/live.ts'
import { createElevatorProcessor } from './processors/elevator.ts'
import { createJt808AlarmProcessor } from './processors/jt808-alarms.ts'
import { createRedactor, findSecrets, type Redactor, redactedLogger, redactedRegistry } from './secrets.ts'
import { createSink } from './sinks/index.ts'
import { createSource } from './sources/index.ts'
import { createBackoff } from './transports/backoff.ts'
import { sleep } from './transports/timers.ts'

export interface GatewayOptions {
  log?: Logger
  /** Extra processors (alarm rules, derived events). */
  processors?: Processor[]
  now?: () => number
  /**
   * What `POST /api/reload` runs: re-read the configuration file and apply it (cli/main.ts, with the life
   * cycle's `reload`). Absent, the route answers 501.
   */
  reload?: (by: ReloadActor) => Promise<HttpReloadResult>
  /** The audit log to write to instead of `<dataDir>/audit` (tests). */
  audit?: Audit
  /** Scrubs secrets from logs, /metrics and /healthz; by default one made from the config's secrets. */
  redactor?: Redactor
  /** Reads the configuration again (the CLI: the same file and flags): `reload()` without an argument. */
  loadConfig?: () => Promise<ConfigResult>
}

/** Who asked for a reload (audit): `system` for SIGHUP, a token's name for `POST /api/reload`. */
export interface ReloadActor {
  actor: string
  actorType: AuditRecord['actorType']
  address?: string
  /** The caller records the audit itself (POST /api/reload, with the token's name and its outcome). */
  audited?: boolean
}

export interface ReloadResult {
  /** True when the new configuration was valid and every change was applied. */
  ok: boolean
  /** What changed, for people (`source jt808: restarted`, `devices: 1 added (em-2)`). */
  changes: string[]
  /** Top-level keys that changed but take effect only after a restart (`sinks`, `http`, ...). */
  restartNeeded: string[]
  /** Why the reload failed or what of it failed (invalid file; a source that could not start). */
  problems: string[]
}

/** Run on every reload that applied a valid configuration (HTTP tokens, ...): `next` is what now runs. */
export type ReloadHook = (next: GatewayConfig, prev: GatewayConfig) => void | Promise<void>

export interface Gateway {
  /** The configuration running now (a reload replaces it). */
  readonly config: GatewayConfig
  log: Logger
  metrics: ReturnType<typeof createMetrics>
  pipeline: Pipeline
  broker: Broker
  /** Active alarms (`/api/alarms`). */
  alarms: AlarmStore
  http: FastifyInstance | undefined
  /** The security audit log (`audit:`); `noAudit` when disabled. Pass it to the broker and the TCP servers. */
  audit: Audit
  /** HTTP tokens and scopes; `httpAuth.reload(config.http)` applies new tokens without a restart. */
  httpAuth: HttpAuth
  start(): Promise<void>
  /** Stop in order within `deadlineMs` (default `gateway.stopTimeoutSec`). */
  stop(o?: { deadlineMs?: number }): Promise<void>
  /**
   * Apply a new configuration (a validated one, or a load result whose problems are then reported), or,
   * without one, what `loadConfig` reads. One reload at a time; audited as `config.reload`.
   */
  reload(next?: GatewayConfig | ConfigResult, by?: ReloadActor): Promise<ReloadResult>
  /** Add a step to every successful reload (HTTP tokens). */
  onReload(hook: ReloadHook): void
  /** The redactor that keeps secrets out of what the gateway prints. */
  readonly redactor: Redactor
  /** Where things listen, once started. */
  endpoints(): { mqtt: string; http?: string }
  health(): Promise<Record<string, ComponentHealth>>
}

/** dashboards/web of this checkout, from the sources or from dist/. */
function findWebDir(): string {
  let d = import.meta.dirname
  for (let i = 0; i < 4; i++) {
    const candidate = join(d, 'dashboards', 'web')
    if (existsSync(join(candidate, 'index.html'))) return candidate
    d = dirname(d)
  }
  return join(import.meta.dirname, '..', 'dashboards', 'web')
}

/** Top-level keys a reload cannot apply: what they configure is built once at start-up. */
const RESTART_KEYS = ['gateway', 'dataDir', 'spool', 'deadLetter', 'sinks'] as const

const SYSTEM: ReloadActor = { actor: 'system', actorType: 'system' }

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)

/** Keys of `broker:` a reload applies through the broker's `reload` (embedded users, the password/ACL files). */
const BROKER_CREDENTIALS = ['users', 'auth', 'limits'] as const
/** Keys of `http:` a reload applies through the hooks (the tokens). */
const HTTP_CREDENTIALS = ['tokens'] as const

function pickKeys(o: object, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const k of keys) if (k in o) out[k] = (o as Record<string, unknown>)[k]
  return out
}

function withoutKeys(o: object, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...o }
  for (const k of keys) delete out[k]
  return out
}

/** The broker's config without its credentials (which the broker's own `reload` applies). */
const brokerListeners = (b: BrokerConfig): unknown => withoutKeys(b, BROKER_CREDENTIALS)

/** The HTTP config without its tokens (which the reload hooks apply). */
const httpListener = (h: GatewayConfig['http']): unknown => withoutKeys(h, HTTP_CREDENTIALS)

export function createGateway(initial: GatewayConfig, opts: GatewayOptions = {}): Gateway {
  let config = initial
  const redactor = opts.redactor ?? createRedactor(findSecrets(initial).values.map((v) => v.value))
  const log = opts.log ?? redactedLogger({ level: config.log.level, base: { gateway: config.gateway.id }, redactor })
  const now = opts.now ?? Date.now
  const metrics = createMetrics()
  const sinkCfgs = config.sinks
  const deadLetter = createDeadLetterLog({
    dir: join(config.dataDir, 'deadletter'),
    maxBytes: config.deadLetter.maxBytes,
    log: log.child({ component: 'deadletter' }),
    onDropped: (b) => metrics.deadLetterDropped.inc(b),
    onCoalesced: (byReason) => {
      for (const r in byReason) metrics.deadLetterCoalesced.labels(r).inc(byReason[r])
    },
  })
  const spool = createSpool({
    dir: join(config.dataDir, 'spool'),
    maxBytes: config.spool.maxBytes,
    segmentBytes: config.spool.segmentBytes,
    fsync: config.spool.fsync,
    sinks: sinkCfgs.map((s) => s.id),
    log: log.child({ component: 'spool' }),
    // The dead-letter log owns its directory: it takes the overflowing segment; here it is counted and noted.
    onOverflow: (segment, lines, bytes) => {
      const file = deadLetter.adoptSpoolSegment(segment)
      metrics.spoolOverflow.inc()
      metrics.pointsDeadLettered.labels('spool_overflow').inc(lines)
      void deadLetter.write({ source: 'spool', address: file, reason: 'spool_overflow', detail: `spool over its cap: ${lines} points (${bytes} bytes) moved to ${file}`, extra: { points: lines, file } })
      return file
    },
  })
  // The security audit log: operator actions and authentication failures (issue 13 section 5).
  const auditLog =
    opts.audit === undefined && config.audit.enabled
      ? createAuditLog({
          dir: config.audit.dir ?? join(config.dataDir, 'audit'),
          retentionDays: config.audit.retentionDays,
          maxFileBytes: config.audit.maxFileBytes,
          log: log.child({ component: 'audit' }),
          onDropped: (n) => metrics.auditDropped.inc(n),
          now,
        })
      : undefined
  const audit: Audit = opts.audit ?? auditLog ?? noAudit
  const httpAuth = createHttpAuth(config.http, { audit, now, onRefused: (reason) => metrics.httpAuthFailures.labels(reason).inc() })
  const devices = createDeviceRegistry({ inventory: config.devices, defaultDistrict: config.gateway.district, offlineAfterSec: config.gateway.offlineAfterSec, statusIntervalSec: config.gateway.statusIntervalSec, instance: config.gateway.id, metrics, now })
  // Built-in processors: elevator fault detection and the alarm rules; both publish on the broker.
  const alarmStore = createAlarmStore()
  const publish: PublishFn = (topic, payload, o) => broker.publish(topic, payload, o)
  const live = config.http.enabled && config.http.dashboard ? createLiveView() : undefined
  // The two processors a reload rebuilds from `alarms:` sit behind a slot the pipeline's list keeps.
  const makeElevator = (c: GatewayConfig) => createElevatorProcessor(c.alarms.elevator, { publish, store: alarmStore, devices, now, log })
  const makeRules = (c: GatewayConfig) => createAlarmProcessor(c.alarms, { publish, store: alarmStore, devices, now, log })
  const elevator = { current: makeElevator(config) as Processor }
  const rules = { current: makeRules(config) }
  const slot = (id: string, s: { current: Processor }): Processor => ({
    id,
    process: (b) => s.current.process(b),
    tick: (t) => s.current.tick?.(t),
    stop: () => s.current.stop?.(),
  })
  const processors: Processor[] = [
    ...(live ? [live.processor] : []),
    slot('elevator', elevator),
    createJt808AlarmProcessor({ publish, store: alarmStore, log }),
    slot('alarms', rules),
    ...(opts.processors ?? []),
  ]
  const pipeline = createPipeline({ spool, deadLetter, devices, metrics, processors, log: log.child({ component: 'pipeline' }), now })
  // Issue 13 (secmqtt): refusals counted and audited; the default ACL binds an inventory device to its topics.
  const broker = createBroker(config.broker, log.child({ component: 'broker' }), {
    refused: (action, reason) => metrics.mqttRefused.labels(action, reason).inc(),
    inventory: (id) => {
      const d = devices.get(id)
      return d?.configured ? { district: d.district, kind: d.kind } : undefined
    },
    audit,
  })
  const sinks: Sink[] = sinkCfgs.map((c) => createSink(c, log.child({ component: `sink.${c.type}`, id: c.id })))
  const drains: Drain[] = sinks.map((s, i) => createDrain(s, spool, deadLetter, metrics, log.child({ component: 'drain', id: s.id }), sinkCfgs[i]!))
  const sources: Source[] = config.sources.map((c) => createSource(c, { mqtt: { broker } }))
  // --- record (issue 12 item 6): one tap per source, handed through its context ---
  const recorder: Recorder | undefined = config.record
    ? createRecorder({
        dir: config.record.dir,
        maxFileBytes: config.record.maxFileBytes,
        maxTotalBytes: config.record.maxTotalBytes,
        gatewayId: config.gateway.id,
        now,
        log: log.child({ component: 'recorder' }),
        onWritten: (n) => metrics.recordBytes.inc(n),
        onFile: () => metrics.recordFiles.inc(),
        onDropped: (reason, n) => metrics.recordDropped.labels(reason).inc(n),
      })
    : undefined
  // --- end record ---
  // HTTP tokens are applied on every reload (the listener itself needs a restart).
  const reloadHooks: ReloadHook[] = [(next) => httpAuth.reload(next.http)]
  let reloading: Promise<unknown> = Promise.resolve()
  let http: FastifyInstance | undefined
  let httpUrl: string | undefined
  let timer: NodeJS.Timeout | undefined
  let sinkStarts: Promise<void>[] = []
  let startedSources: Source[] = []
  let brokerStarted = false
  let opened = false
  const sinkStarted = new Map<string, string | true>()
  // Ends the start-up retries of sinks whose database is not reachable yet.
  const stopping = new AbortController()

  const refreshGauges = () => {
    const s = spool.stats()
    metrics.spoolDepth.set(s.pendingMax)
    metrics.spoolBytes.set(s.bytes)
  }

  const ctxFor = (src: Source): SourceContext => {
    const received = metrics.hot.received.cell({ source: src.id })
    return {
      log: log.child({ component: `source.${src.type}`, id: src.id }),
      // The pipeline counts what a batch received (readings accepted and refused); refusals before readings here.
      ingest: (b) => pipeline.ingest(b),
      reject: (r) => {
        received.n++
        return pipeline.reject(r)
      },
      devices,
      publish: (topic, payload, o) => broker.publish(topic, payload, o),
      dataDir: config.dataDir,
      now,
      ...(recorder ? { record: recorder.tap({ id: src.id, type: src.type }) } : {}),
      audit,
      metrics,
    }
  }

  async function health(): Promise<Record<string, ComponentHealth>> {
    const out: Record<string, ComponentHealth> = {}
    out['broker'] = broker.health()
    const st = spool.stats()
    out['spool'] = { status: 'ok', detail: `${st.pendingMax} points, ${st.bytes} bytes in ${st.segments} segments` }
    for (const [i, s] of sinks.entries()) {
      const started = sinkStarted.get(s.id)
      const h = started === true ? await s.health() : { status: 'down' as const, detail: `not started: ${started ?? 'starting'}` }
      const d = drains[i]!.health()
      out[`sink:${s.id}`] = h.status === 'ok' && d.status !== 'ok' ? d : { status: h.status, detail: `${h.detail ?? ''}; ${d.detail ?? ''}` }
    }
    if (sinks.length === 0) out['sinks'] = { status: 'degraded', detail: 'no sink configured: readings are kept in the spool' }
    for (const s of sources) out[`source:${s.id}`] = s.health?.() ?? { status: 'ok' }
    if (auditLog) out['audit'] = auditLog.health()
    // A sink's last error may echo what the database was sent (a credential in an error body).
    return redactor.scrubJson(out)
  }

  async function startSink(s: Sink, i: number): Promise<void> {
    // InfluxDB may be down at start-up: keep trying in the background; the spool holds readings meanwhile.
    // 0.5 s doubling up to 30 s, as before, without jitter (one gateway, one sink: nobody to spread from).
    const backoff = createBackoff({ minMs: 500, maxMs: 30_000, jitter: 0 })
    while (!stopping.signal.aborted) {
      try {
        await s.start()
        sinkStarted.set(s.id, true)
        drains[i]!.start()
        return
      } catch (err) {
        sinkStarted.set(s.id, (err as Error).message)
        if (backoff.attempts === 0) log.warn({ sink: s.id, err: (err as Error).message }, 'sink not ready; readings wait in the spool, retrying')
        await sleep(backoff.next(), stopping.signal)
      }
    }
  }

  /** Once a second: device presence, processor ticks (offline alarms, windows), the spool gauges. */
  function startTicker(): void {
    timer = setInterval(() => {
      const t = now()
      const pts = devices.tick(t)
      for (const p of processors) {
        try {
          const extra = p.tick?.(t)
          if (extra) pts.push(...extra)
        } catch (err) {
          log.error({ err, processor: p.id }, 'processor tick failed')
        }
      }
      if (pts.length > 0) void pipeline.writeInternal(pts)
      refreshGauges()
    }, 1000)
    timer.unref()
  }

  async function startHttp(): Promise<void> {
    const address = `${config.http.host}:${config.http.port}`
    let https: HttpsFiles | undefined
    if (config.http.tls) {
      const t = config.http.tls
      try {
        https = { cert: readFileSync(t.cert), key: readFileSync(t.key), ...(t.ca ? { ca: readFileSync(t.ca) } : {}) }
      } catch (err) {
        throw new StartError('http', err, { address })
      }
    }
    if (!httpAuth.enabled) log.warn({ host: config.http.host }, 'http: no tokens configured; every route (device writes included) is open to whoever reaches this loopback address')
    http = buildApp({
      auth: httpAuth,
      audit,
      // POST /api/reload: the tests' own, or the life cycle's reload of the configuration file (the route
      // audits it with the token's name, so the reload does not audit it again).
      ...(opts.reload
        ? { reload: opts.reload }
        : opts.loadConfig
          ? {
              reload: async (by: ReloadActor): Promise<HttpReloadResult> => {
                const r = await queuedReload(undefined, { ...by, audited: true })
                return r.ok ? { ok: true, detail: [...r.changes, ...r.restartNeeded.map((k) => `${k}: needs a restart`)].join('; ') || 'nothing changed' } : { ok: false, problems: r.problems }
              },
            }
          : {}),
      ...(https ? { https } : {}),
      health,
      metrics: redactedRegistry(metrics.registry, redactor),
      beforeMetrics: refreshGauges,
      // A device's options may hold a secret (a meter password): scrubbed like every other output.
      devices: () => redactor.scrubJson(devices.list()),
      async write(device, req) {
        const src = sources.find((s) => s.write && s.owns?.(device))
        return src?.write ? src.write(device, req) : undefined
      },
      extend: (app) => {
        registerAlarmRoutes(app, alarmStore, now, audit)
        live?.register(app, {
          district: config.gateway.district,
          gatewayId: config.gateway.id,
          devices: () => devices.list(),
          alarms: () => alarmStore.listActive(),
          counters: () => {
            let received = 0
            let accepted = 0
            for (const c of metrics.hot.received.values.values()) received += c.n
            for (const c of metrics.hot.accepted.values.values()) accepted += c.n
            return { received, accepted, rejected: received - accepted, spoolPoints: spool.stats().pendingMax }
          },
          webDir: findWebDir(),
        })
      },
    })
    httpUrl = await http.listen({ host: config.http.host, port: config.http.port }).catch((err: unknown) => {
      throw new StartError('http', err, { address })
    })
  }

  /**
   * Stop what `start` started, the reverse of its order, within `deadlineMs`: stop accepting (HTTP, broker),
   * sources (each waits for what it handed over to be durable or refused), the spool's staging buffer, the
   * sinks' writes in flight, then close. A step still running at the deadline is logged and left behind:
   * whatever it had not written is in the spool for the next start.
   */
  async function shutdown(deadlineMs = config.gateway.stopTimeoutSec * 1000): Promise<void> {
    // Once: `stop` after a start that failed (and has stopped everything) has nothing left to do.
    if (!opened) return
    opened = false
    // Real time, not `now` (tests inject a clock that does not move).
    const deadline = Date.now() + deadlineMs
    const late: string[] = []
    const step = async (what: string, run: () => Promise<unknown> | undefined): Promise<void> => {
      let t: NodeJS.Timeout | undefined
      const timedOut = await Promise.race([
        Promise.resolve()
          .then(run)
          .then(
            () => false,
            (err: unknown) => {
              log.warn({ err, step: what }, 'stop step failed')
              return false
            },
          ),
        new Promise<boolean>((r) => {
          t = setTimeout(() => r(true), Math.max(0, deadline - Date.now()))
        }),
      ])
      clearTimeout(t)
      if (timedOut) late.push(what)
    }
    stopping.abort()
    if (timer) clearInterval(timer)
    timer = undefined
    await step('http', () => http?.close())
    if (brokerStarted) await step('broker', () => broker.stop())
    brokerStarted = false
    for (const s of startedSources.reverse()) await step(`source ${s.id}`, () => s.stop())
    startedSources = []
    for (const p of processors) p.stop?.()
    await recorder?.close()
    spool.commitNow()
    await step('sink writes in flight', () => Promise.all(drains.map((d) => d.stop())))
    await step('sink start-up', () => Promise.all(sinkStarts))
    deadLetter.close()
    spool.close()
    for (const s of sinks) await step(`sink ${s.id} close`, () => s.close())
    auditLog?.close()
    if (late.length > 0) log.warn({ late, deadlineMs }, 'stop deadline passed: these steps were left running (what they had not written stays in the spool)')
  }

  /** Stop and forget a source; with `release`, it is gone for good (its MQTT route too). */
  async function stopSource(s: Source, release: boolean): Promise<void> {
    await s.stop().catch((err) => log.warn({ err, source: s.id }, 'source stop failed'))
    if (release) s.release?.()
    startedSources = startedSources.filter((x) => x !== s)
  }

  /** Start a source made from `c`; a failure is returned as text, nothing left running. */
  async function startSource(c: GatewayConfig['sources'][number]): Promise<Source | string> {
    let s: Source
    try {
      s = createSource(c, { mqtt: { broker } })
    } catch (err) {
      return (err as Error).message
    }
    startedSources.push(s)
    try {
      await s.start(ctxFor(s))
      return s
    } catch (err) {
      await stopSource(s, true)
      return err instanceof StartError ? err.message : (err as Error).message
    }
  }

  async function applyReload(input: GatewayConfig | ConfigResult | undefined, by: ReloadActor): Promise<ReloadResult> {
    const result: ReloadResult = { ok: false, changes: [], restartNeeded: [], problems: [] }
    let loaded: ConfigResult
    if (input === undefined) {
      if (!opts.loadConfig) {
        result.problems.push('no configuration file to read again (the gateway was started from data)')
        return finish(result, by, 'no_config_file')
      }
      loaded = await opts.loadConfig().catch((err: unknown) => ({ ok: false as const, problems: [(err as Error).message] }))
    } else {
      loaded = 'ok' in input ? input : { ok: true, config: input, warnings: [], secrets: [] }
    }
    if (!loaded.ok) {
      result.problems.push(...loaded.problems)
      return finish(result, by)
    }
    if (!opened) {
      result.problems.push('the gateway is not running')
      return finish(result, by, 'not_running')
    }
    const next = loaded.config
    const prev = config
    // Known before anything can print them.
    redactor.add([...loaded.secrets, ...findSecrets(next).values.map((v) => v.value)])

    for (const k of RESTART_KEYS) if (!same(prev[k], next[k])) result.restartNeeded.push(k)
    if (!same(brokerListeners(prev.broker), brokerListeners(next.broker))) result.restartNeeded.push('broker')
    if (!same(httpListener(prev.http), httpListener(next.http))) result.restartNeeded.push('http')
    const effective: GatewayConfig = { ...next }
    for (const k of result.restartNeeded) (effective as Record<string, unknown>)[k] = (prev as Record<string, unknown>)[k]
    // Listeners wait for a restart, credentials do not: the running listener's config with the new ones.
    if (result.restartNeeded.includes('http')) effective.http = { ...prev.http, ...pickKeys(next.http, HTTP_CREDENTIALS) }
    if (result.restartNeeded.includes('broker')) effective.broker = { ...prev.broker, ...pickKeys(next.broker, BROKER_CREDENTIALS) } as BrokerConfig

    if (prev.log.level !== next.log.level) {
      log.level = next.log.level
      result.changes.push(`log.level: ${next.log.level}`)
    }

    const inv = devices.setInventory(next.devices)
    for (const [what, ids] of Object.entries(inv)) if (ids.length > 0) result.changes.push(`devices: ${ids.length} ${what} (${ids.slice(0, 10).join(', ')}${ids.length > 10 ? ', ...' : ''})`)

    if (!same(prev.alarms.elevator, next.alarms.elevator)) {
      elevator.current.stop?.()
      elevator.current = makeElevator(effective)
      result.changes.push('alarms.elevator: rebuilt')
    }
    if (!same({ ...prev.alarms, elevator: undefined }, { ...next.alarms, elevator: undefined })) {
      const before = new Set(rules.current.rules())
      rules.current.stop?.()
      rules.current = makeRules(effective)
      // Their state starts again: an alarm still true is raised again after its duration.
      for (const a of alarmStore.listActive()) if (before.has(a.rule)) alarmStore.clear(a.rule, a.device)
      result.changes.push(`alarms: ${rules.current.rules().length} rules`)
    }

    // Credentials: the broker's users or password file, then the hooks (HTTP tokens).
    try {
      // Users, the password and ACL files, limits and renewed certificates (gateway/broker/security.ts).
      await broker.reload({ config: effective.broker })
      result.changes.push('broker: credentials, ACL and limits reloaded')
    } catch (err) {
      result.problems.push(`broker credentials: ${(err as Error).message}`)
    }

    // Sources: removed and changed ones stop first (a changed one may keep its port), then changed and
    // added ones start. A changed source that cannot start gets its old configuration back.
    const prevById = new Map(prev.sources.map((c) => [c.id, c]))
    const nextById = new Map(next.sources.map((c) => [c.id, c]))
    const running = new Map(sources.map((s) => [s.id, s]))
    const order: Source[] = []
    for (const c of prev.sources) {
      const s = running.get(c.id)
      const n = nextById.get(c.id)
      if (!s) continue
      if (!n) {
        await stopSource(s, true)
        running.delete(c.id)
        result.changes.push(`source ${c.id}: removed`)
      } else if (!same(c, n)) {
        await stopSource(s, false)
        running.delete(c.id)
      }
    }
    const kept: GatewayConfig['sources'] = []
    for (const n of next.sources) {
      const old = prevById.get(n.id)
      const s = running.get(n.id)
      if (s) {
        order.push(s)
        kept.push(n)
        continue
      }
      const started = await startSource(n)
      if (typeof started !== 'string') {
        order.push(started)
        kept.push(n)
        result.changes.push(`source ${n.id}: ${old ? 'restarted with its new configuration' : 'added'}`)
        continue
      }
      result.problems.push(`source ${n.id}: ${started}`)
      if (old) {
        const back = await startSource(old)
        if (typeof back !== 'string') {
          order.push(back)
          kept.push(old)
          result.problems.push(`source ${n.id}: running with its previous configuration`)
        } else {
          result.problems.push(`source ${n.id}: its previous configuration did not start either (${back}); it is stopped`)
        }
      }
    }
    sources.splice(0, sources.length, ...order)
    effective.sources = kept
    config = effective

    for (const hook of reloadHooks) {
      try {
        await hook(effective, prev)
      } catch (err) {
        result.problems.push(`reload step: ${(err as Error).message}`)
      }
    }
    result.ok = result.problems.length === 0
    return finish(result, by, 'partly_applied')
  }

  /** One reload at a time, in the order asked (SIGHUP, POST /api/reload). */
  function queuedReload(next?: GatewayConfig | ConfigResult, by: ReloadActor = SYSTEM): Promise<ReloadResult> {
    const r = reloading.then(() => applyReload(next, by))
    reloading = r.catch(() => undefined)
    return r
  }

  /** Count, log and audit a reload's outcome. */
  function finish(r: ReloadResult, by: ReloadActor, why = 'config_invalid'): ReloadResult {
    const outcome = r.ok ? 'ok' : 'failed'
    metrics.reloads.labels(outcome).inc()
    const detail = redactor.scrub((r.ok ? r.changes : r.problems).join('; ')).slice(0, 2000)
    if (!by.audited) audit.record({ actor: by.actor, actorType: by.actorType, action: 'config.reload', ...(by.address ? { address: by.address } : {}), outcome, ...(r.ok ? {} : { reason: why }), ...(detail ? { detail } : {}) })
    if (r.ok) log.info({ changes: r.changes, restartNeeded: r.restartNeeded }, 'configuration reloaded')
    else log.warn({ problems: r.problems, changes: r.changes }, r.changes.length > 0 ? 'configuration reload partly failed' : 'configuration reload failed; the running configuration stays')
    return r
  }

  async function startAll(): Promise<void> {
    deadLetter.open()
    spool.open()
    auditLog?.open()
    opened = true
    sinkStarts = sinks.map((s, i) => startSink(s, i))
    await Promise.race([Promise.all(sinkStarts), sleep(3000)])
    try {
      for (const s of sources) {
        // Counted before its start resolves: a source that fails half-way is stopped with the others.
        startedSources.push(s)
        await s.start(ctxFor(s)).catch((err: unknown) => {
          throw err instanceof StartError ? err : new StartError(`source.${s.type}`, err, { id: s.id })
        })
      }
      brokerStarted = true
      await broker.start().catch((err: unknown) => {
        throw err instanceof StartError ? err : new StartError('mqtt', err)
      })
      startTicker()
      if (config.http.enabled) await startHttp()
    } catch (err) {
      // A gateway that cannot start must not half-run (a broker taking QoS 1 publishes while the API is
      // dead): stop what started, in reverse, and let the caller exit.
      await shutdown()
      throw err
    }
    log.info({ mqtt: broker.url(), http: httpUrl, sinks: sinks.map((s) => s.id), sources: sources.map((s) => s.id) }, 'gateway started')
  }

  return {
    get config() {
      return config
    },
    redactor,
    log,
    metrics,
    pipeline,
    broker,
    alarms: alarmStore,
    audit,
    httpAuth,
    get http() {
      return http
    },
    health,
    endpoints: () => ({ mqtt: broker.url(), ...(httpUrl ? { http: httpUrl } : {}) }),
    async start() {
      // A reload asked for meanwhile (SIGHUP during start-up) waits until the start is over.
      let started: () => void = () => {}
      const starting = new Promise<void>((r) => {
        started = r
      })
      reloading = reloading.then(() => starting)
      try {
        await startAll()
      } finally {
        started()
      }
    },
    async stop(o = {}) {
      // A reload under way finishes first (within the same deadline), so no source it starts outlives the stop.
      const deadlineMs = o.deadlineMs ?? config.gateway.stopTimeoutSec * 1000
      const t0 = Date.now()
      let t: NodeJS.Timeout | undefined
      await Promise.race([reloading, new Promise((r) => (t = setTimeout(r, deadlineMs)))])
      clearTimeout(t)
      await shutdown(Math.max(0, deadlineMs - (Date.now() - t0)))
      log.info('gateway stopped')
    },
    reload: queuedReload,
    onReload(hook) {
      reloadHooks.push(hook)
    },
  }
}
