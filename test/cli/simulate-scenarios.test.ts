/**
 * The shipped scenarios of issue 12 item 5 (demo-district, multi-district, load), the terminal progress of
 * `smartcity simulate` (item 4) and the CI recipes in docs/ci (item 7). multi-district runs for real
 * (its own InfluxDB and gateway child on free loopback ports): its tags kept apart pass with the inventory
 * the runner makes, and fail, naming the devices, against a configuration whose inventory lacks them.
 */
import { execFile, spawn } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { partOf } from '../../cli/demo.ts'
import { idsOf } from '../../cli/simulate/devices.ts'
import { inventoryFor } from '../../cli/simulate/districts.ts'
import { createProgress, statusLine } from '../../cli/simulate/progress.ts'
import type { RunReport } from '../../cli/simulate/report.ts'
import { FOREVER, loadScenario, parseScenarioText, type Scenario } from '../../cli/simulate/scenario.ts'
import { have, tempDir } from '../helpers/env.ts'

const run = promisify(execFile)
const ROOT = join(import.meta.dirname, '..', '..')
const BIN = join(ROOT, 'bin', 'smartcity.js')
const SCENARIOS = join(ROOT, 'simulators', 'scenarios')

async function scenario(name: string): Promise<Scenario> {
  const r = await loadScenario(join(SCENARIOS, `${name}.yaml`))
  if (!r.ok) throw new Error(`${name}: ${r.problems.join('; ')}`)
  return r.scenario
}

async function simulate(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, 'simulate', ...args], { cwd: ROOT, timeout: 100_000 })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

describe('shipped scenarios', () => {
  it('demo-district runs until Ctrl-C, has an entry of every demo part it can simulate, and each comes with its inventory line', async () => {
    const sc = await scenario('demo-district')
    expect(sc.duration).toBe(FOREVER)
    expect(new Set(sc.devices.map(partOf))).toEqual(new Set(['water-mqtt', 'city-services', 'tcp-platforms', 'modbus', 'serial']))
    const inv = inventoryFor(sc, idsOf)
    expect(inv.map((d) => d.id)).toContain('tower-a-L6')
    expect(inv.find((d) => d.id === 'wq-0003')).toMatchObject({ kind: 'water_quality', district: 'xian-gaoxin', site: 'Yuhe Lake inlet', protocol: 'mqtt' })
    expect(inv.find((d) => d.id === 'tower-a-L1')?.options).toMatchObject({ topFloor: 30, bottomFloor: -2 })
    // Every family the demo parts had: Modbus meters and sondes, the BeiDou receiver, DL/T 645 meters, the gantry.
    expect(new Set(sc.devices.map((e) => e.protocol))).toEqual(new Set(['mqtt', 'jt808', 'hj212', 'modbus-tcp', 'modbus-rtu', 'nmea', 'dlt645', 'etc-rsu']))
    expect(inv.find((d) => d.id === 'rsu-g65-k12')).toMatchObject({ kind: 'etc', district: 'xian-gaoxin' })
  })

  it('multi-district: three districts, each with every protocol, devices unique, tags checked', async () => {
    const sc = await scenario('multi-district')
    const districts = new Map<string, Set<string>>()
    for (const e of sc.devices) {
      const d = e.district ?? sc.district
      districts.set(d, new Set([...(districts.get(d) ?? []), e.protocol]))
    }
    expect([...districts.keys()]).toHaveLength(3)
    // Each district has the dial-in protocols; the polled and serial ones are spread over the other two.
    for (const [d, protocols] of districts) expect([...protocols].filter((p) => ['hj212', 'jt808', 'mqtt'].includes(p)).sort(), d).toEqual(['hj212', 'jt808', 'mqtt'])
    expect(new Set(sc.devices.map((e) => e.protocol))).toEqual(new Set(['mqtt', 'jt808', 'hj212', 'modbus-tcp', 'nmea', 'etc-rsu']))
    const ids = sc.devices.flatMap((e, i) => idsOf(e, i))
    expect(new Set(ids).size).toBe(ids.length)
    expect(sc.expect.districts_apart).toBe(true)
    expect(sc.expect.readings_stored).toBe('all_acknowledged')
    expect(sc.duration).toBeLessThan(60_000)
  })

  it('load: 10,000 devices at field reporting rates, five minutes', async () => {
    const sc = await scenario('load')
    expect(sc.devices.reduce((n, e) => n + e.count, 0)).toBe(10_000)
    expect(sc.duration).toBe(300_000)
    const periods = (pred: (e: Scenario['devices'][number]) => boolean) => sc.devices.filter(pred).map((e) => e.period)
    expect(new Set(periods((e) => e.protocol === 'mqtt' && e.kind === 'water_quality'))).toEqual(new Set([60_000]))
    expect(new Set(periods((e) => e.kind === 'elevator'))).toEqual(new Set([30_000]))
    for (const p of periods((e) => e.protocol === 'jt808')) {
      expect(p).toBeGreaterThanOrEqual(10_000)
      expect(p).toBeLessThanOrEqual(30_000)
    }
    expect(new Set(periods((e) => e.protocol === 'hj212'))).toEqual(new Set([60_000]))
    const ids = sc.devices.flatMap((e, i) => idsOf(e, i))
    expect(new Set(ids).size).toBe(10_000)
  })

  it('duration forever, and a district of its own per entry; not a time is refused at its line', () => {
    const r = parseScenarioText('name: x\nduration: forever\ndevices:\n  - { kind: elevator, protocol: mqtt, district: d2 }\n', 'x.yaml')
    expect(r.ok && r.scenario.duration).toBe(FOREVER)
    expect(r.ok && r.scenario.devices[0]?.district).toBe('d2')
    const bad = parseScenarioText('name: x\nduration: always\ndevices:\n  - { kind: elevator, protocol: mqtt }\n', 'x.yaml')
    expect(bad.ok ? [] : bad.problems).toEqual(['x.yaml:2: duration: not a time: "always" (write e.g. 30s, 2m, 1h, or forever)'])
  })
})

