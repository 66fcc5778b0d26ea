/**
 * `npm run bench -- soak [--minutes N]` (issue 13): the gateway as a child process (cli/simulate's
 * gatewayProcess, as `smartcity simulate` runs it) into InfluxDB 1.x for N minutes (10) at a steady rate of
 * QoS 1 station readings, while InfluxDB is stopped twice (30 s each, at 35% and 65% of the run) and the
 * gateway is killed with SIGKILL once (at 8%, started again from its spool after 2 s); a run shorter than
 * 5 minutes has outages of a tenth of its length. At the end, once the
 * spool has drained: every acknowledged reading is looked up in InfluxDB by device and time (zero lost), and
 * RSS is compared between the second minute and the last (the "flat": within 10%; the kill comes
 * before the second minute, so both are the same process).
 *
 * The rate: BENCH_SOAK_RATE readings/s (default 5,000) over BENCH_SOAK_DEVICES stations (20), published by
 * MQTT.js in this process, QoS 1, one connection per 5 stations. The ingest benchmark's sustained figure
 * (0.65 of InfluxDB's raw rate, about 95k/s on an idle machine) is the ceiling of the whole path; a soak
 * that includes outages must also drain the backlog each outage leaves, so it runs well under it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import { portOr } from '../cli/flags.ts'
import { findInfluxd, influxd } from '../cli/influxd.ts'
import { gatewayProcess } from '../cli/simulate/gateway-process.ts'
import { runIfMain } from './standalone.ts'

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

function rssMb(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) / 1024 : undefined
  } catch {
    return undefined
  }
}

async function query(url: string, db: string, q: string): Promise<{ series?: { values: unknown[][] }[] }> {
  const r = await fetch(`${url}/query?db=${db}&epoch=ms&q=${encodeURIComponent(q)}`)
  const j = (await r.json()) as { results: { series?: { values: unknown[][] }[] }[] }
  return j.results[0] ?? {}
}

function minutesArg(): number {
  const i = process.argv.indexOf('--minutes')
  const v = i >= 0 ? Number(process.argv[i + 1]) : Number(process.env['BENCH_SOAK_MINUTES'] ?? 10)
  if (!(v > 0)) throw new Error('--minutes takes a positive number')
  return v
}

export async function run(): Promise<Record<string, unknown>> {
  const minutes = minutesArg()
  const rate = Number(process.env['BENCH_SOAK_RATE'] ?? 5000)
  const nDevices = Number(process.env['BENCH_SOAK_DEVICES'] ?? 20)
  const durationMs = minutes * 60_000
  const bin = findInfluxd()
  if (!bin) throw new Error('influxd is needed for the soak benchmark (apt-get install influxdb)')
  const dir = mkdtempSync(join(tmpdir(), 'bench-soak-'))
  const db = influxd({ bin, dir: join(dir, 'influx'), port: await portOr(0), rpcPort: await portOr(0) })
  await db.start()
  const mqttPort = await portOr(0)
  const httpPort = await portOr(0)
  const cfg = join(dir, 'gateway.yaml')
  writeFileSync(
    cfg,
    `gateway: { id: soak, district: soak }\ndataDir: ${join(dir, 'gw')}\nlog: { level: warn }\nbroker: { type: embedded, host: 127.0.0.1, port: ${mqttPort} }\nhttp: { host: 127.0.0.1, port: ${httpPort} }\nsources: [ { type: mqtt } ]\nsinks:\n  - type: influx-v1\n    url: ${db.url}\n    database: soak\n    batchSize: 5000\n    flushIntervalMs: 200\n    maxBackoffMs: 2000\n`,
  )
  const gw = gatewayProcess(cfg, join(dir, 'gateway.log'))
  const events: string[] = []
  const t0 = Date.now()
  const note = (s: string) => {
    const line = `${((Date.now() - t0) / 1000).toFixed(1)} s: ${s}`
    events.push(line)
    process.stderr.write(`soak ${line}\n`)
  }
  const devices = Array.from({ length: nDevices }, (_, i) => `soak-${String(i).padStart(3, '0')}`)
  // Every acknowledged reading's time, per device (times are unique per device: base + sequence).
  const acked = new Map<string, number[]>(devices.map((d) => [d, []]))
  let sent = 0
  let ackedN = 0
  const rss: { t: number; mb: number }[] = []
  const clients: MqttClient[] = []
  try {
    await gw.start()
    note('gateway up')
    const base = Date.UTC(2026, 0, 1)
    const seq = new Map<string, number>(devices.map((d) => [d, 0]))
    for (let c = 0; c < Math.ceil(nDevices / 5); c++) {
      clients.push(await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { clientId: `soak-pub-${c}`, reconnectPeriod: 500, connectTimeout: 5000, clean: true }))
    }
    const sampler = setInterval(() => {
      const mb = rssMb(gw.pid())
      if (mb !== undefined) rss.push({ t: Date.now() - t0, mb })
    }, 1000)
    // The fault schedule, relative to the start of the load; outages of 30 s (a tenth of a short run).
    const outage = Math.min(30_000, durationMs / 10)
    const faults = [
      { at: 0.08 * durationMs, run: async () => {
        note('gateway SIGKILL')
        await gw.kill('SIGKILL')
        await sleep(2000)
        await gw.start()
        note('gateway started again from its spool')
      } },
      { at: 0.35 * durationMs, run: async () => {
        note('influxd stopped')
        await db.stop()
        await sleep(outage)
        await db.start()
        note('influxd started again')
      } },
      { at: 0.65 * durationMs, run: async () => {
        note('influxd stopped')
        await db.stop()
        await sleep(outage)
        await db.start()
        note('influxd started again')
      } },
    ]
    const faultRuns: Promise<void>[] = []
    const tick = 100
    const perTick = (rate * tick) / 1000
    let carry = 0
    let k = 0
    const loadStart = Date.now()
    while (Date.now() - loadStart < durationMs) {
      const now = Date.now() - loadStart
      while (faults.length > 0 && faults[0]!.at <= now) faultRuns.push(faults.shift()!.run())
      carry += perTick
      for (; carry >= 1; carry--) {
        const d = devices[k % nDevices]!
        const c = clients[k % clients.length]!
        k++
        const n = seq.get(d)!
        seq.set(d, n + 1)
        const ts = base + n
        sent++
        c.publish(`city/soak/water_quality/${d}/telemetry`, `{"ts":${ts},"ph":${(7 + (n % 50) / 100).toFixed(2)},"water_temp_c":${(18 + (n % 30) / 10).toFixed(1)}}`, { qos: 1 }, (err) => {
          if (err) return
          ackedN++
          acked.get(d)!.push(ts)
        })
      }
      await sleep(Math.max(0, tick - ((Date.now() - loadStart) % tick)))
    }
    note(`load done: ${sent} sent, ${ackedN} acknowledged`)
    await Promise.all(faultRuns)
    // The publishers' last acknowledgements, then the spool drains into InfluxDB.
    const ackDeadline = Date.now() + 60_000
    while (ackedN < sent && Date.now() < ackDeadline) await sleep(250)
    for (const c of clients) await Promise.race([c.endAsync(), sleep(5000)])
    clearInterval(sampler)
    const drainStart = Date.now()
    let stored = 0
    for (;;) {
      const r = await query(db.url, 'soak', 'SELECT count(ph) FROM water_quality').catch(() => ({}) as { series?: { values: unknown[][] }[] })
      stored = Number(r.series?.[0]?.values[0]?.[1] ?? 0)
      if (stored >= ackedN || Date.now() - drainStart > 180_000) break
      await sleep(1000)
    }
    note(`drained: ${stored} stored after ${((Date.now() - drainStart) / 1000).toFixed(1)} s`)
    // Every acknowledged reading by device and time.
    let lost = 0
    const lostExamples: string[] = []
    for (const d of devices) {
      const r = await query(db.url, 'soak', `SELECT ph FROM water_quality WHERE device='${d}'`)
      const have = new Set((r.series?.[0]?.values ?? []).map((v) => Number(v[0])))
      for (const ts of acked.get(d)!) {
        if (!have.has(ts)) {
          lost++
          if (lostExamples.length < 5) lostExamples.push(`${d}@${ts}`)
        }
      }
    }
    const mean = (from: number, to: number) => {
      const xs = rss.filter((x) => x.t >= from && x.t < to).map((x) => x.mb)
      return xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined
    }
    const end = rss.at(-1)?.t ?? 0
    const second = mean(60_000, 120_000)
    const last = mean(end - 60_000, end + 1)
    const metrics = await fetch(`http://127.0.0.1:${httpPort}/metrics`)
      .then((r) => r.text())
      .catch(() => '')
    const metric = (name: string) =>
      metrics
        .split('\n')
        .filter((l) => l.startsWith(name))
        .reduce((a, l) => a + Number(l.split(' ').at(-1)), 0)
    return {
      minutes,
      rate_per_s: rate,
      devices: nDevices,
      sent,
      acknowledged: ackedN,
      stored,
      acknowledged_lost: lost,
      ...(lostExamples.length > 0 ? { lost_examples: lostExamples } : {}),
      rss_mb: { second_minute: second && Math.round(second), last_minute: last && Math.round(last), peak: Math.round(Math.max(...rss.map((x) => x.mb))), last_within_10pct_of_second: second !== undefined && last !== undefined && Math.abs(last - second) / second <= 0.1 },
      points_written: metric('smartcity_points_written_total'),
      gateway_unexpected_exits: gw.unexpectedExits(),
      events,
    }
  } finally {
    for (const c of clients) c.end(true)
    await gw.kill('SIGTERM').catch(() => undefined)
    gw.close()
    await db.stop().catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
  }
}

runIfMain(import.meta.url, run)
