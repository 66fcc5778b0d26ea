/**
 * Benchmark: as many concurrent JT/T 808 terminals as the descriptor limit allows (`ulimit -n`; 20,000 here,
 * so 18,500 terminals beside 1,000 stations), each reporting every 10 s, and 1,000 HJ 212 stations (a 2011
 * upload every 30 s) against one gateway. The gateway runs in a process of its own
 * (bench/tcp-platforms-gateway.ts: spool only, no sink, so the measured path is TCP -> decode -> spool ->
 * acknowledgement) and the load in another (bench/tcp-platforms-load.ts), so RSS and CPU are the gateway's.
 *
 * Every 10 s (BENCH_REPORT_SEC) it prints a line on stderr and keeps a `windows` entry: that window's p50/p99
 * acknowledgement, messages not yet acknowledged, the gateway's RSS, CPU and event-loop delay, the cost per
 * connection ((RSS - idle RSS) / connections) and what 50,000 terminals would take at that cost. At the end:
 * loss (sent - accepted), the figures of the whole run, and the cost per connection of connected,
 * authenticated, silent devices after a GC (`kbPerConnectionIdle`), the one the 600 MB goal is computed from.
 *
 * Goal (issue 15 item 6): no loss, p99 < 50 ms in every window, idle RSS + 50,000 x the cost per connection
 * within 600 MB. Knobs (environment): BENCH_TERMINALS, BENCH_STATIONS, BENCH_SECONDS (steady window,
 * default 60), BENCH_INTERVAL (JT/T 808 report interval, default 10), BENCH_HJ_INTERVAL (default 30),
 * BENCH_STATUS_SEC (gateway.statusIntervalSec, default 60). Each connection needs a descriptor on both sides:
 * `ulimit -n` must exceed terminals + stations + a margin; the run is scaled down (and says so) when it does not.
 */
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
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

type Msg = Record<string, unknown>

/** Ask the gateway process something and wait for its reply of the same name. */
function ask(gw: ChildProcess, what: string): Promise<Msg> {
  return new Promise((resolve, reject) => {
    const onMsg = (m: Msg) => {
      if (m['reply'] !== what) return
      gw.off('message', onMsg)
      gw.off('exit', onExit)
      resolve(m)
    }
    const onExit = (code: number | null) => reject(new Error(`gateway process exited (${code}) before answering ${what}`))
    gw.on('message', onMsg)
    gw.once('exit', onExit)
    if (what !== 'ready') gw.send({ ask: what })
  })
}

const mb = (b: number) => Math.round(b / 1048576)