/** A stream that keeps what is written, as a terminal (isTTY, columns) or not. */
function capture(tty: boolean): Writable & { text: () => string; isTTY?: boolean; columns?: number; rows?: number } {
  let text = ''
  const w = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString()
      done()
    },
  }) as Writable & { text: () => string; isTTY?: boolean; columns?: number; rows?: number }
  w.text = () => text
  if (tty) Object.assign(w, { isTTY: true, columns: 100, rows: 40 })
  return w
}

describe('simulate progress', () => {
  const state = { devicesUp: 3, devicesPlanned: 4, acknowledged: 120, stored: 118, faultsApplied: 1, faultsPlanned: 2, leftMs: 12_400 }

  it('not a terminal: event lines and one plain status line at most every plainEveryMs, no escape codes', () => {
    let t = 10_000
    const lines: string[] = []
    const p = createProgress({ stream: capture(false), write: (s) => lines.push(s), t0: 0, now: () => t, plainEveryMs: 5_000 })
    expect(p.tty).toBe(false)
    p.line('fault: InfluxDB stopped for 6 s')
    p.update(state)
    t += 1_000
    p.update({ ...state, acknowledged: 130 })
    t += 5_000
    p.update({ ...state, acknowledged: 140, leftMs: FOREVER })
    p.done()
    expect(lines).toEqual([
      '[  10s] fault: InfluxDB stopped for 6 s\n',
      '[  10s] 3/4 devices up, 120 readings acknowledged, 118 points stored, 1/2 faults applied, 12 s left\n',
      '[  16s] 3/4 devices up, 140 readings acknowledged, 118 points stored, 1/2 faults applied, until Ctrl-C\n',
    ])
    expect(statusLine({ ...state, stored: undefined })).not.toContain('stored')
  })

  it('a terminal of no size (a pseudo-terminal nobody sized) gets plain lines: log-update would clip the block to nothing', () => {
    const stream = Object.assign(capture(true), { rows: 0, columns: 0 })
    const lines: string[] = []
    const p = createProgress({ stream, write: (s) => lines.push(s), t0: 0, now: () => 1_000 })
    expect(p.tty).toBe(false)
    p.update(state)
    expect(lines).toEqual(['[   1s] 3/4 devices up, 120 readings acknowledged, 118 points stored, 1/2 faults applied, 12 s left\n'])
    expect(stream.text()).toBe('')
  })

  it('a terminal: log-update redraws the status block in place, event lines stay above it', () => {
    const stream = capture(true)
    let t = 4_000
    const p = createProgress({ stream, write: () => expect.unreachable('a terminal is written through log-update'), t0: 0, now: () => t })
    expect(p.tty).toBe(true)
    p.update(state)
    t += 1_000
    p.line('fault: gateway killed (SIGKILL, pid 42)')
    p.update({ ...state, acknowledged: 150, faultsApplied: 2 })
    p.done()
    const out = stream.text()
    // Cursor movement and line erasure (ANSI CSI): the block is redrawn, not appended.
    expect(out).toMatch(/\u001b\[\d*[AK]/)
    expect(out).toContain('[   5s] fault: gateway killed (SIGKILL, pid 42)\n')
    expect(out).toContain('readings 150 acknowledged, 118 points stored')
    expect(out).toContain('faults   2/2 applied')
    const plain = out.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '')
    expect(plain.lastIndexOf('150 acknowledged')).toBeGreaterThan(plain.indexOf('fault: gateway killed'))
  })
})

