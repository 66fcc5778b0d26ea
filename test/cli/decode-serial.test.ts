import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { tempDir } from '../helpers/env.ts'

const run = promisify(execFile)
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'smartcity.js')

/** The JSON lines printed; the exit code is non-zero when a line failed (every file here has one). */
async function decode(format: string, file: string): Promise<Record<string, unknown>[]> {
  let stdout: string
  try {
    stdout = (await run(process.execPath, [BIN, 'decode', format, file], { timeout: 30_000 })).stdout
    throw new Error('expected a non-zero exit for a file with a bad line')
  } catch (err) {
    const e = err as { code?: number; stdout?: string }
    if (typeof e.code !== 'number' || e.code === 0) throw err
    stdout = e.stdout ?? ''
  }
  return stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
}

describe('smartcity decode for the serial protocols', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  // Issue 11: decode assembles epochs as the serial source does (the gateway's answer won over the old
  // one-sentence-alone decode): a sentence line prints no points until a sentence of a new time closes its
  // epoch; the epoch still open at the end of the file is printed as one more line (`frame: {end: 'flush'}`),
  // with the GSA's BeiDou satellite deciding the system tag, and a satellites point (the source's default).
  it('decode nmea: one JSON object per sentence, the fix epoch\'s points once it closes', async () => {
    const f = join(tmp.dir, 'nmea.txt')
    writeFileSync(
      f,
      [
        '$GPGGA,213121.000,4404.1295864,N,12118.8685453,W,2,07,1.2,1102.537,M,-20.300,M,,0000*5F',
        '$BDGSA,A,3,214,,,,,,,,,,,,2.5,1.2,2.2*10',
        '$GPGGA,213121.000,4404.1295864,N,12118.8685453,W,2,07,1.2,1102.537,M,-20.300,M,,0000*00',
        '$PSTI,030,213121.000,A,4404.1295864,N,12118.8685453,W,1102.537,-0.01,0.01,0.03,070416,D,0.0,0.0*13',
      ].join('\n'),
    )
    const out = await decode('nmea', f)
    expect(out).toHaveLength(5)
    expect(out[0]).toMatchObject({ ok: true, frame: { type: 'GGA', talker: 'GP', quality: 2 }, points: [] })
    expect(out[1]).toMatchObject({ ok: true, frame: { type: 'GSA', talker: 'BD', svids: [214] }, points: [] })
    expect(out[2]).toMatchObject({ ok: false })
    expect(String(out[2]!['error'])).toMatch(/^bad_checksum/)
    expect(out[3]).toMatchObject({ ok: true, frame: { type: 'proprietary', address: 'PSTI' }, points: [] })
    expect(out[4]).toMatchObject({
      ok: true,
      frame: { end: 'flush' },
      points: [
        { measurement: 'position', tags: { system: 'BDS' }, fields: { fix_quality: 2, lat: 44.06882644, lon: -121.314475755 } },
        { measurement: 'satellites', tags: { system: 'BDS' }, fields: { in_view: 0, used: 1 } },
      ],
    })
  })

  it('decode dlt645: one JSON object per hex frame', async () => {
    const f = join(tmp.dir, 'dlt645.txt')
    writeFileSync(f, 'FE FE FE FE 68 61 01 00 00 00 00 68 11 04 33 33 34 33 14 16\n68 61 01 00 00 00 00 68 91 08 33 33 34 33 59 33 33 33 8A 16\n68 61 01 00 00 00 00 68 91 08 33 33 34 33 59 33 33 33 8B 16\n')
    const out = await decode('dlt645', f)
    // The meter's poll cycle (here one reply) gives one point, as the gateway stores it: printed on the line
    // that closes the cycle, here the end of the capture.
    expect(out).toHaveLength(4)
    expect(out[0]).toMatchObject({ ok: true, frame: { kind: 'read_request', address: '000000000161', di: '00010000' }, points: [] })
    expect(out[1]).toMatchObject({ ok: true, frame: { kind: 'read_reply', values: { import_energy_kwh: 0.26 } }, points: [] })
    expect(out[2]).toMatchObject({ ok: false })
    expect(String(out[2]!['error'])).toMatch(/^bad_checksum/)
    expect(out[3]).toMatchObject({ ok: true, frame: { end: 'flush' }, points: [{ measurement: 'energy_meter', fields: { import_energy_kwh: 0.26 } }] })
  })
})
