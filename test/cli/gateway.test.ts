/**
 * `smartcity gateway` and `smartcity demo` as an operator runs them (issue 10, "First contact"): a gateway
 * that cannot start exits 69 (EX_UNAVAILABLE) with one line on stderr naming the component, the address
 * and the cause; a gateway that runs writes only JSON log records on stdout (the human "it is up" line
 * goes to stderr), each key once per record.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { tempDir } from '../helpers/env.ts'
import { duplicateKeys } from '../helpers/logs.ts'
import { freePort, waitFor } from '../helpers/net.ts'

const run = promisify(execFile)
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'smartcity.js')

async function smartcity(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { timeout: 60_000, env })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

async function occupy(): Promise<{ port: number; server: Server }> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const a = server.address()
  if (!a || typeof a !== 'object') throw new Error('no address')
  return { port: a.port, server }
}

/** Every stdout line is a JSON object, and no key appears twice in one (JSON.parse would hide that). */
function expectJsonLines(stdout: string): Record<string, unknown>[] {
  const lines = stdout.split('\n').filter((l) => l.length > 0)
  return lines.map((l) => {
    let rec: unknown
    expect(() => (rec = JSON.parse(l)), `stdout line is JSON: ${l}`).not.toThrow()
    expect(duplicateKeys(l), `keys repeated in ${l}`).toEqual([])
    return rec as Record<string, unknown>
  })
}

describe('smartcity gateway and demo at start-up', () => {
  const tmp = tempDir()
  const held: Server[] = []
  let child: ChildProcess | undefined
  let n = 0
  afterEach(async () => {
    for (const s of held.splice(0)) await new Promise((r) => s.close(r))
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await new Promise((r) => child!.once('exit', r))
    }
  })
  afterAll(() => tmp.cleanup())

  // A sink, so that check-config's no-sink warning does not join the one line under test; nothing listens on
  // port 9 of the loopback, so it keeps retrying in the background, which must not stop the gateway.
  const SINK = 'sinks: [{ type: influx-v1, url: "http://127.0.0.1:9", database: smartcity }]\n'

  function config(p: { mqtt: number; http: number }, extra = ''): string {
    const f = join(tmp.dir, `gw-${n}.yaml`)
    writeFileSync(f, `gateway: { id: edge-01 }\ndataDir: ${join(tmp.dir, `gw-${n++}`)}\nlog: { level: info }\nbroker: { type: embedded, port: ${p.mqtt} }\nhttp: { port: ${p.http} }\n${SINK}${extra}`)
    return f
  }

  it('gateway with its HTTP port taken exits 69 with one stderr line: component, address, cause', { timeout: 60_000 }, async () => {
    const taken = await occupy()
    held.push(taken.server)
    const r = await smartcity(['gateway', '--config', config({ mqtt: await freePort(), http: taken.port })])
    expect(r.code).toBe(69)
    expect(r.stderr).toBe(`smartcity: cannot start http on 127.0.0.1:${taken.port}: address already in use (EADDRINUSE)\n`)
    // The log on stdout stays JSON even on the way out.
    expectJsonLines(r.stdout)
  })

  it('gateway with its MQTT port taken exits 69 with one stderr line', { timeout: 60_000 }, async () => {
    const taken = await occupy()
    held.push(taken.server)
    const r = await smartcity(['gateway', '--config', config({ mqtt: taken.port, http: await freePort() })])
    expect(r.code).toBe(69)
    expect(r.stderr).toBe(`smartcity: cannot start mqtt on 127.0.0.1:${taken.port}: address already in use (EADDRINUSE)\n`)
  })

  it('demo with its HTTP port taken exits 69 with one stderr line', { timeout: 60_000 }, async () => {
    const taken = await occupy()
    held.push(taken.server)
    const r = await smartcity(['demo', '--parts', 'water-mqtt', '--data-dir', join(tmp.dir, 'demo'), '--mqtt-port', '0', '--http-port', String(taken.port)], { ...process.env, SMARTCITY_INFLUXD: 'none' })
    expect(r.code).toBe(69)
    expect(r.stderr).toBe(`smartcity: cannot start http on 127.0.0.1:${taken.port}: address already in use (EADDRINUSE)\n`)
    expect(r.stdout).not.toContain('is running')
  })

  it('a running gateway writes only JSON records on stdout, each key once; the human started line is on stderr', { timeout: 60_000 }, async () => {
    const p = { mqtt: await freePort(), http: await freePort() }
    // A serial source whose port does not exist logs a warning with its component and id at once.
    const f = config(p, `sources:\n  - type: mqtt\n  - type: nmea\n    id: gnss-1\n    device: gnss-1\n    serial: { path: ${join(tmp.dir, 'no-such-tty')} }\n`)
    const proc = spawn(process.execPath, [BIN, 'gateway', '--config', f], { stdio: ['ignore', 'pipe', 'pipe'] })
    child = proc
    let stdout = ''
    let stderr = ''
    proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
    await waitFor(() => stderr.includes('gateway ') && stdout.includes('serial port closed'), 40_000, `the started line and the serial warning (${stderr} ${stdout})`)
    expect(stderr).toBe(`gateway edge-01: mqtt mqtt://127.0.0.1:${p.mqtt}, http http://127.0.0.1:${p.http}\n`)
    proc.kill('SIGTERM')
    const code = await new Promise((r) => proc.once('exit', r))
    expect(code).toBe(0)
    const records = expectJsonLines(stdout)
    expect(records.find((r) => r['msg'] === 'gateway started')).toMatchObject({ mqtt: `mqtt://127.0.0.1:${p.mqtt}`, http: `http://127.0.0.1:${p.http}` })
    expect(records.find((r) => r['msg'] === 'gateway stopped')).toBeDefined()
    expect(records.find((r) => typeof r['msg'] === 'string' && r['msg'].startsWith('serial port closed'))).toMatchObject({ component: 'source.nmea', id: 'gnss-1' })
  })
})
