/**
 * `npm run bench -- fuzz-live` (issue 13): the live-server fuzz of `npm test` (test/fuzz/live.ts) at full
 * scale against the gateway as a child process (cli/simulate's gatewayProcess, as `smartcity simulate` runs
 * it): the issue's flood (100 QoS 0 messages of 5,000 refused readings, 6,000 nested arrays at QoS 1),
 * fuzzed streams to the JT/T 808, HJ 212 and ETC RSU servers and fuzzed MQTT publishes, all at once, while a
 * good MQTT station and JT/T 808 terminal send every 100 ms. Figures: the gateway's peak RSS (/proc VmHWM),
 * its longest event-loop stall (its own `smartcity_event_loop_delay_max_seconds`, scraped every second, and
 * the slowest `/healthz` answer to a probe every 50 ms, which also counts the HTTP work), the good devices'
 * readings sent, acknowledged and the slowest acknowledgement, the refusals by reason; and the same figures
 * for a baseline of 15 s (BENCH_FUZZ_LIVE_BASELINE_S) with only the good devices, and the load average:
 * on a shared machine the scheduler's own delays show in both.
 * BENCH_FUZZ_LIVE_SCALE multiplies the fuzz (1: 3 x 3,000 TCP streams, 20,000 MQTT messages);
 * BENCH_NODE_FLAGS (e.g. `--max-old-space-size=192`) goes to the gateway through NODE_OPTIONS.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { portOr } from '../cli/flags.ts'
import { gatewayProcess } from '../cli/simulate/gateway-process.ts'
import { floodMqtt, fuzzMqtt, fuzzTcp, goodDevices } from '../test/fuzz/live.ts'
import { runIfMain } from './standalone.ts'

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
const BASELINE_S = Number(process.env['BENCH_FUZZ_LIVE_BASELINE_S'] ?? 15)

function status(pid: number | undefined, key: 'VmRSS' | 'VmHWM'): number | undefined {
  if (pid === undefined) return undefined
  try {
    const m = new RegExp(`${key}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) / 1024 : undefined
  } catch {
    return undefined
  }
}

export async function run(): Promise<Record<string, unknown>> {
  const scale = Number(process.env['BENCH_FUZZ_LIVE_SCALE'] ?? 1)
  const seed = process.env['BENCH_FUZZ_SEED'] !== undefined ? Number(process.env['BENCH_FUZZ_SEED']) : Date.now() % 2 ** 31
  const dir = mkdtempSync(join(tmpdir(), 'bench-fuzz-live-'))
  const ports = { mqtt: await portOr(0), http: await portOr(0), jt808: await portOr(0), hj212: await portOr(0), etc: await portOr(0) }
  const cfg = join(dir, 'gateway.yaml')
  writeFileSync(
    cfg,
    [
      'gateway: { id: fuzz, district: fz }',
      `dataDir: ${join(dir, 'gw')}`,
      'log: { level: warn }',
      `broker: { type: embedded, host: 127.0.0.1, port: ${ports.mqtt} }`,
      `http: { host: 127.0.0.1, port: ${ports.http} }`,
      'sources:',
      '  - { type: mqtt }',
      `  - { type: jt808, port: ${ports.jt808} }`,
      `  - { type: hj212, port: ${ports.hj212}, passwords: { "010000A8900016F000169DC0": "100000", "12091200160055": "123456" } }`,
      `  - { type: etc-rsu, device: rsu-fz, mode: server, port: ${ports.etc} }`,
      '',
    ].join('\n'),
  )
  // The gateway child inherits NODE_OPTIONS (gatewayProcess spawns it with this environment).
  const flags = process.env['BENCH_NODE_FLAGS']
  if (flags) process.env['NODE_OPTIONS'] = `${process.env['NODE_OPTIONS'] ?? ''} ${flags}`.trim()
  const gw = gatewayProcess(cfg, join(dir, 'gateway.log'))
  const base = `http://127.0.0.1:${ports.http}`
  try {
    await gw.start()
    const pid = gw.pid()
    // BENCH_FUZZ_LIVE_NICE=-10: the gateway scheduled ahead of the machine's other work (needs root), to
    // tell its own stalls from the scheduler's on a crowded machine. Reported with the figures.
    const nice = process.env['BENCH_FUZZ_LIVE_NICE']
    if (nice && pid !== undefined) execFileSync('renice', ['-n', nice, '-p', String(pid)])
    const rssBefore = status(pid, 'VmRSS')
    let peakRss = 0
    let maxLoopDelayMs = 0
    let maxHealthMs = 0
    let probing = true
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, status(pid, 'VmRSS') ?? 0)
    }, 100)
    const scrape = async (): Promise<string> => (await fetch(`${base}/metrics`)).text()
    await scrape() // resets the gateway's event-loop histogram: only the fuzz counts
    const scraper = (async () => {
      while (probing) {
        await sleep(1000)
        const m = /^smartcity_event_loop_delay_max_seconds (\S+)$/m.exec(await scrape().catch(() => ''))
        if (m) maxLoopDelayMs = Math.max(maxLoopDelayMs, Number(m[1]) * 1000)
      }
    })()
    const prober = (async () => {
      while (probing) {
        const t = performance.now()
        await fetch(`${base}/healthz`).catch(() => undefined)
        maxHealthMs = Math.max(maxHealthMs, performance.now() - t)
        await sleep(50)
      }
    })()
    const mqttUrl = `mqtt://127.0.0.1:${ports.mqtt}`
    const good = await goodDevices({ mqttUrl, jt808Port: ports.jt808, periodMs: 100 })
    // The baseline: the same figures with only the good devices, for BASELINE_S seconds. On a shared
    // machine the operating system's scheduling alone delays the event loop; this is what the fuzz adds to.
    await sleep(BASELINE_S * 1000)
    const baseline = { longest_event_loop_delay_ms: Math.round(maxLoopDelayMs), slowest_healthz_ms: Math.round(maxHealthMs), rss_mb: Math.round(status(pid, 'VmRSS') ?? 0) }
    maxLoopDelayMs = 0
    maxHealthMs = 0
    await scrape()
    const t0 = performance.now()
    const deadline = Date.now() + 300_000
    const [jt, hj, etc, mq, flood] = await Promise.all([
      fuzzTcp(ports.jt808, 'jt808', { streams: 3000 * scale, connections: 8, seed, deadline }),
      fuzzTcp(ports.hj212, 'hj212', { streams: 3000 * scale, connections: 8, seed: seed + 1, deadline }),
      fuzzTcp(ports.etc, 'etc-rsu', { streams: 3000 * scale, connections: 2, seed: seed + 2, deadline }),
      fuzzMqtt(mqttUrl, { messages: 20_000 * scale, clients: 4, seed: seed + 3, deadline }),
      floodMqtt(mqttUrl, { messages: 100 }),
    ])
    const fuzzSeconds = (performance.now() - t0) / 1000
    await sleep(1000)
    const goodStats = await good.stop()
    probing = false
    await Promise.all([scraper, prober])
    clearInterval(sampler)
    const hwm = status(pid, 'VmHWM')
    const metrics = await scrape()
    const refused: Record<string, number> = {}
    for (const m of metrics.matchAll(/^smartcity_readings_rejected_total\{source="[^"]*",reason="([^"]+)"\} (\S+)$/gm)) refused[m[1]!] = (refused[m[1]!] ?? 0) + Number(m[2])
    const devices = (await (await fetch(`${base}/api/devices`)).json()) as { id: string; framesOk?: number }[] | { devices: { id: string; framesOk?: number }[] }
    const list = Array.isArray(devices) ? devices : devices.devices
    return {
      seed,
      scale,
      gateway_nice: nice ?? '0',
      load_average: loadavg().map((x) => Math.round(x * 10) / 10),
      baseline_good_devices_only: baseline,
      fuzz_seconds: Math.round(fuzzSeconds * 10) / 10,
      sent: { jt808: jt, hj212: hj, etc_rsu: etc, mqtt: mq, flood },
      gateway: {
        rss_before_mb: rssBefore && Math.round(rssBefore),
        peak_rss_mb: Math.round(Math.max(peakRss, hwm ?? 0)),
        longest_event_loop_delay_ms: Math.round(maxLoopDelayMs),
        slowest_healthz_ms: Math.round(maxHealthMs),
        unexpected_exits: gw.unexpectedExits(),
      },
      good_devices: { ...goodStats, station_frames_ok: list.find((d) => d.id === 'good-station')?.framesOk },
      refused_by_reason: refused,
    }
  } finally {
    await gw.kill('SIGTERM').catch(() => undefined)
    gw.close()
    // BENCH_FUZZ_LIVE_KEEP=1 keeps the run directory (gateway.log: with BENCH_NODE_FLAGS=--trace-gc, its GCs).
    if (process.env['BENCH_FUZZ_LIVE_KEEP']) process.stderr.write(`fuzz-live: kept ${dir}\n`)
    else rmSync(dir, { recursive: true, force: true })
  }
}

runIfMain(import.meta.url, run)
