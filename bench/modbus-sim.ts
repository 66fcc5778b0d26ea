/**
 * The benchmark's device side, in its own process so that the gateway's CPU and memory are measured alone:
 * N Modbus TCP devices, each its own server on a free loopback port, serving 20 registers.
 * Prints {"ports": [...]} once listening, then {"cpu": ...} when asked on stdin ("stats").
 */
import { createInterface } from 'node:readline'
import { ModbusProfile } from '../devices/common/modbus/profile.ts'
import { simulateTcp } from '../simulators/modbus/index.ts'
import { BENCH_PROFILE } from './modbus-profile.ts'

const n = Number(process.argv[2] ?? 500)
const profile = ModbusProfile.parse(BENCH_PROFILE)
const sims: Awaited<ReturnType<typeof simulateTcp>>[] = []
for (let i = 0; i < n; i++) sims.push(await simulateTcp({ port: 0, devices: [{ unit: 1, profile }] }))
const cpu0 = process.cpuUsage()
const t0 = performance.now()
process.stdout.write(`${JSON.stringify({ ports: sims.map((s) => s.port) })}\n`)
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'stats') {
    const c = process.cpuUsage(cpu0)
    const wall = performance.now() - t0
    const requests = sims.reduce((a, s) => a + s.counters.requests, 0)
    process.stdout.write(`${JSON.stringify({ cpuPercent: ((c.user + c.system) / 1000 / wall) * 100, requests, rssMb: process.memoryUsage().rss / 2 ** 20 })}\n`)
  }
})
process.stdin.on('end', () => process.exit(0))
