/**
 * Benchmark: 10,000 concurrent JT/T 808 terminals each reporting every 10 s and 1,000 HJ 212 stations (a 2011
 * upload every 30 s) against one gateway. The gateway runs in this process (spool only, no sink: the
 * measured path is TCP -> decode -> spool -> acknowledgement); the load runs in a child process so that RSS
 * and CPU are the gateway's. Reports sustained messages per second, p50/p99 frame -> acknowledgement, peak
 * RSS, CPU, and loss (sent - accepted).
 *
 * Goal: no loss, p99 < 50 ms, RSS < 400 MB. Knobs (environment): BENCH_TERMINALS, BENCH_STATIONS,
 * BENCH_SECONDS (steady window, default 30), BENCH_INTERVAL (JT/T 808 report interval, default 10),
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
  let terminals = Number(env['BENCH_TERMINALS'] ?? 10_000)
  let stations = Number(env['BENCH_STATIONS'] ?? 1_000)
  const seconds = Number(env['BENCH_SECONDS'] ?? 30)
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
      { type: 'jt808', port: jtPort, rateLimitPerSec: 10, idleTimeoutSec: 600 },
      { type: 'hj212', port: hjPort, defaultPassword: 'bench', idleTimeoutSec: 600 },
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
    let buf = ''
    const waiters: ((l: Record<string, unknown>) => void)[] = []
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString()
      let nl = buf.indexOf('\n')
      while (nl >= 0) {
        const l = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>
        buf = buf.slice(nl + 1)
        lines.push(l)
        waiters.shift()?.(l)
        nl = buf.indexOf('\n')
      }
    })
    const next = () => new Promise<Record<string, unknown>>((r) => waiters.push(r))
    const connected = await next()
    if (connected['phase'] !== 'connected') throw new Error(`load generator: ${JSON.stringify(connected)}`)
    const rssConnected = process.memoryUsage().rss
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
      cpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / (wallS * 1000)) * 1000) / 10,
      goals: { noLoss: sent === accepted, p99Under50Ms: Number(done['ackP99Ms']) < 50, rssUnder400Mb: peakRss < 400 * 1048576 },
    }
  } finally {
    clearInterval(sampler)
    await gw.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

runIfMain(import.meta.url, run)
