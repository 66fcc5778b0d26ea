/**
 * `smartcity demo` (what `npm start` runs): the shipped scenario simulators/scenarios/demo-district.yaml
 * run through the scenario runner (cli/simulate/run.ts) until Ctrl-C, against a gateway configuration made
 * here: the embedded broker on 1883 (or a free port), the HTTP API on 8080 (or a free port), the district's
 * inventory and alarm rules, and an InfluxDB: given, started here as a child process when `influxd` is on
 * the PATH (its data under the data dir), or none (readings wait in the spool).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseDocument } from 'yaml'
import type { z } from 'zod'
import { type GatewayConfig, LogLevel, parseConfig } from '../gateway/config.ts'
import { demoParts } from './demo-parts/index.ts'
import { overridesFrom, portOr } from './flags.ts'
import { findInfluxd, type Influxd, influxd } from './influxd.ts'
import { idsOf, type Planned } from './simulate/devices.ts'
import { inventoryFor } from './simulate/districts.ts'
import { runSimulate } from './simulate/run.ts'
import { type DeviceEntry, loadScenario } from './simulate/scenario.ts'

/** simulators/scenarios/demo-district.yaml of this checkout (from cli/ or dist/cli/). */
export function demoScenarioFile(): string {
  for (const up of ['..', '../..']) {
    const p = resolve(import.meta.dirname, up, 'simulators', 'scenarios', 'demo-district.yaml')
    if (existsSync(p)) return p
  }
  throw new Error('simulators/scenarios/demo-district.yaml not found')
}

/** The demo part (`--parts`) a scenario entry belongs to. */
export function partOf(e: Pick<DeviceEntry, 'kind' | 'protocol'>): string {
  const p: string = e.protocol
  if (p === 'mqtt') return e.kind === 'elevator' ? 'city-services' : 'water-mqtt'
  if (p === 'jt808' || p === 'hj212') return 'tcp-platforms'
  if (p.startsWith('modbus')) return 'modbus'
  if (p === 'nmea' || p === 'dlt645') return 'serial'
  return 'city-services'
}

type RawConfig = z.input<typeof GatewayConfig>

