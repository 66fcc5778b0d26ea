/**
 * `smartcity decode <format>` answers `{"ok": true, "frame": {...}, "points": []}` for every valid frame that
 * carries nothing to store, in every format: heartbeats, registrations, answers, requests, presence, status
 * frames, proprietary sentences, replies with an identifier the decoder does not know. Runs the real command
 * (bin/smartcity.js) over one capture file per format. Sources of the frames:
 * - mqtt: presence messages as the README's data model defines them (`.../status`, `online`/`offline`);
 * - hj212: HJ 212-2017 section 6 / Annex C: the standard's example request (CN=1062, CRC 1C80, also in
 *   docs/protocols.md) and the station's request answer (CN=9011) and data answer (CN=9014) to it;
 * - dlt645: the hwhale.com worked example (devices/energy-meter/README.md), a public Java meter simulator and
 *   a meter capture in public GSM-repeater firmware (cited in test/devices/energy-meter/dlt645-freeze.test.ts);
 * - modbus-rtu: Eastron's SDM630 request (docs/protocols.md section 7), the Modbus RTU exception and FC 06
 *   examples of the Modbus documentation (01 83 02 C0 F1; 11 06 00 01 00 03 9A 9B);
 * - etc-rsu: test/fixtures/etc-rsu/passage.hex (docs/protocols.md section 5): initialise, empty answer,
 *   B2 heartbeat, continue;
 * - nmea: gpsd's regression logs (test/daemon/skytraq-dgps.log, beidou-bd.log: $PSTI, $PSRFEPE, GSV and the
 *   SiRF-TriG GSA);
 * - jt808: SmallChi/JT808's tests (JT808_0x0002Test, 0x0100Test.Test1_1, 0x0102Test.Test4, 0x0001Test.Test2).
 */
import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { decoders } from '../../cli/decode.ts'
import { tempDir } from '../helpers/env.ts'

const run = promisify(execFile)
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'smartcity.js')

const NOTHING_TO_STORE: Record<string, string[]> = {
  mqtt: ['city/d1/energy_meter/meter-1/status online', 'city/d1/elevator/lift-1/status offline'],
  hj212: [
    '##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&1C80',
    '##0094QN=20160801085857223;ST=91;CN=9011;PW=100000;MN=010000A8900016F000169DC0;Flag=4;CP=&&QnRtn=1&&E101',
    '##0087QN=20160801085857223;ST=91;CN=9014;PW=100000;MN=010000A8900016F000169DC0;Flag=4;CP=&&&&71C0',
  ],
  dlt645: [
    'FE FE FE FE 68 61 01 00 00 00 00 68 11 04 33 33 34 33 14 16',
    '68 60 39 46 11 98 19 68 91 0a 34 37 33 37 93 6c 79 44 cb 4c b4 16',
    '68 12 00 00 00 10 20 68 91 09 34 33 39 38 33 33 3C 43 48 B1 16',
    '68 12 00 00 00 10 20 68 93 06 45 33 33 33 43 53 1F 16',
    '68 12 00 00 00 10 20 68 D1 01 35 19 16',
  ],
  'modbus-rtu': ['01 04 00 00 00 02 71 CB', '01 83 02 C0 F1', '11 06 00 01 00 03 9A 9B'],
  'etc-rsu': ['FF FF 80 C0 6B 03 A1 40 20 26 11 24 08 53 20 03 0A 0A 00 82 FF', 'FF FF 89 89 FF', 'FF FF 08 B2 00 00 00 00 80 3A FF', 'FF FF 81 C1 A1 B2 C3 D4 44 FF'],
  nmea: [
    '$PSTI,030,213121.000,A,4404.1295864,N,12118.8685453,W,1102.537,-0.01,0.01,0.03,070416,D,0.0,0.0*13',
    '$PSRFEPE,074150.799,V,,,,,*23',
    '$GPGSV,7,1,25,01,30,046,22,05,00,000,27,07,00,000,24,08,00,000,27*74',
    '$BDGSA,A,3,02,03,04,,,,,,,,,,2.1,1.1,1.8,1.2*2D',
  ],
  jt808: [
    '7E 00 02 00 00 01 23 45 67 89 00 00 0A 81 7E',
    '7E 01 00 00 2D 00 01 23 45 67 89 00 0A 00 28 00 32 31 32 33 34 30 73 6D 61 6C 6C 63 68 69 31 32 33 30 30 30 30 30 30 30 30 30 43 48 49 31 32 33 30 01 D4 C1 41 31 32 33 34 35 BA 7E',
    '7E 01 02 00 09 01 23 45 67 89 00 30 39 34 35 36 31 32 31 31 31 31 BE 7E',
    '7E 00 01 00 05 01 23 45 67 89 00 04 B3 03 E8 00 02 00 D3 7E',
  ],
}

describe('smartcity decode: a valid frame with nothing to store is ok in every format', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('covers every format the command offers', () => {
    expect(Object.keys(NOTHING_TO_STORE).sort()).toEqual(decoders().map((d) => d.format).sort())
  })

  it.each(Object.entries(NOTHING_TO_STORE))('%s', async (format, lines) => {
    const f = join(tmp.dir, `${format}.txt`)
    writeFileSync(f, `${lines.join('\n')}\n`)
    let stdout = ''
    let code = 0
    try {
      stdout = (await run(process.execPath, [BIN, 'decode', format, f], { timeout: 60_000 })).stdout
    } catch (err) {
      const e = err as { code?: number; stdout?: string }
      code = typeof e.code === 'number' ? e.code : -1
      stdout = e.stdout ?? ''
    }
    const out = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { ok: boolean; frame?: unknown; points?: unknown[]; error?: string })
    expect(out).toHaveLength(lines.length)
    out.forEach((o, i) => {
      expect(o, `${format} line ${i + 1}: ${lines[i]}`).toEqual({ ok: true, frame: expect.anything(), points: [] })
    })
    expect(code).toBe(0)
  }, 90_000)
})