export async function run(): Promise<Record<string, unknown>> {
  const env = process.env
  const limit = fdLimit()
  let stations = Number(env['BENCH_STATIONS'] ?? 1_000)
  // Default: up to the descriptor limit (each connection needs one here and one in the load process).
  let terminals = Number(env['BENCH_TERMINALS'] ?? Math.max(100, limit - stations - 500))
  const seconds = Number(env['BENCH_SECONDS'] ?? 60)
  const interval = Number(env['BENCH_INTERVAL'] ?? 10)
  const hjInterval = Number(env['BENCH_HJ_INTERVAL'] ?? 30)
  const wanted = terminals + stations
  let scaled: string | undefined
  if (wanted + 500 > limit) {
    const f = (limit - 500) / wanted
    terminals = Math.floor(terminals * f)
    stations = Math.floor(stations * f)
    scaled = `ulimit -n is ${limit}: scaled down to ${terminals} terminals and ${stations} stations`
  }
  const connections = terminals + stations
  const dir = mkdtempSync(join(tmpdir(), 'bench-tcp-'))
  const jtPort = await freePort()
  const hjPort = await freePort()
  const statusIntervalSec = Number(env['BENCH_STATUS_SEC'] ?? 60)
  const config = {
    dataDir: dir,
    http: { enabled: false },
    // device_status points for every device each interval (the gateway's default 60 s); BENCH_STATUS_SEC
    // changes it to show what that periodic burst costs the acknowledgement tail.
    gateway: { statusIntervalSec },
    broker: { type: 'embedded', port: await freePort() },
    sinks: [],
    sources: [
      // maxConnections: the default (10,000) would refuse the terminals beyond it.
      { type: 'jt808', port: jtPort, rateLimitPerSec: 10, idleTimeoutSec: 600, maxConnections: 100_000 },
      { type: 'hj212', port: hjPort, defaultPassword: 'bench', idleTimeoutSec: 600, maxConnections: 100_000 },
    ],
  }
  const gw = fork(join(import.meta.dirname, 'tcp-platforms-gateway.ts'), [JSON.stringify(config)], { execArgv: ['--import', 'tsx', '--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  let child: ReturnType<typeof spawn> | undefined
  try {
    await ask(gw, 'ready')
    await new Promise((r) => setTimeout(r, 500))
    const idle = await ask(gw, 'memory')
    const rssIdle = Number(idle['rss'])
    const load = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'tcp-platforms-load.ts'), ...[jtPort, hjPort, terminals, stations, seconds, interval, hjInterval].map(String)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    child = load
    const windows: Msg[] = []
    const waiters: ((l: Msg) => void)[] = []
    let chain = Promise.resolve()
    const onWindow = async (l: Msg) => {
      const g = await ask(gw, 'window')
      const rss = Number(g['rss'])
      const perConnKb = (rss - rssIdle) / 1024 / connections
      const w = {
        t: l['t'],
        ackP50Ms: l['ackP50Ms'],
        ackP99Ms: l['ackP99Ms'],
        ackMaxMs: l['ackMaxMs'],
        acks: l['acks'],
        unacked: Number(l['sent']) - Number(l['acked']),
        rssMb: mb(rss),
        kbPerConnection: Math.round(perConnKb * 10) / 10,
        mbFor50k: Math.round(rssIdle / 1048576 + (perConnKb * 50_000) / 1024),
        gatewayCpuPercent: g['cpuPercent'],
        gatewayLoopLagMaxMs: g['loopLagMaxMs'],
      }
      windows.push(w)
      process.stderr.write(`tcp-platforms ${JSON.stringify(w)}\n`)
    }
    let buf = ''
    load.stdout!.on('data', (d: Buffer) => {
      buf += d.toString()
      let nl = buf.indexOf('\n')
      while (nl >= 0) {
        const l = JSON.parse(buf.slice(0, nl)) as Msg
        buf = buf.slice(nl + 1)
        // Windows are answered in order; the final line waits for the windows before it.
        if (l['phase'] === 'window') chain = chain.then(() => onWindow(l))
        else chain = chain.then(() => waiters.shift()?.(l))
        nl = buf.indexOf('\n')
      }
    })
    const next = () => new Promise<Msg>((r) => waiters.push(r))
    const connected = await next()
    if (connected['phase'] !== 'connected') throw new Error(`load generator: ${JSON.stringify(connected)}`)
    await new Promise((r) => setTimeout(r, 1000))
    const conn = await ask(gw, 'memory')
    const rssConnected = Number(conn['rss'])
    const start = await ask(gw, 'start-window')
    load.stdin!.write('go\n')
    const done = await next()
    const end = await ask(gw, 'window')
    if (done['phase'] !== 'done') throw new Error(`load generator: ${JSON.stringify(done)}`)
    const accepted = Number(end['accepted']) - Number(start['accepted'])
    const wallS = seconds + 0.001
    const sent = Number(done['jt808Sent']) + Number(done['hj212Sent'])
    const kbIdle = (rssConnected - rssIdle) / 1024 / connections
    const worstP99 = windows.reduce((a, w) => Math.max(a, Number(w['ackP99Ms'])), 0)
    const worst50k = windows.reduce((a, w) => Math.max(a, Number(w['mbFor50k'])), 0)
    const mbFor50kIdle = Math.round(rssIdle / 1048576 + (kbIdle * 50_000) / 1024)
    return {
      benchmark: 'tcp-platforms',
      terminals,
      stations,
      ...(scaled ? { scaled } : {}),
      fdLimit: limit,
      steadySeconds: seconds,
      statusIntervalSec,
      connectSeconds: Math.round(Number(done['connectMs']) / 100) / 10,
      messagesSent: sent,
      messagesAccepted: accepted,
      lost: sent - accepted,
      rejected: end['rejected'],
      jt808: { sent: done['jt808Sent'], acked: done['jt808Acked'], refused: done['jt808Refused'] },
      hj212: { sent: done['hj212Sent'], acked: done['hj212Acked'] },
      clientErrors: done['errors'],
      msgsPerSec: Math.round(accepted / wallS),
      ackP50Ms: done['ackP50Ms'],
      ackP99Ms: done['ackP99Ms'],
      ackMaxMs: done['ackMaxMs'],
      gatewayCpuPercent: end['cpuPercent'],
      gatewayLoopLagP99Ms: end['loopLagP99Ms'],
      gatewayLoopLagMaxMs: end['loopLagMaxMs'],
      clientLoopLagP99Ms: done['clientLoopLagP99Ms'],
      rssIdleMb: mb(rssIdle),
      rssConnectedMb: mb(rssConnected),
      /** Memory a connected, authenticated, silent device costs the gateway (RSS growth after a GC / connections). */
      kbPerConnectionIdle: Math.round(kbIdle * 10) / 10,
      /** Idle RSS + 50,000 x that cost: the 600 MB goal. */
      mbFor50kTerminals: mbFor50kIdle,
      /** The same at the worst window's cost under traffic (queued work and garbage not yet collected included). */
      mbFor50kTerminalsUnderLoad: worst50k,
      rssPeakMb: mb(Number(end['peakRss'])),
      windows,
      goals: { noLoss: sent === accepted, everyWindowP99Under50Ms: windows.length > 0 && worstP99 < 50, fits50kIn600Mb: mbFor50kIdle <= 600 },
    }
  } finally {
    child?.kill()
    await ask(gw, 'stop').catch(() => undefined)
    gw.kill()
    rmSync(dir, { recursive: true, force: true })
  }
}

runIfMain(import.meta.url, run)
