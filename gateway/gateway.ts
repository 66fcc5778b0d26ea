/**
 * Compose a gateway from a validated config: spool and dead-letter log, sinks with their drain loops, the
 * pipeline, the MQTT broker, sources, processors and the HTTP API. Start sinks, then the pipeline, then
 * sources, the broker and the HTTP API; stop in reverse (Telegraf agent.go). A component that cannot start
 * (a port already taken) stops what started before it and `start` rejects with a `StartError`
 * (code `start_failed`): the gateway runs whole or not at all. Sinks are the exception by design: InfluxDB
 * may be down at start-up, so they keep trying in the background while the spool holds readings.
 */
// First: makes disabled `debug` loggers no-ops before aedes, mqtt-packet and MQTT.js load them.
import './broker/quiet-debug.ts'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import pino from 'pino'
import { createAlarmProcessor } from './alarms/processor.ts'
import { registerAlarmRoutes } from './alarms/http.ts'
import { type AlarmStore, createAlarmStore, type PublishFn } from './alarms/store.ts'
import { type Broker, createBroker } from './broker/index.ts'
import type { GatewayConfig } from './config.ts'
import { createDeadLetterLog } from './core/deadletter.ts'
import { createDeviceRegistry } from './core/devices.ts'
import { createDrain, type Drain } from './core/drain.ts'
import { StartError } from './core/errors.ts'
import { createMetrics } from './core/metrics.ts'
import { createPipeline, type Pipeline } from './core/pipeline.ts'
import { createSpool } from './core/spool.ts'
import type { ComponentHealth, Logger, Processor, Sink, Source, SourceContext } from './core/types.ts'
import { buildApp } from './http/app.ts'
import { createLiveView } from './http/live.ts'
import { createElevatorProcessor } from './processors/elevator.ts'
import { createJt808AlarmProcessor } from './processors/jt808-alarms.ts'
import { createSink } from './sinks/index.ts'
import { createSource } from './sources/index.ts'
import { createBackoff } from './transports/backoff.ts'
import { sleep } from './transports/timers.ts'

export interface GatewayOptions {
  log?: Logger
  /** Extra processors (alarm rules, derived events). */
  processors?: Processor[]
  now?: () => number
}

export interface Gateway {
  config: GatewayConfig
  log: Logger
  metrics: ReturnType<typeof createMetrics>
  pipeline: Pipeline
  broker: Broker
  /** Active alarms (`/api/alarms`). */
  alarms: AlarmStore
  http: FastifyInstance | undefined
  start(): Promise<void>
  stop(): Promise<void>
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

export function createGateway(config: GatewayConfig, opts: GatewayOptions = {}): Gateway {
  const log = opts.log ?? pino({ level: config.log.level, base: { gateway: config.gateway.id } })
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
  const devices = createDeviceRegistry({ inventory: config.devices, defaultDistrict: config.gateway.district, offlineAfterSec: config.gateway.offlineAfterSec, statusIntervalSec: config.gateway.statusIntervalSec, metrics, now })
  // Built-in processors: elevator fault detection and the alarm rules; both publish on the broker.
  const alarmStore = createAlarmStore()
  const publish: PublishFn = (topic, payload, o) => broker.publish(topic, payload, o)
  const live = config.http.enabled && config.http.dashboard ? createLiveView() : undefined
  const processors: Processor[] = [
    ...(live ? [live.processor] : []),
    createElevatorProcessor(config.alarms.elevator, { publish, store: alarmStore, devices, now, log }),
    createJt808AlarmProcessor({ publish, store: alarmStore, log }),
    createAlarmProcessor(config.alarms, { publish, store: alarmStore, devices, now, log }),
    ...(opts.processors ?? []),
  ]
  const pipeline = createPipeline({ spool, deadLetter, devices, metrics, processors, log: log.child({ component: 'pipeline' }), now })
  const broker = createBroker(config.broker, log.child({ component: 'broker' }))
  const sinks: Sink[] = sinkCfgs.map((c) => createSink(c, log.child({ component: `sink.${c.type}`, id: c.id })))
  const drains: Drain[] = sinks.map((s, i) => createDrain(s, spool, deadLetter, metrics, log.child({ component: 'drain', id: s.id }), sinkCfgs[i]!))
  const sources: Source[] = config.sources.map((c) => createSource(c, { mqtt: { broker } }))
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
    return out
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
    http = buildApp({
      health,
      metrics: metrics.registry,
      beforeMetrics: refreshGauges,
      devices: () => devices.list(),
      async write(device, req) {
        const src = sources.find((s) => s.write && s.owns?.(device))
        return src?.write ? src.write(device, req) : undefined
      },
      extend: (app) => {
        registerAlarmRoutes(app, alarmStore, now)
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
      throw new StartError('http', err, { address: `${config.http.host}:${config.http.port}` })
    })
  }

  /** Stop what `start` started, the reverse of its order: HTTP, broker, sources, then the spool's side. */
  async function shutdown(): Promise<void> {
    // Once: `stop` after a start that failed (and has stopped everything) has nothing left to do.
    if (!opened) return
    opened = false
    stopping.abort()
    if (timer) clearInterval(timer)
    timer = undefined
    await http?.close()
    if (brokerStarted) await broker.stop().catch((err) => log.warn({ err }, 'broker stop failed'))
    brokerStarted = false
    for (const s of startedSources.reverse()) await s.stop().catch((err) => log.warn({ err, source: s.id }, 'source stop failed'))
    startedSources = []
    for (const p of processors) p.stop?.()
    spool.commitNow()
    await Promise.all(drains.map((d) => d.stop()))
    await Promise.all(sinkStarts)
    deadLetter.close()
    spool.close()
    for (const s of sinks) await s.close()
  }

  return {
    config,
    log,
    metrics,
    pipeline,
    broker,
    alarms: alarmStore,
    get http() {
      return http
    },
    health,
    endpoints: () => ({ mqtt: broker.url(), ...(httpUrl ? { http: httpUrl } : {}) }),
    async start() {
      deadLetter.open()
      spool.open()
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
    },
    async stop() {
      await shutdown()
      log.info('gateway stopped')
    },
  }
}
