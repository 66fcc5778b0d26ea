/**
 * Issue 2 benchmark: MQTT QoS 0 and QoS 1 into InfluxDB 1.x through the gateway, against the raw ingest
 * rate of the same InfluxDB for the same points posted directly in pre-built 5,000-point batches.
 * The gateway, the publisher and influxd are separate processes sharing this machine's cores; the gateway's
 * CPU time comes from /proc/<pid>/stat and its peak RSS from /proc/<pid>/status (VmHWM).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { findInfluxd, influxd } from '../cli/influxd.ts'
import { portOr } from '../cli/flags.ts'

const run = promisify(execFile)
const ROOT = join(import.meta.dirname, '..')
const TICK = 100 // USER_HZ on Linux

function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ')
  return ((Number(rest[11]) + Number(rest[12])) * 1000) / TICK
}

function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : 0
}

async function count(url: string, db: string, where = ''): Promise<number> {
  const q = encodeURIComponent(`SELECT count(ph) FROM water_quality ${where}`)
  const r = (await (await fetch(`${url}/query?db=${db}&q=${q}`)).json()) as { results: { series?: { values: number[][] }[] }[] }
  return r.results[0]?.series?.[0]?.values[0]?.[1] ?? 0
}

function line(i: number, base: number): string {
  const d = `wq-${String(i % 100).padStart(4, '0')}`
  return `water_quality,device=${d},district=bench,kind=water_quality,protocol=mqtt ph=${(7 + (i % 50) / 100).toFixed(2)},water_temp_c=${(18 + (i % 30) / 10).toFixed(1)},dissolved_oxygen_mg_l=${(8 + (i % 20) / 10).toFixed(1)},turbidity_ntu=${(3 + (i % 40) / 10).toFixed(1)},conductivity_us_cm=${450 + (i % 60)},cod_mg_l=${(12 + (i % 80) / 10).toFixed(1)},ammonia_nitrogen_mg_l=${(0.3 + (i % 25) / 100).toFixed(2)},gb3838_class=2i,gb3838_factor="ammonia_nitrogen_mg_l" ${base + i}`
}

async function rawRate(url: string, n: number, db: string): Promise<number> {
  await fetch(`${url}/query?q=${encodeURIComponent(`CREATE DATABASE ${db}`)}`, { method: 'POST' })
  const base = 1_780_000_000_000
  const batches: string[] = []
  for (let b = 0; b < n / 5000; b++) batches.push(Array.from({ length: 5000 }, (_, j) => line(b * 5000 + j, base)).join('\n'))
  const t0 = performance.now()
  for (const body of batches) {
    const r = await fetch(`${url}/write?db=${db}&precision=ms`, { method: 'POST', body })
    if (r.status !== 204) throw new Error(`raw write: ${r.status} ${await r.text()}`)
  }
  return (n / (performance.now() - t0)) * 1000
}

/**
 * Wait until InfluxDB has settled (under 5% of a core over half a second, at most 20 s): after a run it
 * compacts what it was sent, and that would take the cores from the next run.
 */
async function quiesce(pid: number | undefined): Promise<void> {
  if (pid === undefined) return
  const deadline = Date.now() + 20_000
  let before = cpuMs(pid)
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500))
    const now = cpuMs(pid)
    if (now - before < 25) return
    before = now
  }
}

