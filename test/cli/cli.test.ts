import { execFile } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { tempDir } from '../helpers/env.ts'

const run = promisify(execFile)
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'smartcity.js')

async function smartcity(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { timeout: 30_000 })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

describe('smartcity command line', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('check-config prints every problem with its key path and exits non-zero', async () => {
    const f = join(tmp.dir, 'bad.yaml')
    writeFileSync(f, 'broker:\n  type: embedded\n  port: -1\nsinks:\n  - type: influx-v1\n    database: 7\ndevices:\n  - id: wq-1\n    kind: toaster\n')
    const r = await smartcity('check-config', f)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('3 problem(s)')
    expect(r.stderr).toContain('broker.port')
    expect(r.stderr).toContain('sinks[0].database')
    expect(r.stderr).toContain('devices[0].kind')
  })

  it('check-config accepts a good file', async () => {
    const f = join(tmp.dir, 'good.yaml')
    writeFileSync(f, 'gateway:\n  id: edge-01\n  district: xian-gaoxin\nsinks:\n  - type: influx-v1\n    url: http://127.0.0.1:8086\n    database: city\ndevices:\n  - { id: wq-0001, kind: water_quality, site: Zaohe bridge }\n')
    const r = await smartcity('check-config', f)
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('ok (1 sources, 1 sinks, 1 devices)')
  })

  it('check-config loads Modbus profile files and reports a missing or wrong one with its key path', async () => {
    const f = join(tmp.dir, 'modbus.yaml')
    const prof = join(tmp.dir, 'my-meter.yaml')
    writeFileSync(prof, 'name: my-meter\nkind: energy_meter\npoints:\n  - { field: power_w, function: input, address: 0, type: float32 }\n')
    writeFileSync(f, `sources:\n  - type: modbus-tcp\n    devices:\n      - { device: em-1, unit: 1, profile: eastron-sdm630 }\n      - { device: em-2, unit: 2, profile: ${prof} }\n      - { device: em-3, unit: 3, profile: ${join(tmp.dir, 'missing.yaml')} }\n`)
    const r = await smartcity('check-config', f)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('sources[0].devices[1].profile')
    expect(r.stderr).toContain('sources[0].devices[2].profile')
    expect(r.stderr).not.toContain('devices[0]')
  })

  it('check-config reports YAML syntax errors with their position', async () => {
    const f = join(tmp.dir, 'syntax.yaml')
    writeFileSync(f, 'sinks:\n  - type: influx-v1\n   url: x\n')
    const r = await smartcity('check-config', f)
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/line 3/)
  })

  it('check-config prefixes each problem with file:line, suggests a near key and refuses a URL without a scheme', async () => {
    const f = join(tmp.dir, 'lines.yaml')
    writeFileSync(f, 'gateway:\n  id: e1\nsinks:\n  - type: influx-v1\n    url: localhost:8086\nsources:\n  - type: mqtt\n    topcs: [city/#]\n')
    const r = await smartcity('check-config', f)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`${f}:5: sinks[0].url: an http:// or https:// URL`)
    expect(r.stderr).toContain(`${f}:8: sources[0].topcs: unknown key; did you mean "topics"?`)
  })

  it('check-config types ${VAR} values by what they hold and names an unset one with its line', async () => {
    const f = join(tmp.dir, 'env.yaml')
    writeFileSync(f, 'broker:\n  type: embedded\n  port: ${SC_TEST_MQTT_PORT:-1883}\nhttp:\n  enabled: ${SC_TEST_HTTP_ON:-true}\nsinks:\n  - type: influx-v1\n    password: ${SC_TEST_UNSET}\n')
    const r = await smartcity('check-config', f)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('1 problem(s)')
    expect(r.stderr).toContain(`${f}:8: sinks[0].password: environment variable SC_TEST_UNSET is not set`)
  })

  it('check-config refuses an unknown --log-level with our message, not pino\'s', async () => {
    const f = join(tmp.dir, 'level.yaml')
    writeFileSync(f, 'sinks:\n  - type: influx-v1\n')
    const r = await smartcity('check-config', f, '--log-level', 'loud')
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('--log-level (log.level): not a log level; one of fatal, error, warn, info, debug, trace, silent')
    expect(r.stderr).not.toMatch(/default level|is not a valid/i)
  })

  it('demo refuses an unknown --log-level with our message before starting anything', async () => {
    const r = await smartcity('demo', '--log-level', 'loud', '--data-dir', join(tmp.dir, 'demo'))
    expect(r.code).toBe(2)
    expect(r.stderr.trim()).toBe('--log-level: not a log level; one of fatal, error, warn, info, debug, trace, silent')
  })

  it('check-config warns (exit 0, stderr) when there is no sink', async () => {
    const f = join(tmp.dir, 'nosink.yaml')
    writeFileSync(f, 'gateway:\n  id: edge-01\n')
    const r = await smartcity('check-config', f)
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('ok (1 sources, 0 sinks, 0 devices)')
    expect(r.stderr).toMatch(/^warning: .*nosink\.yaml: sinks: none configured; readings would only be kept in the spool/m)
  })

  it('the gateway refuses a bad file with the same problems as check-config', async () => {
    const f = join(tmp.dir, 'gw-bad.yaml')
    writeFileSync(f, 'http:\n  prot: 1\n')
    const r = await smartcity('gateway', '--config', f)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`${f}:2: http.prot: unknown key; did you mean "port"?`)
  })

  it('--version prints the package.json version', async () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }
    const r = await smartcity('--version')
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toBe(`smartcity ${pkg.version}`)
  })

  it('help <command> and <command> --help print that command\'s usage and flags', async () => {
    const a = await smartcity('help', 'demo')
    const b = await smartcity('demo', '--help')
    expect(a.code).toBe(0)
    expect(b.stdout).toBe(a.stdout)
    expect(a.stdout).toMatch(/^usage: smartcity demo/)
    expect(a.stdout).toContain('--parts A,B')
    const c = await smartcity('check-config', '--help')
    expect(c.stdout).toMatch(/^usage: smartcity check-config FILE/)
    expect(c.stdout).toContain('--log-level LEVEL')
    expect(c.stdout).not.toContain('--parts')
    const d = await smartcity('help', 'decode')
    expect(d.stdout).toContain('hj212')
    const u = await smartcity('help', 'nope')
    expect(u.code).toBe(2)
    expect(u.stderr).toContain('unknown command nope')
  })

  it('decode mqtt prints one JSON object per line, ok or error', async () => {
    const f = join(tmp.dir, 'mqtt.txt')
    writeFileSync(f, '# captured\ncity/d1/water_quality/wq-1/telemetry {"ts":1795000000000,"ph":7.2,"ammonia_nitrogen_mg_l":1.2}\ncity/d1/water_quality/wq-1/telemetry {"ph":"x"}\n')
    const r = await smartcity('decode', 'mqtt', f)
    const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(out).toHaveLength(2)
    expect(out[0]).toMatchObject({ ok: true, points: [{ measurement: 'water_quality', fields: { ph: 7.2, ammonia_nitrogen_mg_l: 1.2, gb3838_class: 4 }, time: 1795000000000 }] })
    expect(out[1]).toMatchObject({ ok: false })
    expect(String(out[1]!['error'])).toMatch(/^wrong_type/)
    expect(r.code).toBe(1)
  })

  it('names the decode formats it knows when given an unknown one', async () => {
    const r = await smartcity('decode', 'smoke-signals', join(tmp.dir, 'none'))
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('mqtt')
  })
})