export async function runDemo(values: Record<string, string | boolean | undefined>): Promise<number> {
  const wanted = typeof values['parts'] === 'string' ? values['parts'].split(',').map((x) => x.trim()).filter(Boolean) : undefined
  const unknown = wanted?.filter((w) => !demoParts.some((p) => p.id === w)) ?? []
  if (unknown.length > 0) {
    process.stderr.write(`unknown demo part(s) ${unknown.join(', ')}; parts: ${demoParts.map((p) => p.id).join(', ')}\n`)
    return 2
  }
  const o = overridesFrom(values)
  const dataDir = resolve(o.dataDir ?? './data/demo')
  // Checked by the configuration's own schema, so a wrong level gets our message before anything starts.
  const lv = LogLevel.safeParse(typeof values['log-level'] === 'string' ? values['log-level'] : 'warn')
  if (!lv.success) {
    process.stderr.write(`--log-level: ${lv.error.issues[0]?.message ?? 'not a log level'}\n`)
    return 2
  }
  const out = (s: string) => process.stdout.write(`${s}\n`)

  // The scenario, with only the entries of the parts asked for (written to the run directory, comments kept).
  const file = demoScenarioFile()
  const loaded = await loadScenario(file)
  if (!loaded.ok) {
    process.stderr.write(`${file}: ${loaded.problems.join('\n')}\n`)
    return 2
  }
  const sc = loaded.scenario
  const runDir = join(dataDir, 'run')
  mkdirSync(runDir, { recursive: true })
  const keep = sc.devices.map((e) => !wanted || wanted.includes(partOf(e)))
  for (const w of wanted ?? []) if (!sc.devices.some((e) => partOf(e) === w)) out(`! ${demoParts.find((p) => p.id === w)?.name ?? w}: not in the demo district's scenario yet`)
  if (!keep.some(Boolean)) {
    process.stderr.write(`none of the parts ${wanted?.join(', ')} has devices in ${file}\n`)
    return 2
  }
  const doc = parseDocument(readFileSync(file, 'utf8'))
  const items = (doc.get('devices') as { items: unknown[] }).items
  ;(doc.get('devices') as { items: unknown[] }).items = items.filter((_, i) => keep[i])
  const scenarioFile = join(runDir, 'demo-district.yaml')
  writeFileSync(scenarioFile, doc.toString())
  sc.devices = sc.devices.filter((_, i) => keep[i])

  // InfluxDB: given, started here (influxd on the PATH), or none (readings stay in the spool).
  let db: Influxd | undefined
  if (o.influxUrl === undefined) {
    const bin = findInfluxd()
    if (bin) {
      db = influxd({ bin, dir: join(dataDir, 'influxdb'), port: await portOr(8086), rpcPort: await portOr(0) })
      await db.start()
      o.influxUrl = db.url
    }
  }
  try {
    // Port 0 means "any free port": resolved now, because the simulators must know where to connect.
    o.mqttPort = o.mqttPort === 0 ? await portOr(0) : (o.mqttPort ?? (await portOr(1883)))
    o.httpPort = o.httpPort === 0 ? await portOr(0) : (o.httpPort ?? (await portOr(8080)))
    o.dataDir = join(dataDir, 'gateway')
    const hj = sc.devices.flatMap((e, i) => (e.protocol === 'hj212' && e.password !== undefined ? idsOf(e, i).map((mn) => [mn, e.password!] as const) : []))
    const raw: RawConfig = {
      gateway: { id: 'demo-gateway', district: sc.district, statusIntervalSec: 30 },
      log: { level: lv.data },
      sinks: o.influxUrl && !o.influxOrg ? [{ type: 'influx-v1', url: o.influxUrl, database: o.influxDb ?? 'smartcity' }] : [],
      sources: [
        { type: 'mqtt' },
        ...(sc.devices.some((e) => e.protocol === 'jt808') ? [{ type: 'jt808' as const, port: await portOr(0) }] : []),
        ...(sc.devices.some((e) => e.protocol === 'hj212') ? [{ type: 'hj212' as const, port: await portOr(0), passwords: Object.fromEntries(hj) }] : []),
      ],
      devices: inventoryFor(sc, idsOf),
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
      return 1
    }
    const cfg = r.config
    const banner = (up: { config: GatewayConfig; plan: readonly Planned[]; gatewayPid: number | undefined }) => {
      const c = up.config
      const loopback = (h: string) => (h === '0.0.0.0' || h === '::' ? '127.0.0.1' : h)
      const mqtt = c.broker.type === 'embedded' ? `mqtt://${loopback(c.broker.host)}:${c.broker.port}` : c.broker.url
      const http = c.http.enabled ? `http://${loopback(c.http.host)}:${c.http.port}` : undefined
      out(`Smart-city demo district "${sc.district}" is running.`)
      out(`  MQTT broker (${c.broker.type})  ${mqtt}`)
      if (http) {
        out(`  Live dashboard          ${http}/`)
        out(`  HTTP API                ${http}/healthz  ${http}/metrics  ${http}/api/devices  ${http}/api/alarms`)
      }
      const sink = c.sinks[0]
      if (sink?.type === 'influx-v1') out(`  InfluxDB 1.x            ${sink.url} database "${sink.database}"${db ? ` (started by the demo, data in ${join(dataDir, 'influxdb')})` : ''}`)
      else if (sink?.type === 'influx-v2') out(`  InfluxDB 2.x/3.x        ${sink.url} bucket "${sink.bucket}"`)
      else out(`  InfluxDB                none: readings are kept in the spool (${join(dataDir, 'gateway', 'spool')}).\n                          Install influxdb (apt-get install influxdb) or run: npm start -- --influx-url http://127.0.0.1:8086`)
      out(`  Spool and dead letters  ${join(dataDir, 'gateway')}`)
      out(`  Gateway                 child process ${up.gatewayPid ?? '?'}, log ${join(runDir, 'gateway.log')}, configuration ${join(runDir, 'gateway.json')}`)
      out(`  Scenario                ${file}`)
      for (const p of up.plan) for (const line of p.handle?.describe({ mqtt, ...(http ? { http } : {}) }) ?? []) out(`  ${line}`)
      for (const p of up.plan) if (!p.handle) out(`! ${p.label}: not started (${p.problem ?? 'unknown'})`)
      out('Press Ctrl-C to stop.')
    }
    const args: Record<string, string | boolean | undefined> = { ...(typeof values['duration'] === 'string' ? { duration: values['duration'] } : {}), ...(typeof values['seed'] === 'string' ? { seed: values['seed'] } : {}) }
    return await runSimulate(scenarioFile, args, (s) => void process.stdout.write(s), {
      config: { config: cfg, name: 'the demo configuration' },
      keepAddresses: true,
      allowNoSink: true,
      demo: true,
      runDir,
      onUp: banner,
    })
  } finally {
    if (db) await db.stop().catch(() => undefined)
  }
}
