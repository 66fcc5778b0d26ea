/**
 * Life cycle (issue 13 item 6): a reload applies devices, alarm rules, credentials and sources added,
 * changed or removed without a restart (a source that did not change keeps its connections); an invalid
 * new configuration changes nothing and is audited; a changed source that cannot start keeps its old
 * configuration; `smartcity gateway` reloads on SIGHUP (a Modbus device added is polled; a broken file
 * keeps the old configuration) and stops on SIGTERM in order within its deadline, even with a database
 * that never answers. A crash (SIGKILL) restarting from the spool is test/e2e/durability.test.ts.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { afterAll, describe, expect, it } from 'vitest'
import { builtinProfile } from '../../devices/modbus-profiles.ts'
import { type GatewayConfigInput, parseConfig } from '../../gateway/config.ts'
import type { AuditRecord } from '../../gateway/core/audit.ts'
import type { Gateway } from '../../gateway/gateway.ts'
import { simulateTcp } from '../../simulators/modbus/index.ts'
import { have, tempDir } from '../helpers/env.ts'
import { gatewayFrom, metricValue, stationReading } from '../helpers/gateway.ts'
import { useInflux } from '../helpers/influx.ts'
import { freePort, sleep, waitFor } from '../helpers/net.ts'

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'smartcity.js')

/** True when something accepts connections on the port. */
async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port })
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

function valid(raw: GatewayConfigInput) {
  const r = parseConfig(raw)
  if (!r.ok) throw new Error(r.problems.join('\n'))
  return r
}

