import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
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
