/**
 * `smartcity simulate SCENARIO.yaml`: run a scenario against a gateway configuration and give a verdict.
 *
 * The runner starts InfluxDB (cli/influxd.ts) unless the configuration names one, runs the gateway as a
 * child process from the configuration (cli/simulate/gateway-process.ts: on free ports, its data in a run
 * directory, so it can be killed and started again), starts the scenario's simulators through the demo parts
 * (cli/simulate/devices.ts, cli/demo-parts/), applies the faults on schedule (cli/simulate/faults.ts),
 * records what every simulator had acknowledged (cli/simulate/truth.ts), then checks the expectations and
 * writes the summary, JUnit XML and JSON (cli/simulate/report.ts).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import pino from 'pino'
import { type GatewayConfig, loadConfig, parseConfig } from '../../gateway/config.ts'
import type { DemoContext } from '../demo-parts/types.ts'
import { portOr } from '../flags.ts'
import { findInfluxd, type Influxd, influxd } from '../influxd.ts'
import { checkDistricts, districtOf, inventoryFor } from './districts.ts'
import { createSimClock, startTimeOf } from './clock.ts'
import { idsOf, type PlanContext, type Planned, partFor, placeEntry, planEntry } from './devices.ts'
import { gatewayProcess } from './gateway-process.ts'
import { type Assertion, junitXml, type RunReport, summary } from './report.ts'
import { addHistograms, type AgeHistograms, checkLatency, checkStored, checkNoUnexpectedRefusals, checkPresence, checkRefusalCount, checkTransitions, cpuMeter, faultWindow, lossWindows, presenceWatcher, readRefusals, scrapeAges, transitions } from './expect.ts'
import { scheduleFaults } from './faults.ts'
import { findMosquitto, type Mosquitto, mosquitto } from './mosquitto.ts'
import { startProxy, type TcpProxy } from './proxy.ts'
import { createProgress } from './progress.ts'
import { type Expect, loadScenario, parseRunDuration, type Scenario } from './scenario.ts'
import { countPoints, createTruth, type InfluxTarget } from './truth.ts'

type Values = Record<string, string | boolean | undefined>

const str = (v: string | boolean | undefined) => (typeof v === 'string' ? v : undefined)

async function bounded<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let t: NodeJS.Timeout | undefined
  const r = await Promise.race([p.catch(() => undefined), new Promise<undefined>((ok) => (t = setTimeout(() => ok(undefined), ms)))])
  clearTimeout(t)
  return r
}


/**
 * Run a scenario file. SIGINT or SIGTERM (a CI job cancelled) stops the simulators, the gateway and the
 * InfluxDB the runner started before exiting (130, 143): a cancelled run leaves no process behind.
 */
