/**
 * The container image and compose file (issue 15 item 2). There is no container runtime or base image on
 * the CI machine, so the image is not built here (the .deb is the tested artifact); what can be checked
 * without one is: the Dockerfile's shape (multi-stage on node:22-bookworm-slim, non-root, a data volume,
 * the health check on /healthz), that every file it copies exists and passes .dockerignore, that the
 * configurations it and compose.yaml install pass check-config and name compose's services, and that the
 * HEALTHCHECK command itself tells a serving gateway from a missing one.
 */
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { checkBrokerFiles } from '../../gateway/broker/security.ts'
import { loadConfig } from '../../gateway/config.ts'
import type { Gateway } from '../../gateway/gateway.ts'
import { tempDir } from '../helpers/env.ts'
import { gatewayFrom } from '../helpers/gateway.ts'
import { freePort } from '../helpers/net.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
// Continuation lines joined, comments dropped: one instruction per line.
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'))
const stages = instructions.filter((l) => l.startsWith('FROM '))
const finalStage = instructions.slice(instructions.lastIndexOf(stages.at(-1)!))

/** Whether .dockerignore (`*` then `!path` exceptions) lets a path into the build context. */
function inContext(path: string): boolean {
  const allow = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('!'))
    .map((l) => l.slice(1).replace(/\/$/, ''))
  return allow.some((a) => path === a || path.startsWith(`${a}/`))
}

describe('Dockerfile', () => {
  it('is multi-stage on node:22-bookworm-slim and ends as a non-root user with a data volume', () => {
    expect(instructions).toContain('ARG NODE_IMAGE=node:22-bookworm-slim')
    expect(stages.length).toBeGreaterThanOrEqual(3)
    for (const s of stages) expect(s).toMatch(/^FROM \$\{NODE_IMAGE\}/)
    const user = finalStage.filter((l) => l.startsWith('USER '))
    expect(user).toEqual(['USER smartcity'])
    expect(finalStage.join('\n')).toMatch(/useradd --system .*--groups dialout/)
    expect(finalStage).toContain('VOLUME ["/var/lib/smartcity"]')
    // The final stage gets dependencies without devDependencies and never the compiler.
    expect(instructions.join('\n')).toMatch(/npm ci --omit=dev/)
    expect(finalStage.filter((l) => l.startsWith('COPY --from=build')).join('\n')).toMatch(/\/src\/dist dist/)
    expect(finalStage.filter((l) => /^COPY (?!--from).*node_modules/.test(l))).toEqual([])
  })

  it('copies only files that exist and that .dockerignore lets in', () => {
    const copies = instructions.filter((l) => l.startsWith('COPY ') && !l.includes('--from='))
    expect(copies.length).toBeGreaterThan(5)
    for (const c of copies) {
      const words = c.split(/\s+/).slice(1).filter((w) => !w.startsWith('--'))
      for (const src of words.slice(0, -1)) {
        expect(existsSync(join(ROOT, src)), `${src} (${c})`).toBe(true)
        expect(inContext(src), `${src} is excluded by .dockerignore`).toBe(true)
      }
    }
  })

  it("its configuration passes check-config and its health check asks the configured port's /healthz", async () => {
    const r = await loadConfig(join(ROOT, 'packaging', 'docker', 'gateway.yaml'))
    expect(r.ok ? [] : r.problems).toEqual([])
    if (!r.ok) return
    expect(await checkBrokerFiles(r.config.broker)).toEqual([])
    expect(r.config.dataDir).toBe('/var/lib/smartcity')
    expect(finalStage.join('\n')).toContain(`SMARTCITY_HEALTHZ=http://127.0.0.1:${r.config.http.port}/healthz`)
    expect(finalStage.find((l) => l.startsWith('HEALTHCHECK '))).toMatch(/fetch\(process\.env\.SMARTCITY_HEALTHZ\)/)
    expect(finalStage).toContain('COPY --chmod=0644 packaging/docker/gateway.yaml /etc/smartcity/gateway.yaml')
    expect(finalStage.find((l) => l.startsWith('CMD '))).toContain('/etc/smartcity/gateway.yaml')
  })
})

