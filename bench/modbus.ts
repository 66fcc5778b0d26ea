/**
 * Benchmark: one gateway Modbus source polling 500 simulated Modbus TCP devices (20 registers each) every
 * second. Reports achieved polls per second, lateness of each poll against its schedule (p50/p99/max), the
 * gateway process's CPU and RSS. The devices run in a child process. Goal (issue 3): all 500 polled every
 * second with p99 lateness under 100 ms on a 2-core machine.
 *
 * Run: node --import tsx bench/modbus.ts   (or through `npm run bench`)
 * Env: MODBUS_BENCH_DEVICES (500), MODBUS_BENCH_SECONDS (20).
 */
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import type { SourceContext } from '../gateway/core/types.ts'
import { ModbusTcpSourceConfig } from '../gateway/sources/modbus/config.ts'
import { createModbusSource } from '../gateway/sources/modbus/index.ts'
import { BENCH_PROFILE } from './modbus-profile.ts'
import { runIfMain } from './standalone.ts'

const HERE = dirname(fileURLToPath(import.meta.url))

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

export async function run(): Promise<Record<string, unknown>> {
  const devices = Number(process.env['MODBUS_BENCH_DEVICES'] ?? 500)
  const seconds = Number(process.env['MODBUS_BENCH_SECONDS'] ?? 20)
  const warmupS = 3
  const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, 'modbus-sim.ts'), String(devices)], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout! })
  const next = () => new Promise<string>((resolve) => lines.once('line', resolve))
  const { ports } = JSON.parse(await next()) as { ports: number[] }

  const profileFile = join(tmpdir(), `bench-modbus-profile-${process.pid}.json`)
  writeFileSync(profileFile, JSON.stringify(BENCH_PROFILE))
  let batches = 0
  let points = 0
  const ctx: SourceContext = {
    log: pino({ level: 'silent' }),
    async ingest(b) {
      batches++
      // One telemetry reading per device poll; the pipeline would make one point of each.
      points += b.readings.length
      return { accepted: b.frames ?? 1, refused: 0 }
    },
    async reject() {},
    devices: { get: () => undefined, list: () => [], setOnline: () => false },
    async publish() {},
    dataDir: tmpdir(),
    now: () => Date.now(),
  }
  const source = createModbusSource(
    ModbusTcpSourceConfig.parse({
      type: 'modbus-tcp',
      id: 'bench',
      timeoutMs: 1000,
      retries: 0,
      devices: ports.map((port, i) => ({ device: `em-${i}`, unit: 1, profile: profileFile, intervalMs: 1000, port })),
    }),
    { recordLateness: true },
  )
  await source.start(ctx)
  await new Promise((r) => setTimeout(r, warmupS * 1000))
  const s0 = source.stats()
  const lateFrom = s0.lateness?.length ?? 0
  const b0 = batches
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  let rssMax = 0
  const rssTimer = setInterval(() => {
    rssMax = Math.max(rssMax, process.memoryUsage().rss)
  }, 250)
  await new Promise((r) => setTimeout(r, seconds * 1000))
  const wall = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  clearInterval(rssTimer)
  const s1 = source.stats()
  child.stdin!.write('stats\n')
  const sim = JSON.parse(await next()) as { cpuPercent: number; requests: number; rssMb: number }
  await source.stop()
  child.stdin!.end()
  const late = (s1.lateness ?? []).slice(lateFrom).sort((a, b) => a - b)
  const polls = s1.polls - s0.polls
  return {
    devices,
    registersPerDevice: 20,
    intervalMs: 1000,
    seconds: Number(wall.toFixed(1)),
    pollsPerSecond: Number((polls / wall).toFixed(1)),
    targetPollsPerSecond: devices,
    readingsPerSecond: Number(((batches - b0) / wall).toFixed(1)),
    failedPolls: s1.failedPolls - s0.failedPolls,
    latenessMs: { p50: percentile(late, 50), p99: percentile(late, 99), max: late[late.length - 1] ?? 0 },
    gatewayCpuPercentOfOneCore: Number((((cpu.user + cpu.system) / 1000 / (wall * 1000)) * 100).toFixed(1)),
    gatewayRssMb: Number((rssMax / 2 ** 20).toFixed(1)),
    simulatorCpuPercentOfOneCore: Number(sim.cpuPercent.toFixed(1)),
    points,
    goalMet: polls / wall >= devices * 0.99 && percentile(late, 99) < 100,
  }
}

runIfMain(import.meta.url, run)