export async function runSimulate(file: string | undefined, values: Values, out: (s: string) => void = defaultOut, opts: SimulateOptions = {}): Promise<number> {
  const abort: Abort = { cleanup: async () => {} }
  const onSignal = (sig: NodeJS.Signals) => {
    // simscen: a run without an end (duration forever) ends here, in order, and then gives its verdict.
    if (abort.endRun) {
      const end = abort.endRun
      abort.endRun = undefined
      process.once(sig, onSignal)
      end()
      return
    }
    out(`${sig}: stopping the simulators, the gateway and InfluxDB\n`)
    void bounded(abort.cleanup(), 20_000).finally(() => process.exit(sig === 'SIGINT' ? 130 : 143))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    return await simulate(file, values, out, abort, opts)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

const defaultOut = (s: string): void => void process.stdout.write(s)

interface Abort {
  cleanup(): Promise<void>
  /** Set while a run without an end is running: the first Ctrl-C (SIGINT, SIGTERM) ends it. */
  endRun?: (() => void) | undefined
}

// --- simscen: how `smartcity demo` runs its scenario through the runner ---
export interface SimulateOptions {
  /** The gateway configuration, already made (the demo's): instead of --gateway-config or one made here. */
  config?: { config: GatewayConfig; name: string }
  /** Keep the configuration's ports and data directory (the demo's 1883, 8080, data/demo) instead of free ones. */
  keepAddresses?: boolean
  /** No sink is fine: readings wait in the spool (the demo without InfluxDB); nothing is checked in InfluxDB. */
  allowNoSink?: boolean
  /** Not a test: no expectations, no summary, no reports; a gateway that cannot start throws its start error. */
  demo?: boolean
  /** The run directory (gateway configuration and log); kept. Default: a temporary one, removed after a pass. */
  runDir?: string
  /** Force the terminal view on or off (default: on when stdout is a terminal and the runner writes there). */
  tty?: boolean
  /** Once the gateway and the simulators are up: what runs where. */
  onUp?: (up: { config: GatewayConfig; plan: readonly Planned[]; gatewayPid: number | undefined }) => void
}

/** A gateway that could not start, as `smartcity gateway` reports it: its one stderr line, code start_failed when it exited 69. */
function startError(err: Error): Error {
  const line = /^smartcity: (.+)$/m.exec(err.message)?.[1]
  return Object.assign(new Error(line ?? err.message), /exited \(69\)/.test(err.message) ? { code: 'start_failed' } : {})
}

/** The points the gateway's sinks have written (`smartcity_points_written_total`, every sink), from /metrics. */
async function pointsWritten(base: string): Promise<number | undefined> {
  try {
    // Only that family (a gateway before `?name=` sends everything, which parses the same).
    const text = await (await fetch(new URL('/metrics?name=smartcity_points_written_total', base), { signal: AbortSignal.timeout(10_000) })).text()
    let n = 0
    for (const m of text.matchAll(/^smartcity_points_written_total(?:\{[^}]*\})? (\d+(?:\.\d+)?(?:e\+?\d+)?)$/gm)) n += Number(m[1])
    return n
  } catch {
    return undefined
  }
}
// --- end simscen ---

async function simulate(file: string | undefined, values: Values, out: (s: string) => void, abort: Abort, opts: SimulateOptions): Promise<number> {
  if (!file) {
    process.stderr.write('usage: smartcity simulate SCENARIO.yaml [--gateway-config FILE | --gateway URL] [--seed N] [--speed X] [--duration TIME] [--junit FILE] [--json FILE]\n')
    return 2
  }
  const loaded = await loadScenario(file)
  if (!loaded.ok) {
    process.stderr.write(`${file}: ${loaded.problems.length} problem(s)\n${loaded.problems.map((p) => `  ${p}\n`).join('')}`)
    return 2
  }
  const sc: Scenario = loaded.scenario
  // simscen: --duration (30s, 5m, a number of seconds, or forever) instead of the scenario's.
  if (values['duration'] !== undefined) {
    const raw = str(values['duration'])
    const d = raw === undefined ? undefined : parseRunDuration(/^\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw)
    if (d === undefined || d <= 0) {
      process.stderr.write(`--duration: not a time: ${values['duration']} (write e.g. 30s, 5m, a number of seconds, or forever)\n`)
      return 2
    }
    sc.duration = d
  }
  const seed = str(values['seed']) === undefined ? 1 : Number(values['seed'])
  const speed = str(values['speed']) === undefined ? 1 : Number(values['speed'])
  if (!Number.isInteger(seed)) {
    process.stderr.write(`--seed: not an integer: ${values['seed']}\n`)
    return 2
  }
  if (!(speed > 0 && speed <= 1000)) {
    process.stderr.write(`--speed: a factor above 0 and at most 1000: ${values['speed']}\n`)
    return 2
  }
  const gatewayUrl = str(values['gateway'])
  const configFile = str(values['gateway-config'])
  if (gatewayUrl && !configFile) {
    process.stderr.write('--gateway URL needs --gateway-config FILE too: the configuration tells where its sources listen and where it stores\n')
    return 2
  }
  const owned = gatewayUrl === undefined
  if (str(values['record']) !== undefined && !owned) {
    process.stderr.write('--record needs the gateway the runner starts: record a running gateway with its own --record or record: key\n')
    return 2
  }
  const t0 = Date.now()
  const runDir = opts.runDir ?? mkdtempSync(join(tmpdir(), `smartcity-simulate-${sc.name.replace(/[^A-Za-z0-9_-]/g, '_')}-`))
  const timeline: RunReport['timeline'] = []
  // simscen: a status block redrawn in place on a terminal, plain lines otherwise (cli/simulate/progress.ts).
  const progress = createProgress({ write: out, t0, plainEveryMs: Math.min(30_000, Math.max(5_000, sc.duration / speed / 10)), ...(opts.tty !== undefined ? { tty: opts.tty } : out === defaultOut ? {} : { tty: false }) })
  const note = (event: string) => {
    timeline.push({ atMs: Date.now() - t0, event })
    progress.line(event)
  }
  const assertions: Assertion[] = []
  const truth = createTruth()
  const durationMs = sc.duration / speed

  // The gateway configuration: the user's (validated as `smartcity gateway` would), or one made for the scenario.
  const cfgResult = opts.config
    ? { ok: true as const, config: opts.config.config, warnings: [] }
    : configFile
    ? await loadConfig(configFile)
    : parseConfig({
        gateway: { id: 'simulate', district: sc.district },
        // simscen: the scenario's devices with their districts (JT/T 808 and HJ 212 carry none on the wire).
        devices: inventoryFor(sc, idsOf),
        sources: [
          { type: 'mqtt' },
          ...(sc.devices.some((d) => d.protocol === 'jt808') ? [{ type: 'jt808' as const }] : []),
          ...(sc.devices.some((d) => d.protocol === 'hj212') ? [{ type: 'hj212' as const, defaultPassword: '123456' }] : []),
        ],
      })
  const cfgName = opts.config?.name ?? configFile ?? '(a configuration made for the scenario)'
  const report: RunReport = {
    scenario: sc.name,
    file,
    ok: false,
    startedAt: new Date(t0).toISOString(),
    durationMs: 0,
    seed,
    speed,
    runDir,
    gateway: { config: cfgName, started: owned, restarts: 0 },
    influx: { url: '', database: '', startedByRunner: false },
    devices: [],
    timeline,
    acknowledged: 0,
    assertions,
  }
  const finish = (): number => {
    report.durationMs = Date.now() - t0
    report.acknowledged = truth.acked()
    report.ok = assertions.every((a) => a.ok || a.skipped)
    // simdev: the ground truth for tools (and the reproducibility test): every acknowledged reading, in order.
    const truthFile = str(values['truth'])
    if (truthFile) {
      mkdirSync(dirname(resolve(truthFile)), { recursive: true })
      writeFileSync(truthFile, truth.all().map((p) => `${JSON.stringify(p)}\n`).join(''))
    }
    const junit = str(values['junit'])
    const json = str(values['json'])
    if (junit) {
      mkdirSync(dirname(resolve(junit)), { recursive: true })
      writeFileSync(junit, junitXml(report))
    }
    if (json) {
      mkdirSync(dirname(resolve(json)), { recursive: true })
      writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`)
    }
    if (existsSync(join(runDir, 'gateway.json'))) {
      writeFileSync(join(runDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`)
      writeFileSync(join(runDir, 'junit.xml'), junitXml(report))
    }
    // Nothing ran yet (a bad configuration, no InfluxDB): there is no run directory worth keeping.
    if (!existsSync(join(runDir, 'gateway.json')) && !opts.runDir) {
      rmSync(runDir, { recursive: true, force: true })
      report.runDir = ''
    }
    out(`\n${summary(report)}`)
    return report.ok ? 0 : 1
  }
  if (!cfgResult.ok) {
    assertions.push({ name: 'gateway configuration is valid', ok: false, message: `${cfgName}: ${cfgResult.problems.length} problem(s)`, details: cfgResult.problems })
    return finish()
  }
  assertions.push({ name: 'gateway configuration is valid', ok: true, message: cfgName, details: [] })
  const cfg: GatewayConfig = structuredClone(cfgResult.config)
  if (gatewayUrl) {
    // A gateway already running: its HTTP API must answer (200 or 503: up, or up with a component down).
    const status = await fetch(new URL('/healthz', gatewayUrl), { signal: AbortSignal.timeout(5_000) }).then(
      (r) => r.status,
      (err: Error) => `${err.message}${err.cause instanceof Error ? ` (${err.cause.message})` : ''}`,
    )
    const up = status === 200 || status === 503
    assertions.push({ name: 'gateway reachable', ok: up, message: up ? `${gatewayUrl} /healthz ${status}` : `${gatewayUrl}/healthz: ${status}`, details: [] })
    if (!up) return finish()
  }

  // --record DIR: the gateway the runner starts records what its sources receive (README "Record and replay").
  const recordDir = str(values['record'])
  if (recordDir !== undefined && owned) {
    cfg.record = { dir: resolve(recordDir), maxFileBytes: cfg.record?.maxFileBytes ?? 64 * 1024 * 1024, maxTotalBytes: cfg.record?.maxTotalBytes ?? 1024 * 1024 * 1024 }
  }
  // Where the gateway runs: free loopback ports and a run directory of its own.
  if (owned && !opts.keepAddresses) {
    cfg.dataDir = join(runDir, 'gateway')
    cfg.http = { ...cfg.http, enabled: true, host: '127.0.0.1', port: await portOr(0) }
    if (cfg.broker.type === 'embedded') cfg.broker = { ...cfg.broker, host: '127.0.0.1', port: await portOr(0) }
    for (const s of cfg.sources) if (s.type === 'jt808' || s.type === 'hj212') s.port = await portOr(0)
    // simdev: an etc-rsu source in server mode listens too (the simulated RSU dials it there).
    for (const s of cfg.sources) if (s.type === 'etc-rsu' && s.mode === 'server') s.port = await portOr(0)
    if (cfg.log.level !== 'silent') cfg.log.level = 'warn'
  }
  let db: Influxd | undefined
  let sink = cfg.sinks.find((s) => s.type === 'influx-v1')
  if (!sink && cfg.sinks.length > 0 && !opts.allowNoSink) {
    assertions.push({ name: 'readings stored', ok: false, message: 'this slice checks InfluxDB 1.x sinks (influx-v1) only; the configuration has only influx-v2 sinks', details: [] })
    return finish()
  }
  if (!sink && opts.allowNoSink) {
    // simscen (the demo without InfluxDB): readings wait in the spool; nothing to look up.
  } else if (!sink) {
    if (!owned) {
      assertions.push({ name: 'readings stored', ok: false, message: `${cfgName} has no sink, so there is nothing to check`, details: [] })
      return finish()
    }
    const bin = findInfluxd()
    if (!bin) {
      assertions.push({ name: 'InfluxDB available', ok: false, message: 'no InfluxDB: the configuration names none and influxd is not on the PATH (Debian: apt-get install influxdb)', details: [] })
      return finish()
    }
    db = influxd({ bin, dir: join(runDir, 'influxdb'), port: await portOr(0), rpcPort: await portOr(0) })
    const started = db
    abort.cleanup = () => started.stop()
    await db.start()
    const parsed = parseConfig({ sinks: [{ type: 'influx-v1', url: db.url, database: 'simulate', flushIntervalMs: 200, minBackoffMs: 100, maxBackoffMs: 2_000 }] })
    if (!parsed.ok) throw new Error(parsed.problems.join('; '))
    sink = parsed.config.sinks[0] as Extract<GatewayConfig['sinks'][number], { type: 'influx-v1' }>
    cfg.sinks.push(sink)
    report.influx.startedByRunner = true
  }
  const target: InfluxTarget = sink ? { url: sink.url, database: sink.database, username: sink.username, password: sink.password } : { url: '', database: '' }
  report.influx.url = target.url
  report.influx.database = target.database
  const checkCount = async (c: Expect['counts'][number], label = ''): Promise<Assertion> => {
    const name = `count ${c.measurement}${c.device ? ` ${c.device}` : ''}${label}`
    try {
      const n = await countPoints(target, c.measurement, c.device, since)
      const acked = truth.points().filter((p) => p.measurement === c.measurement && (c.device === undefined || p.device === c.device)).length
      const want = c.equals === 'acknowledged' ? acked : c.equals
      const bad = [want !== undefined && n !== want ? `expected ${want}` : '', c.min !== undefined && n < c.min ? `expected at least ${c.min}` : '', c.max !== undefined && n > c.max ? `expected at most ${c.max}` : ''].filter(Boolean)
      return { name, ok: bad.length === 0, message: `${n} point(s)${bad.length > 0 ? `, ${bad.join(', ')}` : ''}`, details: [] }
    } catch (err) {
      return { name, ok: false, message: `InfluxDB query failed: ${(err as Error).message}`, details: [] }
    }
  }

  // System faults the runner needs parts of its own for (cli/simulate/faults.ts): an external Mosquitto as
  // the gateway's broker (broker_restart), a TCP proxy between the gateway and InfluxDB (influx_network).
  // The runner checks InfluxDB directly, not through the proxy.
  let mq: Mosquitto | undefined
  let proxy: TcpProxy | undefined
  if (owned && sc.faults.some((f) => f.type === 'broker_restart')) {
    const bin = findMosquitto()
    if (bin) {
      mq = mosquitto({ bin, dir: join(runDir, 'mosquitto'), port: await portOr(0) })
      const m = mq
      const before = abort.cleanup
      abort.cleanup = async () => {
        await before()
        await m.stop()
      }
      try {
        await mq.start()
        const prev = cfg.broker.type === 'external' ? cfg.broker : undefined
        cfg.broker = { type: 'external', url: mq.url, clientId: prev?.clientId ?? 'smartcity-gateway', keepaliveSec: prev?.keepaliveSec ?? 30, connectWaitMs: prev?.connectWaitMs ?? 5_000 }
      } catch (err) {
        // The run goes on with the configuration's broker; the broker_restart fault says it was not applied.
        assertions.push({ name: 'MQTT broker for broker_restart starts', ok: false, message: (err as Error).message, details: [] })
        mq = undefined
      }
    } else {
      assertions.push({ name: 'MQTT broker for broker_restart starts', ok: false, message: 'mosquitto is not on the PATH (Debian: apt-get install mosquitto)', details: [] })
    }
  }
  if (owned && sink && sc.faults.some((f) => f.type === 'influx_network')) {
    const u = new URL(sink.url)
    proxy = await startProxy({ host: u.hostname, port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)) })
    const px = proxy
    const proxied = `${u.protocol}//127.0.0.1:${px.port}${u.pathname.replace(/\/$/, '')}`
    cfg.sinks = cfg.sinks.map((x) => (x === sink ? { ...x, url: proxied } : x))
  }

  // simdev: each entry planned against the configuration (cli/simulate/devices.ts planEntry); the value models' clock.
  const clock = createSimClock(startTimeOf(seed, sc.start_time), speed)
  const planCtx: PlanContext = { cfg, truth, seed, speed, clock, owned, generated: !configFile, unheard: new Map() }
  const plan: Planned[] = sc.devices.map((entry, index) => ({ ...planEntry(entry, index, cfg, cfgName, !configFile), unheard: planCtx.unheard, truth }))
  for (const p of plan) assertions.push({ name: `gateway serves ${p.label} (devices[${p.index}])`, ok: p.problem === undefined, message: p.problem ?? `${p.ids.length} device(s)`, details: [] })

  const runConfig = join(runDir, 'gateway.json')
  const gw = owned ? gatewayProcess(runConfig, join(runDir, 'gateway.log')) : undefined
  // Simulator hiccups (a reconnect while the gateway is down) are part of the faults; only errors are shown.
  const log = pino({ level: 'error' }, pino.destination(2))
  // A device clock skewed back (clock_skew) sends readings from before the run: look back that far too.
  const since = t0 - 60_000 - Math.max(0, ...sc.faults.map((f) => (f.type === 'clock_skew' ? -f.offset_ms : 0)))
  const stopped = new Set<Planned>()
  const stopAll = async () => {
    for (const p of plan) {
      if (!p.handle || stopped.has(p)) continue
      stopped.add(p)
      await bounded(p.handle.stop(), 10_000)
    }
  }
  let exitCode = 1
  abort.cleanup = async () => {
    await stopAll()
    await gw?.kill('SIGTERM')
    await db?.stop()
    await mq?.stop()
    await proxy?.close()
  }
  const ex = sc.expect
  const httpUrl = gatewayUrl ?? `http://127.0.0.1:${cfg.http.port}`
  // Measured while the run lasts: CPU from /proc, presence from /api/devices, the latency histograms of
  // gateway processes a kill fault ended (each process has its own).
  const cpu = cpuMeter(() => gw?.pid())
  const alarmsViaApi = ex.alarms.some((a) => a.via !== 'influx')
  const watcher = ex.presence || alarmsViaApi ? presenceWatcher(() => httpUrl, 500, { devices: ex.presence !== undefined, alarms: alarmsViaApi }) : undefined
  const agesOfKilled: AgeHistograms = new Map()
  const steps: NodeJS.Timeout[] = []
  const failEntry = (p: Planned, err: unknown) => {
    p.problem = `could not start: ${(err as Error).message}`
    const a = assertions.find((x) => x.name.endsWith(`(devices[${p.index}])`))
    if (a) Object.assign(a, { ok: false, message: p.problem })
    note(`not started: ${p.label}: ${p.problem}`)
  }
  try {
    // Simulators that are servers or serial peers start before the gateway (prepare); the gateway's sources are
    // pointed at them (the runner's gateway) or they sit where the configuration says (--gateway URL).
    const mqttUrl = cfg.broker.type === 'embedded' ? `mqtt://${cfg.broker.host === '0.0.0.0' ? '127.0.0.1' : cfg.broker.host}:${cfg.broker.port}` : cfg.broker.url
    const ctx: DemoContext = { district: sc.district, dataDir: runDir, log, freePort: () => portOr(0), mqttUrl }
    for (const p of plan) {
      if (p.problem) {
        note(`not started: ${p.label}: ${p.problem}`)
        continue
      }
      try {
        p.handle = await partFor(p, planCtx).prepare({ ...ctx, district: districtOf(p.entry, sc) })
        if (owned) placeEntry(p)
        if (!configFile && p.served) {
          // A configuration made for the scenario: the sources and inventory the part asks for.
          const add = parseConfig({ sources: p.handle.sources, devices: p.handle.devices })
          if (!add.ok) throw new Error(add.problems.join('; '))
          cfg.sources.push(...add.config.sources)
          // The scenario's inventory (with each entry's district and site) already names most of them.
          const have = new Set(cfg.devices.map((d) => d.id))
          cfg.devices.push(...add.config.devices.filter((d) => !have.has(d.id)))
        }
      } catch (err) {
        failEntry(p, err)
      }
    }
    writeFileSync(runConfig, `${JSON.stringify(cfg, null, 2)}\n`)
    if (gw) {
      try {
        await gw.start()
      } catch (err) {
        // simscen: the demo exits as `smartcity gateway` does (69 and its one line) when the gateway cannot start.
        if (opts.demo) throw startError(err as Error)
        assertions.push({ name: 'gateway starts', ok: false, message: (err as Error).message, details: [] })
        return finish()
      }
      cpu.mark()
      note(`gateway up (child process ${gw.pid()}, config ${runConfig})`)
    }
    for (const p of plan) {
      if (!p.handle) continue
      try {
        await p.handle.start()
      } catch (err) {
        failEntry(p, err)
      }
    }
    note(`simulators up: ${plan.filter((p) => p.handle).reduce((n, p) => n + p.ids.length, 0)} devices; running ${Number.isFinite(durationMs) ? `${Math.round(durationMs / 100) / 10} s` : 'until Ctrl-C'}`)
    opts.onUp?.({ config: cfg, plan, gatewayPid: gw?.pid() })

    // Faults on schedule (times scale with --speed like the periods): cli/simulate/faults.ts.
    // NMEA fixes and DL/T 645 and Modbus answers are matched with the gateway's record of each; one lost to the
    // kill is accounted in its loss window (expect.ts lossWindows). ETC passages are forgotten here.
    const answered = new Set(['nmea', 'dlt645', 'modbus-tcp', 'modbus-rtu', 'modbus-rtu-over-tcp'])
    const polledIds = plan.filter((p) => p.served !== undefined && !answered.has(p.entry.protocol)).flatMap((p) => p.ids)
    const faults = scheduleFaults(sc.faults, {
      speed,
      durationMs,
      note,
      targets: {
        plan,
        gateway: gw,
        influx: db,
        broker: mq,
        influxProxy: proxy,
        async beforeGatewayKill() {
          cpu.sample()
          addHistograms(agesOfKilled, await scrapeAges(httpUrl))
          // A poll or passage in flight when it dies is answered but never stored.
          for (const id of polledIds) {
            truth.forget(id, Date.now() - 3_000)
            planCtx.unheard.set(id, Number.POSITIVE_INFINITY)
          }
        },
        onGatewayRestart() {
          report.gateway.restarts++
          cpu.mark()
          for (const id of polledIds) planCtx.unheard.set(id, Date.now() + 3_000)
        },
      },
    })
    // simscen: progress (cli/simulate/progress.ts); a run without an end, or the demo's, ends on Ctrl-C.
    const metricsUrl = gatewayUrl ?? (cfg.http.enabled ? `http://${cfg.http.host === '0.0.0.0' ? '127.0.0.1' : cfg.http.host}:${cfg.http.port}` : undefined)
    let stored: number | undefined
    // One family of /metrics (the whole text of a gateway with 10,000 devices is megabytes), asked one at a
    // time, at least 5 s apart and 20 times as long as the last one took: watching costs the gateway little.
    let nextScrape = 0
    let scraping = false
    const planned = plan.reduce((n, p) => n + p.ids.length, 0)
    const ticker = setInterval(() => {
      if (metricsUrl && !scraping && Date.now() >= nextScrape) {
        scraping = true
        const began = Date.now()
        void pointsWritten(metricsUrl).then((n) => {
          if (n !== undefined) stored = n
          scraping = false
          nextScrape = Date.now() + Math.max(5_000, 20 * (Date.now() - began))
        })
      }
      const up = plan.filter((p) => p.handle).reduce((n, p) => n + p.ids.length, 0)
      progress.update({ devicesUp: up, devicesPlanned: planned, acknowledged: truth.acked(), stored, faultsApplied: faults.applied(), faultsPlanned: faults.planned, leftMs: t0 + durationMs - Date.now() })
    }, 1_000)
    ticker.unref()
    const runStart = Date.now()
    // Expectations checked at a step of the run (`at:`), scenario time like the faults'.
    const stepPending: Promise<void>[] = []
    const notYet = new Set<string>()
    const step = (atMs: number, name: string, check: () => Promise<Assertion[]>) => {
      notYet.add(name)
      steps.push(
        setTimeout(() => {
          notYet.delete(name)
          stepPending.push(
            check().then(
              (a) => void assertions.push(...a),
              (err: Error) => void assertions.push({ name: `check at ${atMs / 1000} s`, ok: false, message: err.message, details: [] }),
            ),
          )
        }, atMs / speed),
      )
    }
    const stepLabel = (atMs: number) => ` at ${atMs / 1000} s`
    ex.counts.forEach((c, i) => {
      if (c.at !== undefined) step(c.at, `expect.counts[${i}]`, async () => [await checkCount(c, stepLabel(c.at!))])
    })
    ex.refusals.forEach((c, i) => {
      if (c.at !== undefined) step(c.at, `expect.refusals[${i}]`, async () => [checkRefusalCount(c, readRefusals(cfg.dataDir, t0), stepLabel(c.at!))])
    })
    const ended = new Promise<void>((ok) => {
      if (!Number.isFinite(durationMs) || opts.demo) abort.endRun = ok
    })
    await (Number.isFinite(durationMs) ? Promise.race([sleep(durationMs), ended]) : ended)
    abort.endRun = undefined
    clearInterval(ticker)
    progress.done()
    if (opts.demo) note('stopping...')
    // --- end simscen ---
    for (const t of steps) clearTimeout(t)
    await faults.stop()
    await Promise.all(stepPending)
    for (const n of notYet) assertions.push({ name: `${n} at its step`, ok: false, message: 'not checked: the run ended before its time', details: [] })
    const stopping = Date.now()
    await stopAll()
    // CPU over the run itself (the settle phase below is the runner's queries, not the district's load).
    const cpuOfRun = cpu.share()
    note(`simulators stopped after ${Math.round((Date.now() - runStart) / 1000)} s: ${truth.acked()} readings acknowledged`)
    for (const p of plan) report.devices.push({ entry: `${p.label} (devices[${p.index}])`, ids: p.ids, acknowledged: p.ids.reduce((n, id) => n + truth.ackedBy(id), 0), started: p.handle !== undefined })
    if (sc.faults.length > 0) assertions.push({ name: 'faults applied as scheduled', ok: faults.problems.length === 0, message: faults.problems.length === 0 ? `${faults.applied()} fault(s)` : `${faults.problems.length} fault(s) not applied`, details: faults.problems })

    if (gw) {
      const exits = gw.unexpectedExits()
      assertions.push({ name: 'gateway kept running', ok: exits.length === 0 && gw.running(), message: exits.length === 0 ? (gw.running() ? 'no exit but the ones the faults caused' : 'not running at the end') : `${exits.length} unexpected exit(s)`, details: exits })
    }
    // simscen: the demo is not a test; everything stops in the finally below.
    if (opts.demo) return 0
    // Expectations. Stored readings: wait (up to `settle`) for the spool to drain, then compare point by point.
    const settleDeadline = Date.now() + sc.settle
    if (ex.readings_stored === 'all_acknowledged') assertions.push(await checkStored(target, truth, since, settleDeadline, () => ({ refused: readRefusals(cfg.dataDir, t0), windows: lossWindows(faults.occurrences, runStart, stopping) })))
    for (const c of ex.counts) if (c.at === undefined) assertions.push(await checkCount(c))
    const refusals = readRefusals(cfg.dataDir, t0)
    const noUnexpected = checkNoUnexpectedRefusals(ex.no_unexpected_refusals, refusals, faults.expectedRefusals)
    if (noUnexpected) assertions.push(noUnexpected)
    for (const c of ex.refusals) if (c.at === undefined) assertions.push(checkRefusalCount(c, refusals))
    // Alarms and elevator events: their points in InfluxDB (drained by now, or within what is left of `settle`).
    const windowed = [...ex.alarms.map((a) => ({ what: 'alarm' as const, key: a.rule, e: a, kind: a.kind, via: a.via })), ...ex.events.map((e) => ({ what: 'elevator_event' as const, key: e.event, e, kind: undefined, via: 'influx' as const }))]
    for (const w of windowed) {
      const name = `${w.what === 'alarm' ? 'alarm' : 'elevator event'} ${w.key}${w.e.device ? ` ${w.e.device}` : ''}${w.e.clears ? ' fires and clears' : ' fires'}${w.e.fault !== undefined ? ` (faults[${w.e.fault}])` : ''}${w.via === 'influx' ? '' : ` (${w.via === 'api' ? '/api/alarms' : 'InfluxDB and /api/alarms'})`}`
      const win = faultWindow(w.e.fault, faults.occurrences, runStart)
      const influxCheck = async (): Promise<Assertion> => {
        try {
          return checkTransitions(name, w.e, await transitions(target, w.what, w.key, { device: w.e.device, kind: w.kind }, since), win, speed, sc.faults)
        } catch (err) {
          return { name, ok: false, message: `InfluxDB query failed: ${(err as Error).message}`, details: [] }
        }
      }
      // The watcher goes on sampling /api/alarms meanwhile: a clear may come after the run.
      const apiCheck = (): Assertion => (watcher ? checkTransitions(name, w.e, watcher.alarms(w.key, w.e.device), win, speed, sc.faults) : { name, ok: false, message: 'not sampled', details: [] })
      let a: Assertion
      for (;;) {
        if (w.via === 'influx') a = await influxCheck()
        else if (w.via === 'api') a = apiCheck()
        else {
          const [i, p] = [await influxCheck(), apiCheck()]
          a = { name, ok: i.ok && p.ok, message: `InfluxDB: ${i.message}; /api/alarms: ${p.message}`, details: [...i.details, ...p.details] }
        }
        if (a.ok || Date.now() >= settleDeadline) break
        await sleep(1_000)
      }
      assertions.push(a)
    }
    if (ex.presence && watcher) {
      watcher.stop()
      const p = checkPresence(ex.presence, sc.faults, faults.occurrences, watcher, runStart, speed)
      assertions.push(...(p.length > 0 ? p : [{ name: 'presence', ok: false, message: 'nothing to check: no device_silent fault and no presence check', details: [] }]))
    }
    if (ex.latency) {
      const ages: AgeHistograms = new Map()
      addHistograms(ages, agesOfKilled)
      try {
        addHistograms(ages, await scrapeAges(httpUrl))
        const l = checkLatency(ex.latency, ages, [...new Set(truth.points().map((p) => p.measurement))])
        if (l.p50Ms !== undefined && l.p99Ms !== undefined) report.latency = { p50Ms: l.p50Ms, p99Ms: l.p99Ms }
        assertions.push(l.assertion)
      } catch (err) {
        assertions.push({ name: 'latency device to stored', ok: false, message: `${httpUrl}/metrics: ${(err as Error).message}`, details: [] })
      }
    }
    if (ex.max_cpu_share !== undefined) {
      const c = cpuOfRun
      const name = `gateway CPU at most ${ex.max_cpu_share} of one core`
      if (c) report.gateway.cpuShare = c.share
      assertions.push(
        c === undefined
          ? { name, ok: false, skipped: true, message: 'not measured: the runner did not start the gateway', details: [] }
          : { name, ok: c.share <= ex.max_cpu_share, message: `${c.share.toFixed(3)} of one core (${c.cpuSec.toFixed(1)} s CPU over the ${c.wallSec.toFixed(1)} s of the run it was up)`, details: [] },
      )
    }
    // simscen: the district tags of a multi-district run.
    if (ex.districts_apart) assertions.push(await checkDistricts(target, plan, sc, since))
    if (ex.max_rss_mb !== undefined) {
      const peak = gw?.peakRssMb()
      if (peak !== undefined) report.gateway.peakRssMb = peak
      assertions.push(
        peak === undefined
          ? { name: `gateway peak RSS at most ${ex.max_rss_mb} MB`, ok: false, skipped: true, message: 'not measured: the runner did not start the gateway', details: [] }
          : { name: `gateway peak RSS at most ${ex.max_rss_mb} MB`, ok: peak <= ex.max_rss_mb, message: `peak ${peak.toFixed(1)} MB`, details: [] },
      )
    }
    exitCode = finish()
  } finally {
    for (const t of steps) clearTimeout(t)
    watcher?.stop()
    cpu.stop()
    await stopAll()
    await gw?.kill('SIGTERM')
    gw?.close()
    await db?.stop()
    await mq?.stop()
    await proxy?.close()
  }
  // A passing run leaves nothing behind; a failing one keeps its gateway log, dead letters and reports.
  if (exitCode === 0 && !opts.runDir) rmSync(runDir, { recursive: true, force: true })
  return exitCode
}