describe('the HEALTHCHECK command', () => {
  const tmp = tempDir('smartcity-docker-health-')
  let gw: Gateway
  const command = () => {
    const cmd = finalStage.find((l) => l.startsWith('HEALTHCHECK '))!
    return JSON.parse(cmd.slice(cmd.indexOf('CMD ') + 4)) as string[]
  }
  // Asynchronously: the gateway answering it runs in this process.
  const check = (url: string) =>
    new Promise<number | null>((resolve) => {
      const c = spawn(process.execPath, command().slice(1), { env: { ...process.env, SMARTCITY_HEALTHZ: url }, stdio: 'ignore', timeout: 20_000 })
      c.once('exit', (code) => resolve(code))
    })

  beforeAll(async () => {
    gw = gatewayFrom({ dataDir: tmp.dir, broker: { type: 'embedded', port: await freePort() }, http: { port: 0 } })
    await gw.start()
  })
  afterAll(async () => {
    await gw?.stop()
    tmp.cleanup()
  })

  it('passes against a serving gateway and fails where nothing listens', async () => {
    expect(command()[0]).toBe('node')
    expect(await check(`${gw.endpoints().http}/healthz`)).toBe(0)
    expect(await check(`http://127.0.0.1:${await freePort()}/healthz`)).toBe(1)
  })
})

describe('compose.yaml', () => {
  const compose = parse(readFileSync(join(ROOT, 'compose.yaml'), 'utf8')) as {
    services: Record<string, { image?: string; build?: string; volumes?: string[]; environment?: Record<string, string>; depends_on?: string[] }>
    volumes: Record<string, unknown>
  }

  it('runs the gateway beside InfluxDB 1.8 and Mosquitto, its spool in a volume', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['gateway', 'influxdb', 'mosquitto'])
    expect(compose.services['influxdb']!.image).toBe('influxdb:1.8')
    expect(compose.services['mosquitto']!.image).toMatch(/^eclipse-mosquitto:2/)
    const gw = compose.services['gateway']!
    expect(gw.build).toBe('.')
    expect(gw.depends_on?.sort()).toEqual(['influxdb', 'mosquitto'])
    expect(gw.volumes).toContain('smartcity-data:/var/lib/smartcity')
    expect(Object.keys(compose.volumes)).toContain('smartcity-data')
    for (const v of [...(gw.volumes ?? []), ...(compose.services['mosquitto']!.volumes ?? [])]) {
      if (v.startsWith('./')) expect(existsSync(join(ROOT, v.split(':')[0]!)), v).toBe(true)
    }
  })

  it("the gateway's configuration there passes check-config and reaches compose's services", async () => {
    const gw = compose.services['gateway']!
    const mount = gw.volumes?.find((v) => v.endsWith(':/etc/smartcity/gateway.yaml:ro'))
    expect(mount).toBeDefined()
    const file = join(ROOT, mount!.split(':')[0]!)
    const saved = { MQTT_URL: process.env['MQTT_URL'], INFLUX_URL: process.env['INFLUX_URL'] }
    Object.assign(process.env, gw.environment)
    try {
      const r = await loadConfig(file)
      expect(r.ok ? [] : r.problems).toEqual([])
      if (!r.ok) return
      expect(r.config.broker.type === 'external' && new URL(r.config.broker.url).host).toBe('mosquitto:1883')
      const sink = r.config.sinks[0]
      expect(sink?.type === 'influx-v1' && new URL(sink.url).host).toBe('influxdb:8086')
      expect(r.config.dataDir).toBe('/var/lib/smartcity')
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k]
        else process.env[k] = v
      }
      delete process.env['SMARTCITY_ID']
      delete process.env['SMARTCITY_DISTRICT']
    }
    expect(readFileSync(join(ROOT, 'packaging', 'docker', 'mosquitto.conf'), 'utf8')).toMatch(/^listener 1883$/m)
  })
})
