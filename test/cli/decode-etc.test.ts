import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
const ROOT = join(import.meta.dirname, '..', '..')

describe('smartcity decode etc-rsu', () => {
  it('prints one JSON object per frame of a whole passage, and an error with its reason for a bad frame', async () => {
    let stdout = ''
    let code = 0
    try {
      stdout = (await run(process.execPath, [join(ROOT, 'bin', 'smartcity.js'), 'decode', 'etc-rsu', join(ROOT, 'test', 'fixtures', 'etc-rsu', 'passage.hex')], { timeout: 30_000 })).stdout
    } catch (err) {
      const e = err as { code: number; stdout: string }
      code = e.code
      stdout = e.stdout
    }
    const out = stdout.trim().split('\n').map((l) => JSON.parse(l) as { ok: boolean; frame?: { type: string; fields: Record<string, unknown> }; points?: unknown[]; error?: string })
    expect(out.map((o) => (o.ok ? o.frame!.type : 'error'))).toEqual(['C0', 'B0', 'ACK', 'B2', 'B2', 'C1', 'B3', 'ACK', 'B4', 'C6', 'B5', 'ACK', 'error'])
    expect(out[6]!.frame!.fields).toEqual({ obuId: 'A1B2C3D4', errorCode: 0, plate: '陕A12345', plateColor: 0, vehicleClass: 1, userType: 0 })
    expect(out[8]!.frame!.fields['balanceFen']).toBe(12345)
    expect(out[1]!.points).toMatchObject([{ measurement: 'etc_rsu_status', fields: { online: true, psam_ok: true, antenna_ok: true, rsu_status: 0 } }])
    expect(out[12]!.error).toBe('bcc_mismatch: BCC 3B, computed 3A')
    expect(code).toBe(1)
  })
})

describe('smartcity decode etc-rsu --profile', () => {
  const FIXTURE_2019 = join(ROOT, 'test', 'fixtures', 'etc-rsu', 'passage-2019.hex')
  type Line = { ok: boolean; frame?: { type: string; profile: string; fields: Record<string, unknown> }; error?: string }
  async function decode(...args: string[]): Promise<{ code: number; lines: Line[]; stderr: string }> {
    try {
      const r = await run(process.execPath, [join(ROOT, 'bin', 'smartcity.js'), 'decode', ...args], { timeout: 30_000 })
      return { code: 0, lines: r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Line), stderr: r.stderr }
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string }
      return { code: e.code, lines: e.stdout.trim() === '' ? [] : e.stdout.trim().split('\n').map((l) => JSON.parse(l) as Line), stderr: e.stderr }
    }
  }

  it('reads the 2019 passage with --profile 2019 and with the default auto alike; classic refuses the longer frames', async () => {
    const fixed = await decode('etc-rsu', '--profile', '2019', FIXTURE_2019)
    const types = ['C0', 'B0', 'ACK', 'B2', 'B2', 'C1', 'B3', 'ACK', 'B4', 'C6', 'B5', 'ACK', 'error']
    expect(fixed.lines.map((o) => (o.ok ? o.frame!.type : 'error'))).toEqual(types)
    expect(fixed.lines[4]!.frame!.fields['cpuCardId']).toBe('61011234567890123456')
    expect(fixed.lines[10]!.frame!.fields).toMatchObject({ writeTime: 0x6b03a141, ef04WriteStatus: 0 })
    expect(fixed.code).toBe(1)
    const auto = await decode('etc-rsu', FIXTURE_2019)
    expect(auto.lines.map((o) => o.frame?.fields)).toEqual(fixed.lines.map((o) => o.frame?.fields))
    expect(auto.lines[10]!.frame!.profile).toBe('2019')
    const classic = await decode('etc-rsu', '--profile', 'classic', FIXTURE_2019)
    expect([4, 8, 10].map((i) => classic.lines[i]!.error?.split(':')[0])).toEqual(['trailing_bytes', 'trailing_bytes', 'trailing_bytes'])
  })
  it('refuses an unknown profile, and --profile for another format, with exit code 2', async () => {
    const bad = await decode('etc-rsu', '--profile', '2020', FIXTURE_2019)
    expect([bad.code, bad.stderr]).toEqual([2, 'unknown etc-rsu profile 2020; profiles: classic, 2019, auto\n'])
    const other = await decode('nmea', '--profile', '2019', FIXTURE_2019)
    expect([other.code, other.stderr]).toEqual([2, '--profile is for etc-rsu, not nmea\n'])
  })
})
