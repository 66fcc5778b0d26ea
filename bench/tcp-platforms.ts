/**
 * Benchmark: as many concurrent JT/T 808 terminals as the descriptor limit allows (`ulimit -n`; 20,000 here,
 * so 18,500 terminals and 1,000 stations), each reporting every 10 s, and 1,000 HJ 212 stations (a 2011
 * upload every 30 s) against one gateway. Every 10 s (BENCH_REPORT_SEC) it prints a line on stderr and keeps a
 * `windows` entry: that window's p99 acknowledgement, messages sent and not yet acknowledged, RSS, the cost
 * per connection ((RSS - idle RSS) / connections) and what 50,000 terminals would take at that cost
 * (issue 15 item 6: 600 MB). The gateway runs in this process (spool only, no sink: the
 * measured path is TCP -> decode -> spool -> acknowledgement); the load runs in a child process so that RSS
 * and CPU are the gateway's. Reports sustained messages per second, p50/p99 frame -> acknowledgement, peak
 * RSS, CPU, and loss (sent - accepted).
 *
 * Goal: no loss, p99 < 50 ms in every window, 50,000 terminals in 600 MB. Knobs (environment): BENCH_TERMINALS, BENCH_STATIONS,
 * BENCH_SECONDS (steady window, default 60), BENCH_INTERVAL (JT/T 808 report interval, default 10),
 * BENCH_HJ_INTERVAL (default 30), BENCH_STATUS_SEC (gateway.statusIntervalSec, default 60). Each connection needs a descriptor on both sides: `ulimit -n` must exceed
 * terminals + stations + a margin; the run is scaled down (and says so) when it does not.
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { parseConfig } from '../gateway/config.ts'
import { createGateway } from '../gateway/gateway.ts'
import { runIfMain } from './standalone.ts'

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address()
      srv.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))))
    })
  })
}

function fdLimit(): number {
  try {
    return Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim()) || 1024
  } catch {
    return 1024
  }
}

async function counter(gw: ReturnType<typeof createGateway>, name: string, labels: Record<string, string>): Promise<number> {
  const m = await gw.metrics.registry.getSingleMetric(name)?.get()
  let sum = 0
  for (const v of m?.values ?? []) if (Object.entries(labels).every(([k, x]) => String((v.labels as Record<string, unknown>)[k]) === x)) sum += v.value
  return sum
}

export async function run(): Promise<Record<string, unknown>> {
  const env = process.env
  let stations = Number(env['BENCH_STATIONS'] ?? 1_000)
  // Default: up to the descriptor limit (each connection needs one here and one in the load process).
  let terminals = Number(env['BENCH_TERMINALS'] ?? Math.max(100, fdLimit() - stations - 500))
  const seconds = Number(env['BENCH_SECONDS'] ?? 60)
  const interval = Number(env['BENCH_INTERVAL'] ?? 10)
  const hjInterval = Number(env['BENCH_HJ_INTERVAL'] ?? 30)
  const limit = fdLimit()
  const wanted = terminals + stations
  let scaled: string | undefined
  if (wanted + 500 > limit) {
    const f = (limit - 500) / wanted
    terminals = Math.floor(terminals * f)
    stations = Math.floor(stations * f)
    scaled = `ulimit -n is ${limit}: scaled down to ${terminals} terminals and ${stations} stations`
  }
  const dir = mkdtempSync(join(tmpdir(), 'bench-tcp-'))
  const jtPort = await freePort()
  const hjPort = await freePort()
  const cfg = parseConfig({
    dataDir: dir,
    http: { enabled: false },
    // device_status points for every device each interval (the gateway's default 60 s); BENCH_STATUS_SEC
    // changes it to show what that periodic burst costs the acknowledgement tail.
    gateway: { statusIntervalSec: Number(env['BENCH_STATUS_SEC'] ?? 60) },
    broker: { type: 'embedded', port: await freePort() },
    sinks: [],
    sources: [
      // maxConnections: the default (10,000) would refuse the terminals beyond it.
      { type: 'jt808', port: jtPort, rateLimitPerSec: 10, idleTimeoutSec: 600, maxConnections: 100_000 },
      { type: 'hj212', port: hjPort, defaultPassword: 'bench', idleTimeoutSec: 600, maxConnections: 100_000 },
    ],
  })
  if (!cfg.ok) throw new Error(cfg.problems.join('; '))
  const gw = createGateway(cfg.config, { log: pino({ level: 'silent' }) })
  await gw.start()
  global.gc?.()
  const rssIdle = process.memoryUsage().rss
  let peakRss = process.memoryUsage().rss
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss)
  }, 250)
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'tcp-platforms-load.ts'), ...[jtPort, hjPort, terminals, stations, seconds, interval, hjInterval].map(String)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    const lines: Record<string, unknown>[] = []
    const windows: Record<string, unknown>[] = []
    let rssIdleForWindows = rssIdle
    const connections = () => terminals + stations
    const onWindow = (l: Record<string, unknown>) => {
      const rss = process.memoryUsage().rss
      const perConnKb = (rss - rssIdleForWindows) / 1024 / connections()
      const w = {
        t: l['t'],
        ackP99Ms: l['ackP99Ms'],
        ackMaxMs: l['ackMaxMs'],
        acks: l['acks'],
        unacked: Number(l['sent']) - Number(l['acked']),
        rssMb: Math.round(rss / 1048576),
        kbPerConnection: Math.round(perConnKb * 10) / 10,
        mbFor50k: Math.round(rssIdleForWindows / 1048576 + (perConnKb * 50_000) / 1024),
      }
      windows.push(w)
      process.stderr.write(`tcp-platforms ${JSON.stringify(w)}\n`)
    }
    let buf = ''
    const waiters: ((l: Record<string, unknown>) => void)[] = []
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString()
      let nl = buf.indexOf('\n')
      while (nl >= 0) {
        const l = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>
        buf = buf.slice(nl + 1)
        if (l['phase'] === 'window') onWindow(l)
        else {
          lines.push(l)
          waiters.shift()?.(l)
        }
        nl = buf.indexOf('\n')
      }
    })
    const next = () => new Promise<Record<string, unknown>>((r) => waiters.push(r))
    const connected = await next()
    if (connected['phase'] !== 'connected') throw new Error(`load generator: ${JSON.stringify(connected)}`)
    const rssConnected = process.memoryUsage().rss
    rssIdleForWindows = rssIdle
    const acceptedBefore = await counter(gw, 'smartcity_readings_accepted_total', {})
    const lag = monitorEventLoopDelay({ resolution: 10 })
    lag.enable()
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    child.stdin.write('go\n')
    const done = await next()
    const wallS = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    lag.disable()
    const accepted = (await counter(gw, 'smartcity_readings_accepted_total', {})) - acceptedBefore
    const rejected = await counter(gw, 'smartcity_readings_rejected_total', {})
    if (done['phase'] !== 'done') throw new Error(`load generator: ${JSON.stringify(done)}`)
    const sent = Number(done['jt808Sent']) + Number(done['hj212Sent'])
    const worst = windows.reduce((a, w) => Math.max(a, Number(w['mbFor50k'])), 0)
    const worstP99 = windows.reduce((a, w) => Math.max(a, Number(w['ackP99Ms'])), 0)
    return {
      benchmark: 'tcp-platforms',
      terminals,
      stations,
      ...(scaled ? { scaled } : {}),
      fdLimit: limit,
      steadySeconds: seconds,
      statusIntervalSec: cfg.config.gateway.statusIntervalSec,
      connectSeconds: Math.round(Number(done['connectMs']) / 100) / 10,
      messagesSent: sent,
      messagesAccepted: accepted,
      lost: sent - accepted,
      rejected,
      jt808: { sent: done['jt808Sent'], acked: done['jt808Acked'], refused: done['jt808Refused'] },
      hj212: { sent: done['hj212Sent'], acked: done['hj212Acked'] },
      clientErrors: done['errors'],
      msgsPerSec: Math.round(accepted / wallS),
      ackP50Ms: done['ackP50Ms'],
      ackP99Ms: done['ackP99Ms'],
      ackMaxMs: done['ackMaxMs'],
      gatewayLoopLagP99Ms: Math.round(lag.percentile(99) / 1e4) / 100,
      gatewayLoopLagMaxMs: Math.round(lag.max / 1e4) / 100,
      clientLoopLagP99Ms: done['clientLoopLagP99Ms'],
      rssIdleMb: Math.round(rssIdle / 1048576),
      rssConnectedMb: Math.round(rssConnected / 1048576),
      /** Memory a connected, authenticated, silent device costs the gateway (RSS growth / connections). */
      kbPerConnection: Math.round((rssConnected - rssIdle) / 1024 / (terminals + stations)),
      rssPeakMb: Math.round(peakRss / 1048576),
      /** The largest of the windows' extrapolations: idle RSS + 50,000 x the cost per connection under traffic. */
      mbFor50kTerminals: worst,
      windows,
      cpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / (wallS * 1000)) * 1000) / 10,
      goals: { noLoss: sent === accepted, p99Under50Ms: Number(done['ackP99Ms']) < 50, everyWindowP99Under50Ms: worstP99 < 50, fits50kIn600Mb: worst > 0 && worst <= 600 },
    }
  } finally {
    clearInterval(sampler)
    await gw.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

runIfMain(import.meta.url, run)
