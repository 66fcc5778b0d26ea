/**
 * `smartcity simulate --record DIR`: the gateway the runner starts records what its sources receive, in the
 * recording format `smartcity decode` and `smartcity replay` read (README "Record and replay"), so a CI run
 * that failed can be replayed; `--record` with a gateway the runner does not own is refused (exit 2).
 */
import { execFile } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { have, tempDir } from '../helpers/env.ts'

const run = promisify(execFile)
const ROOT = join(import.meta.dirname, '..', '..')
const BIN = join(ROOT, 'bin', 'smartcity.js')

async function smartcity(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { cwd: ROOT, timeout: 80_000, maxBuffer: 64 * 1024 * 1024 })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

describe.skipIf(!have('influxd'))('smartcity simulate --record', () => {
  const tmp = tempDir('simulate-record-')
  afterAll(() => tmp.cleanup())

  it('records the MQTT stations of a run; decode reads the recording back into as many points as were acknowledged', { timeout: 90_000 }, async () => {
    const scenario = join(tmp.dir, 'rec.yaml')
    writeFileSync(scenario, 'name: rec\nduration: 4s\nsettle: 20s\ndevices:\n  - { kind: water_quality, protocol: mqtt, count: 2, id_prefix: wq-rec-, period: 500ms, model: { eventsPerDay: 0 } }\nexpect:\n  readings_stored: all_acknowledged\n')
    const dir = join(tmp.dir, 'recordings')
    const json = join(tmp.dir, 'rec.json')
    const r = await smartcity(['simulate', scenario, '--record', dir, '--json', json])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    const acknowledged = (JSON.parse(readFileSync(json, 'utf8')) as { acknowledged: number }).acknowledged
    expect(acknowledged).toBeGreaterThan(5)
    const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.jsonl'))
    expect(files.length).toBeGreaterThan(0)
    const lines = readFileSync(join(dir, files[0]!), 'utf8').trim().split('\n')
    expect(JSON.parse(lines[0]!)).toMatchObject({ format: 'smartcity-recording', version: 1, transport: 'mqtt' })
    const d = await smartcity(['decode', dir])
    expect(d.code, d.stderr).toBe(0)
    const points = d.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { ok: boolean; points?: { measurement: string }[] })
      .flatMap((o) => (o.ok ? (o.points ?? []) : []))
      .filter((p) => p.measurement === 'water_quality')
    expect(points).toHaveLength(acknowledged)
  })

  it('refuses --record with a gateway it does not start (exit 2, saying why)', async () => {
    const r = await smartcity(['simulate', 'simulators/scenarios/ci-smoke.yaml', '--gateway', 'http://127.0.0.1:9', '--gateway-config', join(ROOT, 'test', 'fixtures', 'simulate', 'gateway.yaml'), '--record', join(tmp.dir, 'x')])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--record needs the gateway the runner starts')
  })
})
