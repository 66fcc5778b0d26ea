/**
 * Issue 12 benchmark (`npm run bench -- load [--minutes N] [--runs N]`): the shipped `load` scenario
 * (simulators/scenarios/load.yaml, 10,000 devices at field reporting rates) run by `smartcity simulate`
 * for N minutes (5 by default) against a gateway child process, and measured from outside:
 *
 * - readings/s: readings the simulators had acknowledged during the run window, per second; points/s: the
 *   points InfluxDB accepted (readings plus the gateway's device_status, alarm and derived points);
 * - the gateway's CPU as a share of one core over the run window (utime+stime from /proc/<pid>/stat) and
 *   its peak RSS (VmHWM from /proc/<pid>/status);
 * - end-to-end latency, device send to stored: the gateway writes to InfluxDB through a small HTTP proxy
 *   here that, when InfluxDB answers 204 to a write, takes (now - point time) of every line in it. Only
 *   readings whose time is the device's send time to the millisecond count (MQTT water stations and
 *   elevators stamp `ts` with the clock they publish with, on this machine); JT/T 808 and HJ 212 times are
 *   whole seconds and HJ 212 minute data is stamped with its minute, so they would read up to 1 s or 60 s
 *   late and are left out. (Task simfault's latency assertion, once merged, measures inside the gateway.)
 * - zero loss: the runner's point-by-point check of every acknowledged reading (`readings stored`).
 *
 * SMARTCITY_GATEWAY_NODE_OPTIONS gives the gateway process (only it) Node options, to measure a heap limit
 * as a systemd unit or container would set it (`--max-old-space-size`, `--max-semi-space-size`).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { portOr } from '../cli/flags.ts'
import { findInfluxd, influxd } from '../cli/influxd.ts'
import type { RunReport } from '../cli/simulate/report.ts'
import { runIfMain } from './standalone.ts'

const ROOT = join(import.meta.dirname, '..')
const TICK = 100 // USER_HZ on Linux

function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ')
  return ((Number(rest[11]) + Number(rest[12])) * 1000) / TICK
}

function hwmMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : 0
}

/** `--minutes N`, `--runs N` from the command line (bench/run.ts passes its argv through). */
export function argOf(name: string, dflt: number, argv = process.argv): number {
  const i = argv.indexOf(`--${name}`)
  const v = i >= 0 ? Number(argv[i + 1]) : Number.NaN
  return Number.isFinite(v) && v > 0 ? v : dflt
}

/** A value's place in a sorted list (nearest rank). */
const quantile = (sorted: readonly number[], q: number) => (sorted.length === 0 ? undefined : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))])

/**
 * The InfluxDB proxy: forwards every request; for each write InfluxDB accepted, the latency of each line
 * whose time is a device's millisecond send time, and the number of lines.
 */
function latencyProxy(target: string): { server: Server; latencies: number[]; lines: () => number; window: { open: boolean } } {
  const latencies: number[] = []
  let lines = 0
  const window = { open: false }
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      const headers: Record<string, string> = {}
      for (const h of ['content-type', 'authorization']) if (typeof req.headers[h] === 'string') headers[h] = req.headers[h]
      fetch(`${target}${req.url ?? '/'}`, { method: req.method ?? 'GET', headers, ...(body.length > 0 ? { body } : {}), signal: AbortSignal.timeout(60_000) }).then(
        async (r) => {
          const text = Buffer.from(await r.arrayBuffer())
          const now = Date.now()
          if (r.status === 204 && req.url?.startsWith('/write') && window.open) {
            for (const line of body.toString('utf8').split('\n')) {
              if (line.length === 0) continue
              lines++
              const sendStamped = (line.startsWith('water_quality,') && line.includes(',protocol=mqtt')) || line.startsWith('elevator_status,')
              if (!sendStamped) continue
              const t = Number(line.slice(line.lastIndexOf(' ') + 1))
              if (Number.isFinite(t)) latencies.push(now - t)
            }
          }
          const out: Record<string, string> = {}
          for (const h of ['content-type', 'retry-after', 'x-influxdb-version', 'x-influxdb-error']) {
            const v = r.headers.get(h)
            if (v !== null) out[h] = v
          }
          res.writeHead(r.status, out).end(text)
        },
        (err: Error) => res.writeHead(502).end(err.message),
      )
    })
  })
  return { server, latencies, lines: () => lines, window }
}

