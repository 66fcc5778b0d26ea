/**
 * `smartcity simulate` (issue 12, first slice) as a user's CI runs it: the shipped ci-smoke scenario against
 * a gateway configuration passes with a JUnit report that validates; the same scenario against a
 * configuration with a source missing fails and the summary names the source; faults-smoke (a device
 * silent, the gateway killed with SIGKILL, InfluxDB stopped) loses no acknowledged reading. Each run starts
 * its own InfluxDB (Debian's influxd) and gateway child process on free loopback ports.
 */
import { execFile, spawn } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import type { RunReport } from '../../cli/simulate/report.ts'
import { have, tempDir } from '../helpers/env.ts'
import { freePort } from '../helpers/net.ts'
import { parseXml, type XmlElement } from '../helpers/xml.ts'

const run = promisify(execFile)
const ROOT = join(import.meta.dirname, '..', '..')
const BIN = join(ROOT, 'bin', 'smartcity.js')
const FIXTURES = join(ROOT, 'test', 'fixtures', 'simulate')

async function simulate(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, 'simulate', ...args], { cwd: ROOT, timeout: 80_000 })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

/**
 * The common JUnit schema (the Ant/Jenkins XSD CI servers read): a `testsuites` root of `testsuite`
 * elements with integer `tests` and `failures`, `testcase` elements with `name` and `classname`, and a
 * `failure` with a `message` in each failed one; the counts agree with the cases.
 */
function checkJunit(xml: string): { tests: number; failures: number; cases: XmlElement[] } {
  const root = parseXml(xml)
  expect(root.name).toBe('testsuites')
  const suites = root.children.filter((c) => c.name === 'testsuite')
  expect(suites.length).toBeGreaterThan(0)
  expect(root.children.every((c) => c.name === 'testsuite')).toBe(true)
  const cases: XmlElement[] = []
  let failures = 0
  for (const s of suites) {
    expect(s.attrs['name']).toBeTruthy()
    expect(s.attrs['tests']).toMatch(/^\d+$/)
    expect(s.attrs['failures']).toMatch(/^\d+$/)
    const tc = s.children.filter((c) => c.name === 'testcase')
    expect(s.children.every((c) => c.name === 'testcase' || c.name === 'properties' || c.name === 'system-out' || c.name === 'system-err')).toBe(true)
    expect(Number(s.attrs['tests'])).toBe(tc.length)
    const failed = tc.filter((c) => c.children.some((x) => x.name === 'failure'))
    expect(Number(s.attrs['failures'])).toBe(failed.length)
    for (const c of tc) {
      expect(c.attrs['name']).toBeTruthy()
      expect(c.attrs['classname']).toBeTruthy()
      for (const f of c.children.filter((x) => x.name === 'failure')) expect(f.attrs['message']).toBeTruthy()
    }
    cases.push(...tc)
    failures += failed.length
  }
  expect(Number(root.attrs['tests'])).toBe(cases.length)
  expect(Number(root.attrs['failures'])).toBe(failures)
  return { tests: cases.length, failures, cases }
}

