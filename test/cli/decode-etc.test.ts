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
