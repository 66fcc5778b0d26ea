/**
 * The gateway's own cost per MQTT reading, in one process: the embedded aedes broker, the MQTT source,
 * validation, normalization, line protocol and the spool append, fed over a loopback TCP socket with
 * pre-encoded MQTT 3.1.1 PUBLISH packets (the same 7-field station reading as the ingest benchmark). There
 * is no sink, so the figure is the ingest side alone; `ingest` measures the whole path with InfluxDB.
 * Used to see where a change moves the CPU time without the noise of three processes on two cores:
 *   node --import tsx bench/hot-path.ts            (BENCH_READINGS, default 200000)
 *   BENCH_PROFILE=/tmp/hot.cpuprofile ...       (a CPU profile of the measured part alone, for DevTools)
 *   BENCH_HEAP_PROFILE=/tmp/hot.heapprofile ... (where the measured part allocates, garbage included)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { parseConfig } from '../gateway/config.ts'
import { createGateway } from '../gateway/gateway.ts'
import { connectPacket, publishPacket } from './mqtt-wire.ts'
import { runIfMain } from './standalone.ts'
import { stationPayload } from './stations.ts'


async function once(qos: 0 | 1, n: number): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-hot-'))
  const r = parseConfig({ dataDir: dir, broker: { type: 'embedded', port: 0 }, http: { enabled: false }, sinks: [] }, {})
  if (!r.ok) throw new Error(r.problems.join('; '))
  const gw = createGateway(r.config, { log: pino({ level: 'warn' }) })
  await gw.start()
  const url = new URL(gw.endpoints().mqtt)
  // Windows of packets, written as one chunk each: about what a busy link delivers per read.
  const WINDOW = qos === 1 ? 2000 : 5000
  const base = 1_785_000_000_000
  const windows: Buffer[] = []
  for (let w = 0; w * WINDOW < n; w++) {
    const parts: Buffer[] = []
    for (let i = w * WINDOW; i < Math.min(n, (w + 1) * WINDOW); i++) {
      parts.push(publishPacket(`city/bench/water_quality/wq-${String(i % 100).padStart(4, '0')}/telemetry`, stationPayload(i, base), qos, (i % 65535) + 1))
    }
    windows.push(Buffer.concat(parts))
  }
  const sock: Socket = connect(Number(url.port), url.hostname)
  await new Promise<void>((res) => sock.once('connect', () => res()))
  sock.write(connectPacket(`bench-hot-${qos}`))
  let acked = 0
  let connack = false
  let onAck: (() => void) | undefined
  sock.on('data', (d: Buffer) => {
    let b = d.length
    if (!connack) {
      connack = true
      b -= 4
    }
    acked += b / 4 // PUBACK is 4 bytes
    onAck?.()
  })
  await new Promise((res) => setTimeout(res, 100))
  const accepted = () => {
    let t = 0
    for (const c of gw.metrics.hot.accepted.values.values()) t += c.n
    return t
  }
  const profile = process.env['BENCH_PROFILE']
  const heapProfile = process.env['BENCH_HEAP_PROFILE']
  const session = profile || heapProfile ? new Session() : undefined
  if (session) session.connect()
  if (session && profile) {
    await session.post('Profiler.enable')
    await session.post('Profiler.start')
  }
  if (session && heapProfile) {
    await session.post('HeapProfiler.enable')
    await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
  }
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  for (let w = 0; w < windows.length; w++) {
    if (qos === 1) {
      // Keep at most two windows in flight, as a device library with a QoS 1 window would.
      while (acked < (w - 1) * WINDOW) await new Promise<void>((res) => (onAck = res))
    }
    if (!sock.write(windows[w]!)) await new Promise<void>((res) => sock.once('drain', () => res()))
  }
  while (qos === 1 ? acked < n : accepted() < n) await new Promise((res) => setTimeout(res, qos === 1 ? 1 : 5))
  const ms = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  if (session && profile) {
    const { profile: p } = await session.post('Profiler.stop')
    writeFileSync(`${profile}.qos${qos}`, JSON.stringify(p))
  }
  if (session && heapProfile) {
    const { profile: p } = await session.post('HeapProfiler.stopSampling')
    writeFileSync(`${heapProfile}.qos${qos}`, JSON.stringify(p))
  }
  session?.disconnect()
  const out = {
    readings: n,
    accepted: accepted(),
    per_s: Math.round((n / ms) * 1000),
    cpu_us_per_reading: Number(((cpu.user + cpu.system) / n).toFixed(2)),
    user_us_per_reading: Number((cpu.user / n).toFixed(2)),
    system_us_per_reading: Number((cpu.system / n).toFixed(2)),
    // The pre-encoded packets (about 50 MB) live in this process too.
    process_rss_mb_with_test_data: Math.round(process.memoryUsage.rss() / 2 ** 20),
  }
  sock.destroy()
  await gw.stop()
  rmSync(dir, { recursive: true, force: true })
  return out
}

export async function run(): Promise<Record<string, unknown>> {
  const n = Number(process.env['BENCH_READINGS'] ?? 200_000)
  const only = new Set((process.env['BENCH_ONLY'] ?? 'qos0,qos1').split(','))
  const out: Record<string, unknown> = {}
  if (only.has('qos0')) out['qos0'] = await once(0, n)
  if (only.has('qos1')) out['qos1'] = await once(1, n)
  return out
}

runIfMain(import.meta.url, run)