describe.skipIf(!have('influxd'))('smartcity simulate', () => {
  const tmp = tempDir('simulate-test-')
  afterAll(() => tmp.cleanup())

  it('ci-smoke passes against a configuration that serves it: exit 0, every acknowledged reading stored, a JUnit report that validates', { timeout: 90_000 }, async () => {
    const junit = join(tmp.dir, 'smoke.xml')
    const json = join(tmp.dir, 'smoke.json')
    const r = await simulate(['simulators/scenarios/ci-smoke.yaml', '--gateway-config', join(FIXTURES, 'gateway.yaml'), '--junit', junit, '--json', json])
    expect(r.stdout, r.stderr).toMatch(/^PASS ci-smoke: (\d+)\/\1 assertions held/m)
    expect(r.code).toBe(0)
    const j = checkJunit(readFileSync(junit, 'utf8'))
    expect(j.failures).toBe(0)
    const report = JSON.parse(readFileSync(json, 'utf8')) as RunReport
    expect(j.tests).toBe(report.assertions.length)
    expect(j.cases.map((c) => c.attrs['name'])).toEqual(report.assertions.map((a) => a.name))
    // Every kind and protocol ran and had readings acknowledged, and the point-by-point check saw them all.
    expect(report.devices).toHaveLength(10)
    for (const d of report.devices) expect(d.acknowledged, d.entry).toBeGreaterThan(5)
    const stored = report.assertions.find((a) => a.name === 'readings stored: all acknowledged')
    expect(stored?.ok).toBe(true)
    expect(stored?.message).toContain(`${report.acknowledged} acknowledged readings`)
    expect(report.gateway.peakRssMb).toBeGreaterThan(20)
  })

  it('ci-smoke against a configuration without the hj212 source fails (exit 1) and the summary names the missing source', { timeout: 90_000 }, async () => {
    const junit = join(tmp.dir, 'broken.xml')
    const r = await simulate(['simulators/scenarios/ci-smoke.yaml', '--gateway-config', join(FIXTURES, 'gateway-no-hj212.yaml'), '--speed', '4', '--junit', junit])
    // A failing run keeps its directory (gateway log, dead letters) and says where.
    const dir = /^run directory \(gateway log, dead letters, reports\): (.+)$/m.exec(r.stdout)?.[1]
    if (dir) rmSync(dir, { recursive: true, force: true })
    expect(r.code, r.stderr).toBe(1)
    expect(dir).toBeDefined()
    expect(r.stdout).toMatch(/^FAIL ci-smoke/m)
    expect(r.stdout).toMatch(/FAIL gateway serves water_quality over HJ 212 over TCP \(devices\[3\]\): .*gateway-no-hj212\.yaml has no hj212 source \(sources: mqtt, jt808\)/)
    const j = checkJunit(readFileSync(junit, 'utf8'))
    const failed = j.cases.filter((c) => c.children.some((x) => x.name === 'failure')).map((c) => c.attrs['name'])
    expect(failed).toContain('gateway serves water_quality over HJ 212 over TCP (devices[3])')
    expect(failed).toContain('count water_quality HJ212CI0000000000000001')
    // What the configuration does serve still held.
    expect(failed).not.toContain('gateway serves position over JT/T 808 over TCP (devices[2])')
    expect(failed).not.toContain('readings stored: all acknowledged')
  })

  it('SIGTERM (a cancelled CI job) stops the gateway child and InfluxDB before the runner exits 143', { timeout: 60_000 }, async () => {
    const p = spawn(process.execPath, [BIN, 'simulate', 'simulators/scenarios/ci-smoke.yaml', '--gateway-config', join(FIXTURES, 'gateway.yaml')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    const exited = new Promise<number | null>((ok) => p.once('exit', (code) => ok(code)))
    const pid = await new Promise<number>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`no "simulators up" line: ${stdout}`)), 40_000)
      p.stdout!.on('data', (d: Buffer) => {
        stdout += d.toString()
        const m = /gateway up \(child process (\d+),/.exec(stdout)
        if (m && /simulators up/.test(stdout)) {
          clearTimeout(timer)
          ok(Number(m[1]))
        }
      })
    })
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0)
        return true
      } catch {
        return false
      }
    }
    expect(alive(pid)).toBe(true)
    p.kill('SIGTERM')
    expect(await exited).toBe(143)
    expect(alive(pid)).toBe(false)
    expect(stdout).toContain('SIGTERM: stopping the simulators, the gateway and InfluxDB')
    const dir = /config (\/\S+)\/gateway\.json/.exec(stdout)?.[1]
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('faults-smoke: a station silent, the gateway SIGKILLed and restarted, InfluxDB stopped: zero acknowledged readings lost', { timeout: 90_000 }, async () => {
    const json = join(tmp.dir, 'faults.json')
    const r = await simulate(['simulators/scenarios/faults-smoke.yaml', '--gateway-config', join(FIXTURES, 'gateway.yaml'), '--json', json])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    const report = JSON.parse(readFileSync(json, 'utf8')) as RunReport
    const events = report.timeline.map((t) => t.event)
    expect(events.some((e) => /^fault: gateway killed \(SIGKILL, pid \d+\)$/.test(e))).toBe(true)
    expect(events.some((e) => /^fault: device wq-f-001 silent/.test(e))).toBe(true)
    expect(events.some((e) => /^fault: InfluxDB stopped/.test(e))).toBe(true)
    expect(report.gateway.restarts).toBe(1)
    const stored = report.assertions.find((a) => a.name === 'readings stored: all acknowledged')
    expect(stored?.ok, stored?.details.join('\n')).toBe(true)
    // Readings were acknowledged across the outages, not only before them.
    expect(report.acknowledged).toBeGreaterThan(100)
  })
})

describe('smartcity simulate refuses before running anything', () => {
  const tmp = tempDir('simulate-refuse-')
  afterAll(() => tmp.cleanup())

  it('a scenario that does not validate: exit 2, every problem with its line', { timeout: 30_000 }, async () => {
    const file = join(tmp.dir, 'bad.yaml')
    writeFileSync(file, 'name: bad\nduration: 10s\ndevices:\n  - kind: elevator\n    protocol: mqtt\n    cuont: 2\n')
    const r = await simulate([file])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(`${file}:6: devices[0].cuont: unknown key; did you mean "count"?`)
  })

  it('--gateway URL where nothing answers: exit 1, the summary says the gateway is not reachable, the JUnit has the case', { timeout: 30_000 }, async () => {
    const cfg = join(tmp.dir, 'remote.yaml')
    writeFileSync(cfg, 'sources: [{ type: mqtt }]\nsinks: [{ type: influx-v1, url: "http://127.0.0.1:8086", database: x }]\n')
    const junit = join(tmp.dir, 'remote.xml')
    const url = `http://127.0.0.1:${await freePort()}`
    const r = await simulate(['simulators/scenarios/ci-smoke.yaml', '--gateway', url, '--gateway-config', cfg, '--junit', junit])
    expect(r.code, r.stderr).toBe(1)
    expect(r.stdout).toContain(`FAIL gateway reachable: ${url}/healthz: fetch failed`)
    const j = checkJunit(readFileSync(junit, 'utf8'))
    expect(j.cases.find((c) => c.attrs['name'] === 'gateway reachable')?.children[0]?.name).toBe('failure')
  })
})
