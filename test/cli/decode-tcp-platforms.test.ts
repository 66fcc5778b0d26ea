import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { afterAll, describe, expect, it } from 'vitest'
import { runDecode } from '../../cli/decode.ts'
import { tempDir } from '../helpers/env.ts'

const tmp = tempDir()
afterAll(() => tmp.cleanup())

async function decode(format: string, lines: string[]): Promise<{ code: number; out: Record<string, unknown>[] }> {
  const file = join(tmp.dir, `${format}.txt`)
  writeFileSync(file, lines.join('\n'))
  let text = ''
  const sink = new Writable({
    write(chunk, _enc, cb) {
      text += chunk.toString()
      cb()
    },
  })
  const code = await runDecode(format, file, sink)
  return { code, out: text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) }
}

describe('smartcity decode jt808 / hj212', () => {
  it('jt808: one JSON object per hex line, errors with their reason', async () => {
    const r = await decode('jt808', [
      '7E 02 00 00 26 11 22 33 44 55 66 22 B8 00 00 00 01 00 00 00 02 00 BA 7F 0E 07 E4 F1 1C 00 28 00 3C 00 00 18 07 15 10 10 10 01 04 00 00 00 64 02 02 00 37 57 7E',
      '7E00020000012345678900000A827E',
    ])
    expect(r.code).toBe(1)
    expect(r.out).toHaveLength(2)
    expect(r.out[0]).toMatchObject({ ok: true, frame: { header: { msgId: 0x0200, phone: '112233445566', serial: 8888 } } })
    expect((r.out[0]!['points'] as unknown[]).length).toBe(2)
    expect(r.out[1]).toEqual({ ok: false, error: 'bad_check: check code 82, computed 81' })
  })

  it('hj212: lines starting ## are packets (not comments), CR LF optional', async () => {
    const r = await decode('hj212', [
      '# a comment line',
      '##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&1C80\r',
      '##0149ST=32;CN=2011;PW=123456;MN=12091200160055;CP=&&DataTime=20150430135830;B01-Rtd=880.17,B01-Flag=N;011-Rtd=999.99,011-Flag=N;060-Rtd=30.18,060-Flag=N&&F881',
    ])
    expect(r.code).toBe(0)
    expect(r.out).toHaveLength(2)
    expect(r.out[0]).toMatchObject({ ok: true, frame: { cn: '1062' }, points: [] })
    expect(r.out[1]).toMatchObject({ ok: true, points: [{ measurement: 'water_quality', fields: { cod_mg_l: 999.99, ammonia_nitrogen_mg_l: 30.18 } }] })
  })
})

describe('smartcity decode jt808 prints what the gateway stores (issue 11)', () => {
  const loc = '7E 02 00 00 26 11 22 33 44 55 66 22 B8 00 00 00 01 00 00 00 02 00 BA 7F 0E 07 E4 F1 1C 00 28 00 3C 00 00 18 07 15 10 10 10 01 04 00 00 00 64 02 02 00 37 57 7E'
  it('alarm points come from the gateway processor: raised once per terminal, not again for the same alarm word', async () => {
    const r = await decode('jt808', [loc, loc])
    expect(r.code).toBe(0)
    const measurements = r.out.map((o) => (o['points'] as { measurement: string }[]).map((p) => p.measurement))
    expect(measurements).toEqual([['position', 'alarm'], ['position']])
  })
  it('a location the kind schema refuses (latitude over 90) is a valid frame with a refused reading', async () => {
    const { encodeJt808 } = await import('../../devices/position/jt808/index.ts')
    const f = encodeJt808({
      header: { msgId: 0x0200, version: 2013, protocolVersion: 0, phone: '013800000001', serial: 1, encryption: 0 },
      body: { type: 'location', alarm: 0, status: 2, latE6: 132_000_000, lonE6: 22_000_000, altitudeM: 0, speed01: 0, courseDeg: 0, time: null, items: [] },
    })
    const r = await decode('jt808', [f.toString('hex')])
    expect(r.code).toBe(1)
    expect(r.out[0]).toMatchObject({ ok: true, points: [], refused: [{ index: 0, reason: 'out_of_range' }] })
  })
})

describe('smartcity decode hj212: a data upload with no factor values (issue 11)', () => {
  it('is a valid frame with nothing to store, as the gateway answers it (9014, no refusal)', async () => {
    const { encodeHj212 } = await import('../../devices/water-quality/hj212/index.ts')
    const hb = encodeHj212({ qn: '20260101080000000', st: '21', cn: '2011', mn: 'MN-HB', flag: 5, cp: [[['DataTime', '20260101080000']]] }).toString().trim()
    const r = await decode('hj212', [hb])
    expect(r.code).toBe(0)
    expect(r.out).toEqual([expect.objectContaining({ ok: true, points: [] })])
    expect(r.out[0]!['refused']).toBeUndefined()
  })
})