describe('CI recipes (docs/ci)', () => {
  // The command as the shell reads it: a backslash-newline continues the line.
  const junitArg = (cmd: string) => /smartcity simulate [^\n]*--junit (\S+)/.exec(cmd.replace(/\\\n\s*/g, ' '))?.[1]

  it('GitHub Actions: installs the Debian packages, runs smartcity simulate with --junit and publishes that file even on failure', () => {
    const wf = parse(readFileSync(join(ROOT, 'docs', 'ci', 'github-actions.yml'), 'utf8')) as { on: unknown; jobs: Record<string, { container?: string; steps: { run?: string; uses?: string; if?: string; with?: Record<string, string> }[] }> }
    expect(wf.on).toBeDefined()
    const job = Object.values(wf.jobs)[0]!
    expect(job.container).toMatch(/bookworm/)
    const runs = job.steps.map((s) => s.run ?? '').join('\n')
    expect(runs).toMatch(/apt-get install [^\n]*\binfluxdb\b/)
    const sim = job.steps.find((s) => s.run?.includes('smartcity simulate'))
    expect(sim?.run).toContain('--gateway-config gateway.yaml')
    const junit = junitArg(sim?.run ?? '')
    expect(junit).toBe('reports/simulate.xml')
    const publish = job.steps.find((s) => s.uses?.startsWith('mikepenz/action-junit-report@'))
    expect(publish?.if).toBe('always()')
    expect(publish?.with?.['report_paths']).toBe(junit)
  })

  it('GitLab CI: installs the Debian packages, runs smartcity simulate with --junit and publishes it as the junit report, always', () => {
    const ci = parse(readFileSync(join(ROOT, 'docs', 'ci', 'gitlab-ci.yml'), 'utf8')) as Record<string, { image?: string; before_script?: string[]; script: string[]; artifacts: { when: string; reports: { junit: string } } }>
    const job = ci['district-simulation']!
    expect(job.image).toMatch(/bookworm/)
    expect(job.before_script?.join('\n')).toMatch(/apt-get install [^\n]*\binfluxdb\b/)
    const sim = job.script.find((l) => l.includes('smartcity simulate'))
    expect(sim).toContain('--gateway-config gateway.yaml')
    const junit = junitArg(sim ?? '')
    expect(junit).toBe('reports/simulate.xml')
    expect(job.artifacts.reports.junit).toBe(junit)
    expect(job.artifacts.when).toBe('always')
  })
})

describe.skipIf(!have('influxd'))('multi-district and a run without an end, for real', () => {
  const tmp = tempDir('simulate-scenarios-')
  afterAll(() => tmp.cleanup())

  it('multi-district passes with the inventory the runner makes: each device tagged with its own district only', { timeout: 120_000 }, async () => {
    const json = join(tmp.dir, 'multi.json')
    const r = await simulate(['simulators/scenarios/multi-district.yaml', '--json', json])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    const report = JSON.parse(readFileSync(json, 'utf8')) as RunReport
    const apart = report.assertions.find((a) => a.name.startsWith('districts apart'))
    expect(apart?.ok).toBe(true)
    expect(apart?.message).toMatch(/^24 device\(s\) in 3 district\(s\) \(xian-gaoxin: 7, xian-beilin: 9, xian-yanta: 8\)/)
  })

  it('multi-district against a configuration without the inventory fails and names the devices tagged with another district', { timeout: 120_000 }, async () => {
    const cfg = join(tmp.dir, 'no-inventory.yaml')
    writeFileSync(cfg, 'gateway: { id: one-gateway, district: xian-gaoxin }\nsources:\n  - type: mqtt\n  - type: jt808\n  - { type: hj212, defaultPassword: "123456" }\n')
    const r = await simulate(['simulators/scenarios/multi-district.yaml', '--gateway-config', cfg, '--speed', '2'])
    const dir = /^run directory \(gateway log, dead letters, reports\): (.+)$/m.exec(r.stdout)?.[1]
    if (dir) rmSync(dir, { recursive: true, force: true })
    expect(r.code, r.stderr).toBe(1)
    // MQTT devices name their district in the topic; JT/T 808 and HJ 212 take it from the inventory.
    expect(r.stdout).toMatch(/FAIL districts apart: each device tagged with its own district only: 6 of 21 device\(s\)/)
    expect(r.stdout).toContain('13900600001 (district xian-beilin): points tagged district=xian-gaoxin')
    expect(r.stdout).not.toMatch(/wq-bl-001 \(district/)
  })

  it('duration forever runs until SIGINT, then stops in order and gives its verdict (exit 0)', { timeout: 90_000 }, async () => {
    const file = join(tmp.dir, 'forever.yaml')
    writeFileSync(file, 'name: forever\nduration: forever\nsettle: 20s\ndevices:\n  - { kind: water_quality, protocol: mqtt, count: 2, period: 500ms }\nexpect:\n  readings_stored: all_acknowledged\n')
    const p = spawn(process.execPath, [BIN, 'simulate', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    const exited = new Promise<number | null>((ok) => p.once('exit', (code) => ok(code)))
    p.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
    try {
      await new Promise<void>((ok, fail) => {
        const timer = setTimeout(() => fail(new Error(`no readings: ${stdout}`)), 45_000)
        const check = setInterval(() => {
          // Not a terminal: plain status lines, the time left is "until Ctrl-C".
          if (/devices up, [1-9]\d* readings acknowledged.*until Ctrl-C/.test(stdout)) {
            clearTimeout(timer)
            clearInterval(check)
            ok()
          }
        }, 200)
      })
      expect(stdout).toContain('running until Ctrl-C')
      p.kill('SIGINT')
      expect(await exited).toBe(0)
      expect(stdout).toMatch(/^PASS forever: /m)
      expect(stdout).toMatch(/ok {2}readings stored: all acknowledged: \d+ acknowledged readings/)
    } finally {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
    }
  })
})