interface RunFigures {
  minutes: number
  devices: number
  readingsPerSec: number
  pointsStoredPerSec: number
  acknowledged: number
  gatewayCpuShareOfOneCore: number
  gatewayPeakRssMb: number
  latencyMs: { samples: number; p50?: number | undefined; p99?: number | undefined; max?: number | undefined }
  zeroLoss: boolean
  lossDetail?: string
  verdict: string
  failed: string[]
}

async function oneRun(minutes: number, influxUrl: string, dir: string, round: number, flushMs: number | undefined): Promise<RunFigures> {
  const proxy = latencyProxy(influxUrl)
  const proxyPort = await portOr(0)
  await new Promise<void>((ok) => proxy.server.listen(proxyPort, '127.0.0.1', ok))
  const cfg = join(dir, `gateway-${round}.yaml`)
  writeFileSync(
    cfg,
    [
      '# The load benchmark gateway: the runner moves its ports and data to its run directory.',
      'gateway: { id: load-gateway, district: load-district }',
      'sources:',
      '  - type: mqtt',
      '  - type: jt808',
      '  - { type: hj212, defaultPassword: "123456" }',
      // The field's addresses; the runner points each source at its simulator.
      '  - type: modbus-tcp',
      '    id: meters-load',
      '    host: 192.0.2.10',
      '    port: 502',
      '    devices:',
      ...Array.from({ length: 200 }, (_, k) => `      - { device: em-load-${String(k + 1).padStart(3, '0')}, unit: ${k + 1}, profile: eastron-sdm630, intervalMs: 60000 }`),
      '  - { type: etc-rsu, id: etc-load, device: rsu-load-1, lane: load-up, host: 192.0.2.12, port: 9527 }',
      'sinks:',
      // The sink's defaults (batchSize 5000, flushIntervalMs 1000), unless BENCH_LOAD_FLUSH_MS says otherwise.
      `  - { type: influx-v1, url: "http://127.0.0.1:${proxyPort}", database: load_${round}${flushMs ? `, flushIntervalMs: ${flushMs}` : ''} }`,
      '',
    ].join('\n'),
  )
  const json = join(dir, `report-${round}.json`)
  const child: ChildProcess = spawn(process.execPath, [join(ROOT, 'bin', 'smartcity.js'), 'simulate', join(ROOT, 'simulators', 'scenarios', 'load.yaml'), '--gateway-config', cfg, '--duration', `${minutes}m`, '--json', json], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let pid: number | undefined
  let armed = false
  let cpu0 = 0
  let t0 = 0
  let cpu1 = 0
  let t1 = 0
  let hwm = 0
  let acked0 = 0
  let acked1 = 0
  let lines0 = 0
  let lines1 = 0
  const sampler = setInterval(() => {
    try {
      if (pid !== undefined) hwm = Math.max(hwm, hwmMb(pid))
    } catch {
      // the gateway has exited
    }
  }, 1_000)
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()))
  child.stdout?.on('data', (d: Buffer) => {
    const s = d.toString()
    out += s
    const gw = /gateway up \(child process (\d+),/.exec(s)
    if (gw) pid = Number(gw[1])
    if (/simulators up: /.test(s)) armed = true
    // The window opens with the first status line after every simulator is up (their first readings, sent
    // at start, are before it) and closes when they stop.
    const status = /(\d+) readings acknowledged/.exec(s)
    if (armed && t0 === 0 && status && !/simulators stopped/.test(s) && pid !== undefined) {
      cpu0 = cpuMs(pid)
      t0 = Date.now()
      lines0 = proxy.lines()
      proxy.window.open = true
      acked0 = Number(status[1])
    }
    const stopped = /simulators stopped after \d+ s: (\d+) readings acknowledged/.exec(s)
    if (stopped && pid !== undefined) {
      cpu1 = cpuMs(pid)
      t1 = Date.now()
      hwm = Math.max(hwm, hwmMb(pid))
      lines1 = proxy.lines()
      acked1 = Number(stopped[1])
      proxy.window.open = false
    }
  })
  const code = await new Promise<number | null>((ok) => child.once('exit', (c) => ok(c)))
  clearInterval(sampler)
  await new Promise<void>((ok) => proxy.server.close(() => ok()))
  let report: RunReport | undefined
  try {
    report = JSON.parse(readFileSync(json, 'utf8')) as RunReport
  } catch {
    throw new Error(`the load run wrote no report (exit ${code}): ${out.slice(-2000)}`)
  }
  const secs = (t1 - t0) / 1000
  const stored = report.assertions.find((a) => a.name === 'readings stored: all acknowledged')
  const sorted = [...proxy.latencies].sort((a, b) => a - b)
  return {
    minutes,
    devices: report.devices.reduce((n, d) => n + d.ids.length, 0),
    readingsPerSec: Math.round((acked1 - acked0) / secs),
    pointsStoredPerSec: Math.round((lines1 - lines0) / secs),
    acknowledged: report.acknowledged,
    gatewayCpuShareOfOneCore: Math.round(((cpu1 - cpu0) / (secs * 1000)) * 1000) / 1000,
    gatewayPeakRssMb: Math.round(hwm),
    latencyMs: { samples: sorted.length, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted[sorted.length - 1] },
    zeroLoss: stored?.ok === true,
    ...(stored?.ok ? {} : { lossDetail: `${stored?.message ?? 'not checked'}: ${stored?.details.slice(0, 3).join('; ') ?? ''}` }),
    verdict: report.ok ? 'PASS' : 'FAIL',
    failed: report.assertions.filter((a) => !a.ok && !a.skipped).map((a) => `${a.name}: ${a.message}`),
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor((s.length - 1) / 2)]
}