describe('gateway.reload', () => {
  const tmp = tempDir()
  const held: Server[] = []
  let gw: Gateway | undefined
  afterAll(async () => {
    await gw?.stop()
    for (const s of held) await new Promise((r) => s.close(r))
    tmp.cleanup()
  })

  it('sources added, changed and removed; the untouched one keeps its connection; devices, alarm rules, hooks; audited', { timeout: 60_000 }, async () => {
    const [mqttPort, jtPort, hjPort, jt2Port] = [await freePort(), await freePort(), await freePort(), await freePort()]
    const base = (): GatewayConfigInput => ({
      dataDir: join(tmp.dir, 'gw'),
      http: { enabled: true, port: 0 },
      broker: { type: 'embedded', port: mqttPort },
      sources: [{ type: 'mqtt' }, { type: 'jt808', id: 'jt', port: jtPort }, { type: 'hj212', id: 'hj', port: hjPort }],
      devices: [{ id: 'wq-1', kind: 'water_quality', district: 'd1' }],
    })
    const audit: AuditRecord[] = []
    gw = gatewayFrom(base(), {}, { audit: { record: (r) => audit.push(r) } })
    await gw.start()
    const hooks: string[] = []
    gw.onReload((next) => {
      hooks.push(next.sources.map((s) => s.id).join(','))
    })
    // A logger connected to the hj212 source: it must stay connected through the reload.
    const logger: Socket = connect({ host: '127.0.0.1', port: hjPort })
    let loggerClosed = false
    logger.on('close', () => (loggerClosed = true))
    logger.on('error', () => {})
    await new Promise<void>((r) => logger.once('connect', () => r()))

    const next = base()
    next.sources = [{ type: 'mqtt', maxPayloadBytes: 200 }, { type: 'hj212', id: 'hj', port: hjPort }, { type: 'jt808', id: 'jt2', port: jt2Port }]
    next.devices = [{ id: 'wq-1', kind: 'water_quality', district: 'd2' }, { id: 'wq-2', kind: 'water_quality', district: 'd1', site: 'bridge' }]
    next.alarms = { rules: [{ name: 'ph_high', measurement: 'water_quality', field: 'ph', above: 8.5 }] }
    next.sinks = [{ type: 'influx-v1', url: 'http://127.0.0.1:9' }]
    const r = await gw.reload(valid(next), { actor: 'ops', actorType: 'token', address: '127.0.0.1' })
    expect(r.problems).toEqual([])
    expect(r.ok).toBe(true)
    expect(r.restartNeeded).toEqual(['sinks'])
    expect(r.changes).toEqual(
      expect.arrayContaining(['source jt: removed', 'source mqtt: restarted with its new configuration', 'source jt2: added', 'devices: 1 added (wq-2)', 'devices: 1 changed (wq-1)', 'alarms: 1 rules']),
    )
    expect(r.changes.some((c) => c.startsWith('source hj'))).toBe(false)
    expect(gw.config.sinks).toEqual([])
    expect(gw.config.sources.map((s) => s.id)).toEqual(['mqtt', 'hj', 'jt2'])
    expect(hooks).toEqual(['mqtt,hj,jt2'])
    expect(await listening(jtPort)).toBe(false)
    expect(await listening(jt2Port)).toBe(true)
    await sleep(200)
    expect(loggerClosed).toBe(false)
    logger.destroy()

    // The restarted MQTT source took its route over (one ingest per message, not two) with its new limit,
    // the inventory's new district tags the point, and the new alarm rule fires.
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`)
    await c.publishAsync('city/d1/water_quality/wq-1/telemetry', JSON.stringify({ ph: 8.9 }), { qos: 1 })
    await c.publishAsync('city/d1/water_quality/wq-1/telemetry', JSON.stringify({ ph: 7, note: 'x'.repeat(300) }), { qos: 1 })
    await c.endAsync()
    expect(await metricValue(gw, 'smartcity_readings_accepted_total', { source: 'mqtt' })).toBe(1)
    expect(await metricValue(gw, 'smartcity_readings_rejected_total', { source: 'mqtt', reason: 'payload_too_large' })).toBe(1)
    await waitFor(() => gw!.alarms.listActive().find((a) => a.rule === 'ph_high' && a.device === 'wq-1'), 5_000, 'the new rule fires')
    const devices = (await (await fetch(`${gw.endpoints().http}/api/devices`)).json()) as { devices: { id: string; district: string; site?: string }[] }
    expect(devices.devices.find((d) => d.id === 'wq-1')?.district).toBe('d2')
    expect(devices.devices.find((d) => d.id === 'wq-2')).toMatchObject({ district: 'd1', site: 'bridge' })

    expect(audit).toEqual([expect.objectContaining({ actor: 'ops', actorType: 'token', action: 'config.reload', outcome: 'ok', address: '127.0.0.1', detail: expect.stringContaining('source jt2: added') })])
    expect(await metricValue(gw, 'smartcity_config_reloads_total', { outcome: 'ok' })).toBe(1)

    // An invalid configuration: nothing changes, the failure is audited with the problems.
    const bad = parseConfig({ ...next, sources: [{ type: 'jt808', id: 'jt2', port: 'seven' }] } as never)
    const f = await gw.reload(bad)
    expect(f.ok).toBe(false)
    expect(f.problems.join('\n')).toContain('sources[0].port')
    expect(f.changes).toEqual([])
    expect(gw.config.sources.map((s) => s.id)).toEqual(['mqtt', 'hj', 'jt2'])
    expect(await listening(jt2Port)).toBe(true)
    expect(audit[1]).toMatchObject({ actor: 'system', actorType: 'system', action: 'config.reload', outcome: 'failed', reason: 'config_invalid', detail: expect.stringContaining('sources[0].port') })
    expect(await metricValue(gw, 'smartcity_config_reloads_total', { outcome: 'failed' })).toBe(1)

    // A changed source whose new port is taken: a problem, and it runs with its previous configuration.
    const taken = createServer()
    held.push(taken)
    await new Promise<void>((res) => taken.listen(0, '127.0.0.1', () => res()))
    const takenPort = (taken.address() as { port: number }).port
    const moved = { ...next, sources: [{ type: 'mqtt' as const, maxPayloadBytes: 200 }, { type: 'hj212' as const, id: 'hj', port: hjPort }, { type: 'jt808' as const, id: 'jt2', port: takenPort }] }
    const m = await gw.reload(valid(moved))
    expect(m.ok).toBe(false)
    expect(m.problems).toEqual([expect.stringMatching(/^source jt2: .*EADDRINUSE/), 'source jt2: running with its previous configuration'])
    expect(await listening(jt2Port)).toBe(true)
    expect(gw.config.sources.find((s) => s.id === 'jt2')).toMatchObject({ port: jt2Port })
    expect(audit[2]).toMatchObject({ outcome: 'failed', reason: 'partly_applied' })
    // Reloads queue: two at once both complete, in order.
    const [a, b] = await Promise.all([gw.reload(valid(next)), gw.reload(valid(base()))])
    expect(a.ok && b.ok).toBe(true)
    expect(gw.config.sources.map((s) => s.id)).toEqual(['mqtt', 'jt', 'hj'])
    expect(await listening(jtPort)).toBe(true)
  })

  it('what needs a restart is reported and keeps running as it was (the HTTP listener); the broker\'s credentials apply at once', { timeout: 20_000 }, async () => {
    const cfg = (users: Record<string, string>, httpPort: number): GatewayConfigInput => ({ dataDir: join(tmp.dir, 'gw3'), http: { port: httpPort }, broker: { type: 'embedded', port: 0, users } })
    const httpPort = await freePort()
    const g = gatewayFrom(cfg({ dev: 'old-password-1' }, httpPort))
    await g.start()
    try {
      const r = await g.reload(valid(cfg({ dev: 'new-password-2' }, await freePort())))
      expect(r).toMatchObject({ ok: true, restartNeeded: ['http'] })
      expect(r.changes).toContain('broker: credentials, ACL and limits reloaded')
      expect(g.config.broker).toMatchObject({ users: { dev: 'new-password-2' } })
      expect(g.config.http.port).toBe(httpPort)
      expect((await fetch(`http://127.0.0.1:${httpPort}/healthz`)).status).toBe(200)
      // The new secret is known to the redactor at once, although not applied.
      expect(g.redactor.scrub('new-password-2')).toBe('[redacted]')
    } finally {
      await g.stop()
    }
  })

  it('an MQTT source removed leaves its topics; added again it takes them, each message ingested once', { timeout: 20_000 }, async () => {
    const mqttPort = await freePort()
    const cfg = (sources: GatewayConfigInput['sources']): GatewayConfigInput => ({ dataDir: join(tmp.dir, 'gw4'), http: { enabled: false }, broker: { type: 'embedded', port: mqttPort }, sources })
    const hjPort = await freePort()
    const g = gatewayFrom(cfg([{ type: 'mqtt', id: 'wq' }, { type: 'hj212', id: 'hj', port: hjPort }]))
    await g.start()
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`)
    const send = (ph: number) => c.publishAsync('city/d1/water_quality/wq-9/telemetry', JSON.stringify({ ph }), { qos: 1 })
    try {
      await send(7)
      expect((await g.reload(valid(cfg([{ type: 'hj212', id: 'hj', port: hjPort }])))).changes).toContain('source wq: removed')
      await send(7.1)
      expect((await g.reload(valid(cfg([{ type: 'mqtt', id: 'wq' }, { type: 'hj212', id: 'hj', port: hjPort }])))).changes).toContain('source wq: added')
      await send(7.2)
      expect(await metricValue(g, 'smartcity_readings_accepted_total', { source: 'wq' })).toBe(2)
    } finally {
      await c.endAsync()
      await g.stop()
    }
  })

  it('without a configuration to read again, reload() says so and changes nothing', { timeout: 20_000 }, async () => {
    const g = gatewayFrom({ dataDir: join(tmp.dir, 'gw2'), http: { enabled: false }, broker: { type: 'embedded', port: 0 } })
    await g.start()
    try {
      const r = await g.reload()
      expect(r).toMatchObject({ ok: false, problems: ['no configuration file to read again (the gateway was started from data)'] })
    } finally {
      await g.stop()
    }
  })
})

describe('smartcity gateway: SIGHUP reloads, SIGTERM stops in order within its deadline', () => {
  const tmp = tempDir()
  let child: ChildProcess | undefined
  let hung: HttpServer | undefined
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    hung?.closeAllConnections()
    await new Promise((r) => (hung ? hung.close(r) : r(undefined)))
    tmp.cleanup()
  })

  it('a Modbus device added is polled after SIGHUP; a broken file keeps the old configuration; SIGTERM exits 0 in time with a database that never answers', { timeout: 120_000 }, async () => {
    const profile = builtinProfile('eastron-sdm630')
    if (!profile) throw new Error('no eastron-sdm630 profile')
    const simPort = await freePort()
    const sim = await simulateTcp({ port: simPort, devices: [{ unit: 1, profile }, { unit: 2, profile }] })
    // A database that takes the request and never answers: the stop must not wait for it.
    hung = createHttpServer(() => {})
    const dbPort = await freePort()
    await new Promise<void>((r) => hung!.listen(dbPort, '127.0.0.1', r))
    const [mqttPort, httpPort] = [await freePort(), await freePort()]
    const cfgFile = join(tmp.dir, 'gateway.yaml')
    const config = (meters: string[]) =>
      [
        `dataDir: ${join(tmp.dir, 'data')}`,
        'gateway: { stopTimeoutSec: 2 }',
        'log: { level: info }',
        `broker: { type: embedded, port: ${mqttPort} }`,
        `http: { port: ${httpPort} }`,
        `sinks: [{ type: influx-v1, url: "http://127.0.0.1:${dbPort}", createDatabase: false, timeoutMs: 60000, flushIntervalMs: 100 }]`,
        'sources:',
        `  - type: modbus-tcp\n    id: meters\n    port: ${simPort}\n    devices:`,
        ...meters.map((m, i) => `      - { device: ${m}, unit: ${i + 1}, profile: eastron-sdm630, intervalMs: 200 }`),
        'devices:',
        ...meters.map((m) => `  - { id: ${m}, kind: energy_meter }`),
      ].join('\n')
    writeFileSync(cfgFile, config(['em-1']))
    child = spawn(process.execPath, [BIN, 'gateway', '--config', cfgFile], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    let stdout = ''
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')))
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString('utf8')))
    try {
      await waitFor(() => stderr.includes('gateway edge-gateway: mqtt'), 30_000, 'the gateway up')
      const framesOk = async (id: string) => {
        const j = (await (await fetch(`http://127.0.0.1:${httpPort}/api/devices`)).json()) as { devices: { id: string; framesOk: number }[] }
        return j.devices.find((d) => d.id === id)?.framesOk ?? 0
      }
      await waitFor(async () => (await framesOk('em-1')) > 0, 20_000, 'em-1 polled')
      expect(await framesOk('em-2')).toBe(0)

      writeFileSync(cfgFile, config(['em-1', 'em-2']))
      child.kill('SIGHUP')
      await waitFor(() => stderr.includes('reloaded:'), 20_000, 'the reload reported')
      expect(stderr).toContain('source meters: restarted with its new configuration')
      expect(stderr).toContain('devices: 1 added (em-2)')
      await waitFor(async () => (await framesOk('em-2')) > 0, 20_000, 'em-2 polled after SIGHUP')

      // A broken file: the old configuration keeps running (both meters still polled) and says why.
      writeFileSync(cfgFile, `${config(['em-1', 'em-2'])}\n  - { id: em-3, kind: spaceship }\n`)
      child.kill('SIGHUP')
      await waitFor(() => stderr.includes('reload failed'), 20_000, 'the failed reload reported')
      expect(stderr).toMatch(/reload failed, the running configuration stays: .*gateway\.yaml:\d+: devices\[2\]\.kind/)
      const before = await framesOk('em-2')
      await waitFor(async () => (await framesOk('em-2')) > before + 2, 10_000, 'em-2 still polled')
      const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
      expect(metrics).toContain('smartcity_config_reloads_total{outcome="ok"} 1')
      expect(metrics).toContain('smartcity_config_reloads_total{outcome="failed"} 1')

      // Readings are waiting on the hung database (a write in flight for up to 60 s): the stop takes its 2 s.
      const t0 = Date.now()
      child.kill('SIGTERM')
      const code = await new Promise<number | null>((r) => child!.once('exit', r))
      const took = Date.now() - t0
      expect(code).toBe(0)
      expect(took).toBeLessThan(6_000)
      expect(stdout).toContain('stop deadline passed')
      expect(stdout).toContain('sink writes in flight')
    } finally {
      await sim.close()
    }
  })
})

