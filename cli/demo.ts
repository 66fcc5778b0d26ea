/**
 * `smartcity demo` (what `npm start` runs): a simulated pilot district on this machine. It starts the
 * embedded broker, the gateway and the simulators of every device family. If `influxd` is on the PATH and
 * no InfluxDB URL is given, it runs one as a child process with its data under the data dir; otherwise the
 * readings wait in the spool until the gateway is pointed at an InfluxDB.
 */
import { join, resolve } from 'node:path'
import pino from 'pino'
import type { z } from 'zod'
import { LogLevel, parseConfig } from '../gateway/config.ts'
import { createGateway } from '../gateway/gateway.ts'
import { demoParts } from './demo-parts/index.ts'
import type { DemoPartHandle } from './demo-parts/types.ts'
import { findInfluxd, type Influxd, influxd } from './influxd.ts'
import { overridesFrom, portOr } from './flags.ts'

const DISTRICT = 'xian-gaoxin'

export async function runDemo(values: Record<string, string | boolean | undefined>): Promise<number> {
  const wanted = typeof values['parts'] === 'string' ? values['parts'].split(',').map((x) => x.trim()).filter(Boolean) : undefined
  const unknown = wanted?.filter((w) => !demoParts.some((p) => p.id === w)) ?? []
  if (unknown.length > 0) {
    process.stderr.write(`unknown demo part(s) ${unknown.join(', ')}; parts: ${demoParts.map((p) => p.id).join(', ')}\n`)
    return 2
  }
  const o = overridesFrom(values)
  const dataDir = resolve(o.dataDir ?? './data/demo')
  // Checked by the configuration's own schema before pino sees it, so a wrong level gets our message.
  const lv = LogLevel.safeParse(typeof values['log-level'] === 'string' ? values['log-level'] : 'warn')
  if (!lv.success) {
    process.stderr.write(`--log-level: ${lv.error.issues[0]?.message ?? 'not a log level'}\n`)
    return 2
  }
  const level = lv.data
  const log = pino({ level, base: { demo: DISTRICT } })
  const out = (s: string) => process.stdout.write(`${s}\n`)
  const freePort = () => portOr(0)

  // InfluxDB: given, embedded (influxd on the PATH), or none (readings stay in the spool).
  let db: Influxd | undefined
  const influxGiven = o.influxUrl !== undefined
  if (!influxGiven) {
    const bin = findInfluxd()
    if (bin) {
      db = influxd({ bin, dir: join(dataDir, 'influxdb'), port: await portOr(8086), rpcPort: await freePort() })
      await db.start()
      o.influxUrl = db.url
    }
  }
  // Port 0 means "any free port": resolve it now, because the simulators must know where to connect.
  o.mqttPort = o.mqttPort === 0 ? await freePort() : (o.mqttPort ?? (await portOr(1883)))
  o.httpPort = o.httpPort ?? (await portOr(8080))
  o.dataDir = join(dataDir, 'gateway')
  const mqttUrl = o.mqttUrl ?? `mqtt://127.0.0.1:${o.mqttPort}`

  const handles: DemoPartHandle[] = []
  const ctx = { district: DISTRICT, dataDir, log, freePort, mqttUrl }
  for (const part of demoParts.filter((p) => !wanted || wanted.includes(p.id))) {
    try {
      handles.push(await part.prepare(ctx))
    } catch (err) {
      out(`! ${part.name}: not started (${(err as Error).message})`)
    }
  }
  const raw: z.input<typeof import('../gateway/config.ts').GatewayConfig> = {
    gateway: { id: 'demo-gateway', district: DISTRICT, statusIntervalSec: 30 },
    log: { level },
    sinks: o.influxUrl && !o.influxOrg ? [{ type: 'influx-v1', url: o.influxUrl, database: o.influxDb ?? 'smartcity' }] : [],
    sources: [{ type: 'mqtt' }, ...handles.flatMap((h) => h.sources)],
    devices: handles.flatMap((h) => h.devices),
    // The alarm rules operators of a pilot district start with (gateway/alarms/README.md).
    alarms: {
      rules: [
        { name: 'ph_out_of_range', measurement: 'water_quality', field: 'ph', outside: [6, 9], forSec: 300, hysteresis: 0.1 },
        { name: 'water_worse_than_iii', measurement: 'water_quality', field: 'gb3838_class', above: 3, message: 'water class {value} at {device}: worse than class III' },
        { name: 'phase_voltage_off_nominal', measurement: 'energy_meter', fields: ['voltage_a_v', 'voltage_b_v', 'voltage_c_v'], deviation: { nominal: 220, pct: 10 }, hysteresis: 2, forSec: 10 },
        { name: 'etc_failure_rate', type: 'rate', measurement: 'etc_transaction', where: { tag: 'result', notIn: ['ok'] }, windowSec: 600, above: 0.05, minCount: 20 },
        { name: 'vehicle_overspeed', measurement: 'position', field: 'speed_kmh', above: 80, forSec: 10, hysteresis: 5, severity: 'critical' },
        { name: 'device_offline', type: 'offline', afterSec: 120 },
      ],
    },
  }
  const r = parseConfig(raw, o)
  if (!r.ok) {
    process.stderr.write(`demo configuration is invalid:\n${r.problems.join('\n')}\n`)
    await db?.stop()
    return 1
  }
  const gw = createGateway(r.config, { log })
  try {
    await gw.start()
  } catch (err) {
    // The gateway stopped what it had started; the simulators and InfluxDB started for it go too, and the
    // caller prints the one line that says why (a StartError, code start_failed).
    for (let i = handles.length - 1; i >= 0; i--) await handles[i]!.stop().catch(() => undefined)
    await db?.stop()
    throw err
  }
  for (const h of handles) await h.start()

  const e = gw.endpoints()
  out(`Smart-city demo district "${DISTRICT}" is running.`)
  out(`  MQTT broker (embedded)  ${e.mqtt}`)
  if (e.http) {
    out(`  Live dashboard          ${e.http}/`)
    out(`  HTTP API                ${e.http}/healthz  ${e.http}/metrics  ${e.http}/api/devices  ${e.http}/api/alarms`)
  }
  const sink = r.config.sinks[0]
  if (sink?.type === 'influx-v1') out(`  InfluxDB 1.x            ${sink.url} database "${sink.database}"${db ? ` (started by the demo, data in ${join(dataDir, 'influxdb')})` : ''}`)
  else if (sink?.type === 'influx-v2') out(`  InfluxDB 2.x/3.x        ${sink.url} bucket "${sink.bucket}"`)
  else out(`  InfluxDB                none: readings are kept in the spool (${join(dataDir, 'gateway', 'spool')}).\n                          Install influxdb (apt-get install influxdb) or run: npm start -- --influx-url http://127.0.0.1:8086`)
  out(`  Spool and dead letters  ${join(dataDir, 'gateway')}`)
  for (const h of handles) for (const line of h.describe(e)) out(`  ${line}`)
  out('Press Ctrl-C to stop.')

  const duration = typeof values['duration'] === 'string' ? Number(values['duration']) : undefined
  await new Promise<void>((resolveStop) => {
    process.once('SIGINT', () => resolveStop())
    process.once('SIGTERM', () => resolveStop())
    if (duration !== undefined && Number.isFinite(duration)) setTimeout(resolveStop, duration * 1000)
  })
  out('stopping...')
  // A second Ctrl-C (or SIGTERM) stops at once; every step of an orderly stop is bounded, so one stuck
  // simulator cannot hold the district up.
  const force = () => process.exit(130)
  process.once('SIGINT', force)
  process.once('SIGTERM', force)
  const bounded = async (what: string, p: Promise<unknown>, ms = 10_000) => {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<'late'>((r) => {
      timer = setTimeout(() => r('late'), ms)
    })
    const r = await Promise.race([p.catch(() => undefined), late])
    clearTimeout(timer)
    if (r === 'late') out(`  ${what} did not stop within ${ms / 1000} s; going on`)
  }
  for (let i = handles.length - 1; i >= 0; i--) await bounded(`demo part ${i + 1}`, handles[i]!.stop())
  await bounded('the gateway', gw.stop(), 20_000)
  if (db) await bounded('influxd', db.stop())
  return 0
}
