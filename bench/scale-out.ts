/**
 * `npm run bench -- scale-out`: readings per second with 1, 2 and 3 gateway instances sharing one
 * Mosquitto through an MQTT 5 shared subscription (`broker.sharedGroup`, docs/scale-out.md).
 *
 * Each round starts a fresh Mosquitto, N gateway processes (`smartcity gateway`, external broker, group
 * `bench`, each its own client id and dataDir, no sink: the rate is what the instances take into their
 * spools), then the lean QoS 1 publisher (bench/lean-publisher.ts, its own process, 10 connections,
 * 200 stations) with `--readings` readings. The figure is readings / (first publish .. last reading in a
 * spool), read from the instances' /metrics. Bounded: every round has a 180 s deadline.
 *
 * On this machine everything (the publisher, Mosquitto, every instance) shares 2 cores: Mosquitto is
 * one thread and the publisher another busy process, so more instances mostly share the same CPU; the
 * figures show the cost of the split, not the scale-out a district gets from one box per instance.
 *   node --import tsx bench/scale-out.ts [--readings N] [--instances 1,2,3]
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { portOr } from '../cli/flags.ts'
import { findMosquitto, mosquitto } from '../cli/simulate/mosquitto.ts'
import { runIfMain } from './standalone.ts'

const ROOT = join(import.meta.dirname, '..')
const execFileP = promisify(execFile)

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback
}

interface Instance {
  child: ChildProcess
  http: string
}

async function startGateway(dir: string, id: string, mqttUrl: string): Promise<Instance> {
  const httpPort = await portOr(0)
  const data = join(dir, id)
  mkdirSync(data, { recursive: true })
  const file = join(dir, `${id}.yaml`)
  writeFileSync(
    file,
    [
      `gateway: { id: ${id} }`,
      `dataDir: ${data}`,
      'log: { level: warn }',
      `broker: { type: external, url: "${mqttUrl}", clientId: ${id}, sharedGroup: bench }`,
      `http: { host: 127.0.0.1, port: ${httpPort} }`,
      'sources:',
      '  - { type: mqtt, topics: ["city/+/+/+/telemetry"] }',
      'sinks: []',
      '',
    ].join('\n'),
  )
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'smartcity.js'), 'gateway', '--config', file], { stdio: ['ignore', openSync(join(dir, `${id}.log`), 'a'), 'pipe'] })
  let err = ''
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${id} did not start in 60 s: ${err}`)), 60_000)
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString()
      if (err.includes(`gateway ${id}: `)) {
        clearTimeout(t)
        resolve()
      }
    })
    child.once('exit', (c) => {
      clearTimeout(t)
      reject(new Error(`${id} exited ${c}: ${err}`))
    })
  })
  return { child, http: `http://127.0.0.1:${httpPort}` }
}

async function accepted(g: Instance): Promise<number> {
  const text = await (await fetch(`${g.http}/metrics`, { signal: AbortSignal.timeout(5_000) })).text()
  let sum = 0
  for (const line of text.split('\n')) if (line.startsWith('smartcity_readings_accepted_total{')) sum += Number(line.slice(line.lastIndexOf(' ') + 1))
  return sum
}

async function stopGateway(g: Instance): Promise<void> {
  if (g.child.exitCode !== null || g.child.signalCode !== null) return
  const t = setTimeout(() => g.child.kill('SIGKILL'), 20_000)
  await new Promise<void>((resolve) => {
    g.child.once('exit', () => resolve())
    g.child.kill('SIGTERM')
  })
  clearTimeout(t)
}

async function round(bin: string, instances: number, readings: number): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), `scale-out-${instances}-`))
  const broker = mosquitto({ bin, dir: join(dir, 'mosquitto'), port: await portOr(0) })
  await broker.start()
  const gws: Instance[] = []
  try {
    for (let i = 1; i <= instances; i++) gws.push(await startGateway(dir, `gw-${i}`, broker.url))
    const base = Date.UTC(2027, 0, 1) + instances * 86_400_000
    const t0 = performance.now()
    const load0 = loadavg()[0]
    const pub = execFileP(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'lean-publisher.ts'), broker.url, '1', String(readings), '200', String(base), '10'], { cwd: ROOT, timeout: 180_000 })
    const deadline = Date.now() + 180_000
    let counts: number[] = []
    for (;;) {
      counts = await Promise.all(gws.map(accepted))
      if (counts.reduce((a, b) => a + b, 0) >= readings) break
      if (Date.now() > deadline) throw new Error(`${instances} instance(s): ${counts.reduce((a, b) => a + b, 0)} of ${readings} readings in 180 s`)
      await new Promise((r) => setTimeout(r, 100))
    }
    const ms = performance.now() - t0
    const out = JSON.parse((await pub).stdout.trim().split('\n').pop() ?? '{}') as { ms?: number; cpuUs?: number }
    return {
      instances,
      readings,
      seconds: Number((ms / 1000).toFixed(2)),
      readingsPerSec: Math.round(readings / (ms / 1000)),
      perInstance: counts,
      publisherMs: out.ms,
      loadAvg1mAtStart: Number(load0?.toFixed(2)),
    }
  } finally {
    for (const g of gws) await stopGateway(g)
    await broker.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

export async function run(): Promise<Record<string, unknown>> {
  const bin = findMosquitto()
  if (!bin) throw new Error('mosquitto not found (Debian: apt-get install mosquitto)')
  const readings = Math.max(1_000, Math.min(1_000_000, Number(arg('readings', '60000'))))
  const counts = arg('instances', '1,2,3')
    .split(',')
    .map(Number)
    .filter((n) => n >= 1 && n <= 8)
  const rounds: Record<string, unknown>[] = []
  for (const n of counts) rounds.push(await round(bin, n, readings))
  return {
    broker: 'mosquitto (MQTT 5 shared subscription $share/bench/city/+/+/+/telemetry)',
    publisher: 'bench/lean-publisher.ts, QoS 1, 10 connections, 200 stations',
    stored: 'into each instance\'s spool (no sink)',
    cores: cpus().length,
    rounds,
  }
}


runIfMain(import.meta.url, run)