describe.skipIf(!have('influxd'))('a stop cut short by its deadline loses nothing', () => {
  const influx = useInflux()
  const tmp = tempDir()
  let hung: HttpServer | undefined
  afterAll(async () => {
    hung?.closeAllConnections()
    await new Promise((r) => (hung ? hung.close(r) : r(undefined)))
    tmp.cleanup()
  })

  it('readings accepted while the database hung are written by the next start', { timeout: 60_000 }, async () => {
    hung = createHttpServer(() => {})
    const dbPort = await freePort()
    await new Promise<void>((r) => hung!.listen(dbPort, '127.0.0.1', r))
    const dataDir = join(tmp.dir, 'gw')
    const mqttPort = await freePort()
    const first = gatewayFrom({ dataDir, http: { enabled: false }, broker: { type: 'embedded', port: mqttPort }, sinks: [{ type: 'influx-v1', url: `http://127.0.0.1:${dbPort}`, createDatabase: false, timeoutMs: 60_000, flushIntervalMs: 100 }] })
    await first.start()
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`)
    const base = Date.UTC(2026, 10, 1)
    for (let i = 0; i < 50; i++) await c.publishAsync(`city/d1/water_quality/wq-s${i % 5}/telemetry`, JSON.stringify(stationReading(i, base + i)), { qos: 1 })
    await c.endAsync()
    await sleep(500)
    const t0 = Date.now()
    await first.stop({ deadlineMs: 1_000 })
    expect(Date.now() - t0).toBeLessThan(3_000)

    const second = gatewayFrom({ dataDir, http: { enabled: false }, broker: { type: 'embedded', port: 0 }, sinks: [{ type: 'influx-v1', url: influx.url, database: 'cut', flushIntervalMs: 100 }] })
    await second.start()
    try {
      await waitFor(async () => (await influx.count('cut', 'water_quality', 'ph', `time >= ${base}ms`)) === 50, 20_000, 'all 50 written after the restart')
    } finally {
      await second.stop()
    }
  })
})