export async function run(): Promise<Record<string, unknown>> {
  const minutes = argOf('minutes', Number(process.env['BENCH_LOAD_MINUTES'] ?? 5))
  const runs = argOf('runs', Number(process.env['BENCH_RUNS_LOAD'] ?? 1))
  const flushMs = process.env['BENCH_LOAD_FLUSH_MS'] ? Number(process.env['BENCH_LOAD_FLUSH_MS']) : undefined
  const bin = findInfluxd()
  if (!bin) return { skipped: 'influxd is not on the PATH (Debian: apt-get install influxdb)' }
  // The gateway runs what ships: dist/, compiled now. bin/smartcity.js runs the sources through tsx's loader
  // when they are newer than the build, with a loader thread of its own (about 30 MB more RSS).
  // BENCH_FROM_SOURCE=1 measures the sources instead.
  const fromSource = process.env['BENCH_FROM_SOURCE'] === '1'
  if (fromSource) process.env['SMARTCITY_FROM_SOURCE'] = '1'
  else if (spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] }).status !== 0) throw new Error('npm run build failed: the benchmark measures dist/')
  const dir = mkdtempSync(join(tmpdir(), 'bench-load-'))
  const db = influxd({ bin, dir: join(dir, 'influxdb'), port: await portOr(0), rpcPort: await portOr(0) })
  await db.start()
  const all: RunFigures[] = []
  try {
    for (let i = 0; i < runs; i++) all.push(await oneRun(minutes, db.url, dir, i, flushMs))
  } finally {
    await db.stop()
    rmSync(dir, { recursive: true, force: true })
  }
  const pick = (f: (r: RunFigures) => number | undefined) => median(all.map(f).filter((x): x is number => x !== undefined))
  return {
    scenario: 'simulators/scenarios/load.yaml',
    sinkFlushIntervalMs: flushMs ?? 1000,
    // SMARTCITY_GATEWAY_NODE_OPTIONS: Node options of the gateway process alone (cli/simulate/gateway-process.ts),
    // e.g. "--max-old-space-size=200 --max-semi-space-size=4", the heap limit a unit file would set.
    gatewayNodeOptions: process.env['SMARTCITY_GATEWAY_NODE_OPTIONS'] ?? null,
    // bin/smartcity.js' V8 flags beyond its defaults (--heap-growing-percent=30, no pretenuring).
    v8Flags: process.env['SMARTCITY_V8_FLAGS'] ?? null,
    gatewayRuns: fromSource ? 'sources (tsx)' : 'dist',
    goal: { gatewayCpuShareOfOneCore: 0.25, gatewayPeakRssMb: 250, latencyP99Ms: 2000, zeroLoss: true },
    median: {
      readingsPerSec: pick((r) => r.readingsPerSec),
      pointsStoredPerSec: pick((r) => r.pointsStoredPerSec),
      gatewayCpuShareOfOneCore: pick((r) => r.gatewayCpuShareOfOneCore),
      gatewayPeakRssMb: pick((r) => r.gatewayPeakRssMb),
      latencyP50Ms: pick((r) => r.latencyMs.p50),
      latencyP99Ms: pick((r) => r.latencyMs.p99),
      zeroLoss: all.every((r) => r.zeroLoss),
    },
    runs: all,
  }
}

runIfMain(import.meta.url, run)