async function endToEnd(influxUrl: string, qos: 0 | 1, n: number, dir: string, connections: number, round: number, publisher: 'publisher' | 'lean-publisher', rate = 0) {
  const tag = `qos${qos}-c${connections}-${publisher}-r${round}${rate ? `-at${rate}` : ''}`
  const db = `e2e_${tag.replace(/-/g, '_')}`
  const mqttPort = await portOr(0)
  const cfg = join(dir, `gw-${tag}.yaml`)
  writeFileSync(cfg, `dataDir: ${join(dir, `gw-${tag}`)}\nlog: { level: warn }\nbroker: { type: embedded, port: ${mqttPort} }\nhttp: { enabled: false }\nsinks:\n  - type: influx-v1\n    url: ${influxUrl}\n    database: ${db}\n    batchSize: 5000\n    flushIntervalMs: 200\n`)
  const entry = join(ROOT, 'bin', 'smartcity.js')
  // Extra node flags for the gateway process (e.g. `--max-semi-space-size=32`), to compare settings.
  const flags = (process.env['BENCH_NODE_FLAGS'] ?? '').split(' ').filter(Boolean)
  const gw: ChildProcess = spawn(process.execPath, [...flags, entry, 'gateway', '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] })
  // BENCH_GATEWAY_OUT=FILE keeps the gateway's output (e.g. with BENCH_NODE_FLAGS=--trace-gc); read either way.
  const keep = process.env['BENCH_GATEWAY_OUT']
  gw.stdout!.on('data', (d: Buffer) => keep && appendFileSync(keep, d))
  // The JSON log is on stdout; the human "gateway <id>: mqtt ..." line that says it is up is on stderr.
  await new Promise<void>((resolve, reject) => {
    gw.stderr!.on('data', (d: Buffer) => {
      process.stderr.write(d)
      if (d.toString().includes('gateway ')) resolve()
    })
    gw.once('exit', (c) => reject(new Error(`gateway exited ${c}`)))
  })
  const pid = gw.pid!
  const base = 1_785_000_000_000
  const cpu0 = cpuMs(pid)
  const t0 = performance.now()
  // BENCH_TRACE=1: the stored count over time on stderr, to see where the time goes.
  let tracer: NodeJS.Timeout | undefined
  if (process.env['BENCH_TRACE']) {
    tracer = setInterval(() => {
      void count(influxUrl, db).then((c) => process.stderr.write(`${Math.round(performance.now() - t0)} ms: ${c} stored, gateway cpu ${Math.round(cpuMs(pid) - cpu0)} ms\n`))
    }, 250)
  }
  // The simulated stations: one publisher process per core when there are several connections (devices
  // are separate machines; one process would cap them at one core), the connections split between them.
  const procs = connections > 1 ? Math.min(connections, cpus().length) : 1
  const outs = await Promise.all(
    Array.from({ length: procs }, (_, p) =>
      run(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', `${publisher}.ts`), `mqtt://127.0.0.1:${mqttPort}`, String(qos), String(n), '100', String(base), String(Math.ceil(connections / procs)), String(p), String(procs)], {
        cwd: ROOT,
        maxBuffer: 1 << 20,
        // Paced (the sustained scenario): this process's share of the rate.
        env: rate > 0 ? { ...process.env, BENCH_RATE: String(rate / procs) } : process.env,
      }),
    ),
  )
  const each = outs.map((o) => JSON.parse(o.stdout) as { sent: number; ms: number; start: number; cpuUs: number })
  const published = { sent: each.reduce((a, e) => a + e.sent, 0), ms: Math.max(...each.map((e) => e.ms)), start: Math.min(...each.map((e) => e.start)), cpuUs: each.reduce((a, e) => a + e.cpuUs, 0) }
  // Counting every point takes InfluxDB about 25 ms at 200,000 points: polled every 50 ms that would take a
  // third of a core from the database under test. So poll for the newest 1,000 readings (a query over a
  // few milliseconds of data), then count everything once to check that nothing was lost.
  let got = 0
  const tail = Math.min(1000, n)
  const deadline = Date.now() + 300_000
  while (Date.now() < deadline) {
    if ((await count(influxUrl, db, `WHERE time >= ${base + n - tail}ms`)) >= tail) {
      got = await count(influxUrl, db)
      if (got >= n) break
    }
    await new Promise((r) => setTimeout(r, 20))
  }
  // From the first reading published (not from starting the publisher's process) to the last one stored.
  const storedAt = performance.timeOrigin + performance.now()
  const elapsed = storedAt - published.start
  clearInterval(tracer)
  const cpu = cpuMs(pid) - cpu0
  const rss = peakRssMb(pid)
  gw.kill('SIGTERM')
  await new Promise((r) => gw.once('exit', r))
  return {
    connections,
    publisher_processes: procs,
    readings: n,
    stored: got,
    lost: n - got,
    publish_ms: Math.round(published.ms),
    // How long after the last reading was sent it was stored: the backlog the gateway and InfluxDB carried.
    stored_after_publish_ms: Math.round(storedAt - published.start - published.ms),
    end_to_end_per_s: Math.round((n / elapsed) * 1000),
    gateway_cpu_us_per_reading: Number(((cpu * 1000) / n).toFixed(2)),
    gateway_peak_rss_mb: Math.round(rss),
    // The simulated devices share the cores too: their cost per reading, start-up included.
    publisher_cpu_us_per_reading: Number((published.cpuUs / n).toFixed(2)),
  }
}

export async function run_(): Promise<Record<string, unknown>> {
  const bin = findInfluxd()
  if (!bin) throw new Error('influxd is needed for the ingest benchmark (apt-get install influxdb)')
  const n = Number(process.env['BENCH_READINGS'] ?? 200_000)
  const dir = mkdtempSync(join(tmpdir(), 'bench-ingest-'))
  const db = influxd({ bin, dir: join(dir, 'influx'), port: await portOr(0), rpcPort: await portOr(0) })
  await db.start()
  try {
    // BENCH_ONLY=qos0,qos1_lean,... runs a subset (e.g. while profiling one of them).
    const names = ['qos0', 'qos1', 'qos1_10_connections', 'qos0_lean', 'qos1_lean', 'qos1_10_connections_lean', 'qos0_sustained', 'qos0_sustained_mqttjs']
    const only = new Set((process.env['BENCH_ONLY'] ?? names.join(',')).split(','))
    // Three processes share two cores here, so one run can land badly: each figure is the median run of
    // BENCH_RUNS (default 3), with every run's rate and CPU listed.
    const runs = Math.max(1, Number(process.env['BENCH_RUNS'] ?? 3))
    const median = <T>(xs: T[], key: (x: T) => number): T => [...xs].sort((a, b) => key(a) - key(b))[Math.floor((xs.length - 1) / 2)]!
    const raws: number[] = []
    for (let r = 1; r <= runs; r++) {
      await quiesce(db.pid())
      raws.push(Math.round(await rawRate(db.url, n, `raw_${r}`)))
    }
    const raw = median(raws, (x) => x)
    const ratio = (r: { end_to_end_per_s: number }) => Number((r.end_to_end_per_s / raw).toFixed(3))
    const scenario = async (name: string, qos: 0 | 1, connections: number) => {
      if (!only.has(name)) return {}
      const publisher = name.endsWith('_lean') ? 'lean-publisher' : 'publisher'
      const all: Awaited<ReturnType<typeof endToEnd>>[] = []
      for (let r = 1; r <= runs; r++) {
        await quiesce(db.pid())
        all.push(await endToEnd(db.url, qos, n, dir, connections, r, publisher))
      }
      const m = median(all, (x) => x.end_to_end_per_s)
      const each = all.map((x) => ({ per_s: x.end_to_end_per_s, cpu_us: x.gateway_cpu_us_per_reading, rss_mb: x.gateway_peak_rss_mb, lost: x.lost }))
      return { [name]: { publisher: publisher === 'publisher' ? 'MQTT.js' : 'lean (pre-encoded MQTT 3.1.1)', ...m, ratio_to_raw: ratio(m), runs: each } }
    }
    /**
     * Sustained: the highest rate the whole path holds for BENCH_SUSTAIN_SECONDS (30 s), as a busy district
     * would send, not a burst the gateway can spool before InfluxDB has to keep up. The publisher (lean, or
     * MQTT.js for `_mqttjs`) paces QoS 0 readings at a share of the raw rate, rising along a ladder; a rate is held when the publisher
     * kept its pace (the gateway did not push back) and the last reading was stored within 3 s of being sent.
     */
    const sustained = async (name: 'qos0_sustained' | 'qos0_sustained_mqttjs'): Promise<Record<string, unknown>> => {
      if (!only.has(name)) return {}
      const publisher = name === 'qos0_sustained' ? 'lean-publisher' : 'publisher'
      const seconds = Number(process.env['BENCH_SUSTAIN_SECONDS'] ?? 30)
      const ladder = (process.env['BENCH_SUSTAIN_LADDER'] ?? '0.35,0.45,0.5,0.55,0.6,0.65,0.7,0.75,0.8').split(',').map(Number)
      const probes: Record<string, unknown>[] = []
      let best: { share: number; per_s: number } | undefined
      for (const share of ladder) {
        const rate = Math.round(raw * share)
        await quiesce(db.pid())
        const r = await endToEnd(db.url, 0, rate * seconds, dir, 1, 1, publisher, rate)
        const held = r.lost === 0 && r.publish_ms <= seconds * 1000 * 1.05 && r.stored_after_publish_ms <= 3000
        probes.push({ share_of_raw: share, rate_per_s: rate, held, publish_ms: r.publish_ms, stored_after_publish_ms: r.stored_after_publish_ms, gateway_cpu_us_per_reading: r.gateway_cpu_us_per_reading, gateway_peak_rss_mb: r.gateway_peak_rss_mb, lost: r.lost })
        if (!held) break
        best = { share, per_s: rate }
      }
      return { [name]: { publisher: publisher === 'publisher' ? 'MQTT.js, paced' : 'lean (pre-encoded MQTT 3.1.1), paced', seconds, held_per_s: best?.per_s ?? 0, ratio_to_raw: best?.share ?? 0, probes } }
    }
    return {
      influx_raw_points_per_s: raw,
      influx_raw_runs: raws,
      // The simulated stations through MQTT.js, a real client library...
      ...(await scenario('qos0', 0, 1)),
      ...(await scenario('qos1', 1, 1)),
      // Stations each have their own link: QoS 1 over ten connections is the closer picture of a district.
      ...(await scenario('qos1_10_connections', 1, 10)),
      // ...and through the lean publisher, whose own CPU cost is small, so the gateway's decides the rate.
      ...(await scenario('qos0_lean', 0, 1)),
      ...(await scenario('qos1_lean', 1, 1)),
      ...(await scenario('qos1_10_connections_lean', 1, 10)),
      ...(await sustained('qos0_sustained')),
      ...(await sustained('qos0_sustained_mqttjs')),
      goals: { qos0_cpu_us: 8, qos1_cpu_us: 15, qos0_ratio: 0.5, qos1_ratio: 0.35, rss_mb: 200, qos0_sustained_ratio: 0.55 },
    }
  } finally {
    await db.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}
export { run_ as run }
