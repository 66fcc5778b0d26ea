import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { crc16Modbus } from '../../../devices/common/checksum.ts'
import { beijingToUtcMs } from '../../../devices/common/time.ts'
import {
  crc212,
  createHj212Framer,
  createHj212Reassembler,
  dataAnswer,
  dataCp,
  decodeHj212,
  encodeHj212,
  executionResult,
  type Hj212Message,
  hj212Data,
  hj212Version,
  requestAnswer,
  splitHj212,
  wantsAnswer,
} from '../../../devices/water-quality/hj212/index.ts'
import { decoders } from '../../../cli/decode.ts'
import { hj212Point } from '../../helpers/hj212.ts'

/** `smartcity decode hj212`: the codec and normalize, as the gateway stores. */
const hj212LineDecoder = decoders().find((d) => d.format === 'hj212')!

const STANDARD_SEGMENT = 'QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&'

// Public frames, each with a CRC that the standard's algorithm reproduces:
// tracy4262/hj212 App.java (2011 water, Flag=5), shark-aio HJ212Client.java (2051 water, duplicated w00000 keys),
// a PHP gateway's sample (HJ/T 212-2005 2011 and 2051 without QN/Flag, codes 011/060/B01).
const TRACY_2011 =
  '##0354QN=20230803171130538;ST=31;CN=2011;PW=123456;MN=88888880000001234567;Flag=5;CP=&&DataTime=20230803165500;w01001-Rtd=0.000,w01001-Flag=N;w21003-Rtd=0.000,w21003-Flag=N;w01018-Rtd=0.000,w01018-Flag=N;e01002-Rtd=0.000,e01002-Flag=N;w01010-Rtd=0.000,w01010-Flag=N;e01001-Rtd=0.000,e01001-Flag=N;w01003-Rtd=0.000,w01003-Flag=N;w21011-Rtd=0.000,w21011-Flag=N&&A141\r\n'
const SHARK_2051 =
  '##0722QN=20241130114316059;ST=32;CN=2051;PW=123456;MN=23923493201019;Flag=5;CP=&&DataTime=20241130113000;w01018-Cou=46.630,w01018-Avg=196.000,w01018-Min=196.000,w01018-Max=196.000,w01018-Flag=N;w21003-Cou=6.930,w21003-Avg=29.110,w21003-Min=29.110,w21003-Max=29.110,w21003-Flag=N;w21011-Cou=0.570,w21011-Avg=2.380,w21011-Min=2.380,w21011-Max=2.380,w21011-Flag=N;w21001-Cou=6.810,w21001-Avg=28.620,w21001-Min=28.620,w21001-Max=28.620,w21001-Flag=N;w01001-Avg=7.03,w01001-Min=7.00,w01001-Max=7.06,w01001-Flag=N;w00000-Cou=237.91,w00000-Avg=66.09,w00000-Min=392.51,w00000-Max=403.98,w00000-Avg=19796346.00,w00000-Min=19796286.00,w00000-Max=19796346.00,w00000-Flag=N;w01010-Avg=19.26,w01010-Min=19.20,w01010-Max=19.30,w01010-Flag=N&&0440\r\n'
const OLD_2005_2011 = '##0149ST=32;CN=2011;PW=123456;MN=12091200160055;CP=&&DataTime=20150430135830;B01-Rtd=880.17,B01-Flag=N;011-Rtd=999.99,011-Flag=N;060-Rtd=30.18,060-Flag=N&&F881'
const OLD_2005_2051 =
  '##0245ST=32;CN=2051;PW=123456;MN=12091200160055;CP=&&DataTime=20150430135700;B01-Min=895.13,B01-Avg=909.87,B01-Max=932.28,B01-Cou=54.59;011-Min=999.99,011-Avg=999.99,011-Max=999.99,011-Cou=54.59;060-Min=30.18,060-Avg=30.18,060-Max=30.18,060-Cou=1.65&&7640'

describe('HJ 212 CRC (Appendix A)', () => {
  it('check value CRC("123456789") = 0x2F80, not the Modbus 0x4B37', () => {
    const b = Buffer.from('123456789')
    expect(crc212(b)).toBe(0x2f80)
    expect(crc16Modbus(b)).toBe(0x4b37)
  })
  it("the standard's own example gives 1C80", () => {
    expect(Buffer.byteLength(STANDARD_SEGMENT)).toBe(101)
    expect(crc212(Buffer.from(STANDARD_SEGMENT))).toBe(0x1c80)
    const m = decodeHj212(`##0101${STANDARD_SEGMENT}1C80\r\n`)
    expect(m).toEqual({
      ok: true,
      value: { qn: '20160801085857223', st: '32', cn: '1062', pw: '100000', mn: '010000A8900016F000169DC0', flag: 5, cp: [[['RtdInterval', '30']]] },
    })
    expect(encodeHj212(m.ok ? m.value : ({} as Hj212Message)).toString()).toBe(`##0101${STANDARD_SEGMENT}1C80\r\n`)
  })
  it('text that is not UTF-8 is read as GBK (loggers for Chinese Windows platforms)', () => {
    const seg = Buffer.concat([Buffer.from('ST=21;CN=3020;PW=1;MN=GBK1;CP=&&i13004-Info='), Buffer.from('b2e2cad4', 'hex'), Buffer.from('&&')])
    const pkt = Buffer.concat([Buffer.from(`##${String(seg.length).padStart(4, '0')}`), seg, Buffer.from(`${crc212(seg).toString(16).toUpperCase().padStart(4, '0')}\r\n`)])
    const m = decodeHj212(pkt)
    expect(m.ok && m.value.cp).toEqual([[['i13004-Info', '测试']]])
  })
  it('lower-case CRC hex is accepted; a wrong CRC refused as bad_crc', () => {
    expect(decodeHj212(`##0101${STANDARD_SEGMENT}1c80`).ok).toBe(true)
    expect(decodeHj212(`##0101${STANDARD_SEGMENT}1C08`)).toMatchObject({ ok: false, reason: 'bad_crc' })
  })
})

describe('HJ 212 public frames', () => {
  it('2011 real-time water data (tracy4262/hj212)', () => {
    const m = decodeHj212(TRACY_2011)
    expect(m.ok).toBe(true)
    if (!m.ok) return
    expect(m.value).toMatchObject({ qn: '20230803171130538', st: '31', cn: '2011', pw: '123456', mn: '88888880000001234567', flag: 5 })
    expect(hj212Version(m.value)).toBe('2017')
    expect(wantsAnswer(m.value)).toBe(true)
    const r = hj212LineDecoder.decodeLine(TRACY_2011, { receivedAt: 0 })
    expect(r.ok).toBe(true)
    if (!r.ok) return
    // With the tags the pipeline adds from the reading (decode prints what the gateway stores).
    expect(r.points).toEqual([
      {
        measurement: 'water_quality',
        tags: { device: '88888880000001234567', kind: 'water_quality', protocol: 'hj212', interval: 'realtime' },
        fields: {
          ph: 0,
          ammonia_nitrogen_mg_l: 0,
          cod_mg_l: 0,
          e01002: 0,
          water_temp_c: 0,
          e01001: 0,
          turbidity_ntu: 0,
          total_phosphorus_mg_l: 0,
          // pH is not graded by class; NH3-N, COD and TP at 0 are all class I, and COD comes first in
          // GB 3838-2002 Table 1.
          gb3838_class: 1,
          gb3838_factor: 'cod_mg_l',
        },
        time: Date.UTC(2023, 7, 3, 8, 55, 0), // 16:55:00 UTC+8
      },
    ])
  })

  it('2051 minute water data with Avg/Min/Max/Cou (shark-aio HJ212Client)', () => {
    const r = hj212LineDecoder.decodeLine(SHARK_2051, { receivedAt: 0 })
    expect(r.ok).toBe(true)
    if (!r.ok) return
    const p = r.points[0]!
    expect(p.time).toBe(beijingToUtcMs(2024, 11, 30, 11, 30, 0))
    expect(p.fields).toMatchObject({
      cod_mg_l: 196,
      cod_mg_l_min: 196,
      cod_mg_l_max: 196,
      cod_mg_l_cou: 46.63,
      ammonia_nitrogen_mg_l: 29.11,
      total_phosphorus_mg_l: 2.38,
      total_nitrogen_mg_l: 28.62,
      ph: 7.03,
      ph_min: 7,
      ph_max: 7.06,
      water_temp_c: 19.26,
      // unknown to the water_quality contract: kept under its code; the first of duplicated keys wins
      w00000: 66.09,
      w00000_min: 392.51,
      w00000_cou: 237.91,
      gb3838_class: 6,
      gb3838_factor: 'cod_mg_l',
    })
  })

  it('HJ/T 212-2005 frames without QN and Flag (2011 and 2051, codes 011/060/B01)', () => {
    const a = decodeHj212(OLD_2005_2011)
    expect(a.ok && hj212Version(a.value)).toBe('2005')
    const r = hj212LineDecoder.decodeLine(OLD_2005_2011, { receivedAt: 0 })
    expect(r.ok && r.points[0]!.fields).toEqual({ B01: 880.17, cod_mg_l: 999.99, ammonia_nitrogen_mg_l: 30.18, gb3838_class: 6, gb3838_factor: 'cod_mg_l' })
    const r2 = hj212LineDecoder.decodeLine(OLD_2005_2051, { receivedAt: 0 })
    expect(r2.ok && r2.points[0]!.fields).toMatchObject({ B01: 909.87, B01_cou: 54.59, cod_mg_l: 999.99, ammonia_nitrogen_mg_l: 30.18, ammonia_nitrogen_mg_l_cou: 1.65 })
    expect(r2.ok && r2.points[0]!.time).toBe(beijingToUtcMs(2015, 4, 30, 13, 57, 0))
  })
})

describe('HJ 212 data view', () => {
  const base: Hj212Message = { qn: '20260101000000000', st: '21', cn: '2011', pw: '123456', mn: 'MN1', flag: 5, cp: [] }
  it('sentinels are not stored and flagged; non-N flags kept; flagged values do not classify', () => {
    const cp = dataCp(Date.UTC(2026, 0, 1), {
      w01001: { Rtd: '7.2', Flag: 'N' },
      w01009: { Rtd: '-99.000000', Flag: 'N' },
      w21003: { Rtd: '3.5', Flag: 'M' },
      w01018: { Rtd: '12', Flag: 'C' },
      w01019: { Rtd: '1.5' },
      w01010: { Rtd: '999' },
    })
    const m = { ...base, cp }
    const d = hj212Data(cp)
    expect(d.ok).toBe(true)
    if (!d.ok) return
    const p = hj212Point(m, d.value, { receivedAt: 0 })
    expect(p.ok && p.value.fields).toEqual({
      ph: 7.2,
      dissolved_oxygen_mg_l_flag: 'sentinel',
      ammonia_nitrogen_mg_l: 3.5,
      ammonia_nitrogen_mg_l_flag: 'M',
      cod_mg_l: 12,
      cod_mg_l_flag: 'C',
      codmn_mg_l: 1.5,
      water_temp_c_flag: 'out_of_range',
      // only CODMn 1.5 (class I) classifies: pH is not graded, NH3-N 3.5 is in maintenance, COD in calibration
      gb3838_class: 1,
      gb3838_factor: 'codmn_mg_l',
    })
    expect(p.ok && p.value.time).toBe(Date.UTC(2026, 0, 1))
  })
  it('other per-factor keys are kept, not dropped: Zs* as numbers, EFlag and SampleTime as strings', () => {
    const cp = dataCp(Date.UTC(2026, 0, 1), { w01018: { Rtd: '21.5', ZsRtd: '23.1', EFlag: 'A01', SampleTime: '20260101075500', Flag: 'N' }, w00000: { Rtd: '3.2', ZsRtd: 'n/a' } })
    const d = hj212Data(cp)
    const p = d.ok ? hj212Point({ ...base, cp }, d.value, { receivedAt: 0 }) : undefined
    expect(p?.ok && p.value.fields).toEqual({ cod_mg_l: 21.5, cod_mg_l_zsrtd: 23.1, cod_mg_l_eflag: 'A01', cod_mg_l_sampletime: '20260101075500', w00000: 3.2, gb3838_class: 4, gb3838_factor: 'cod_mg_l' })
  })
  it('DataTime that is not a time is refused', () => {
    expect(hj212Data([[['DataTime', '20261341000000']]])).toMatchObject({ ok: false, reason: 'bad_time' })
  })
  it('answers: 9014 with the same QN, 9011 QnRtn, 9012 ExeRtn', () => {
    expect(encodeHj212(dataAnswer(base)).toString()).toMatch(/^##\d{4}QN=20260101000000000;ST=91;CN=9014;PW=123456;MN=MN1;Flag=4;CP=&&&&[0-9A-F]{4}\r\n$/)
    expect(requestAnswer(base, 3).cp).toEqual([[['QnRtn', '3']]])
    expect(executionResult(base, 1).cp).toEqual([[['ExeRtn', '1']]])
  })
})

describe('HJ 212 framer and split packets', () => {
  const a = Buffer.from(TRACY_2011)
  const b = Buffer.from(OLD_2005_2011) // no CR LF
  const stream = Buffer.concat([Buffer.from('noise'), a, b, a])
  it('splits concatenated packets whatever the read boundaries, CR LF optional', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 10 }), (cuts) => {
        const f = createHj212Framer()
        const out: string[] = []
        const bad = new Set<string>()
        let garbage = ''
        let prev = 0
        for (const c of [...[...new Set(cuts)].sort((x, y) => x - y), stream.length]) {
          for (const e of f.push(stream.subarray(prev, c))) {
            if (e.ok) out.push(e.frame.toString())
            else {
              bad.add(e.reason)
              garbage += e.raw.toString()
            }
          }
          prev = c
        }
        expect([...bad]).toEqual(['garbage'])
        expect(garbage).toBe('noise')
        expect(out).toEqual([TRACY_2011.trimEnd(), OLD_2005_2011, TRACY_2011.trimEnd()])
      }),
    )
  })
  it('an oversized length is refused and the next packet still read', () => {
    const ev = createHj212Framer({ maxSegmentBytes: 400 }).push(Buffer.concat([Buffer.from('##9000QN=1;'), a]))
    expect(ev.map((e) => (e.ok ? 'frame' : e.reason))).toEqual(['frame_too_long', 'garbage', 'frame'])
  })
  it('PNUM/PNO parts are joined back into one upload', () => {
    const whole: Hj212Message = {
      qn: '20260101000000000',
      st: '21',
      cn: '2051',
      pw: 'pw',
      mn: 'MN-9',
      flag: 5,
      cp: dataCp(Date.UTC(2026, 0, 1), { w01001: { Avg: '7.1' }, w01009: { Avg: '8.2' }, w21003: { Avg: '0.2' } }),
    }
    const parts = splitHj212(whole, 1)
    expect(parts.map((p) => [p.pnum, p.pno, p.flag])).toEqual([
      [3, 1, 7],
      [3, 2, 7],
      [3, 3, 7],
    ])
    const r = createHj212Reassembler()
    const results = [parts[2]!, parts[0]!, parts[1]!].map((p) => {
      const d = decodeHj212(encodeHj212(p))
      return d.ok ? r.add(d.value, 0) : { done: false as const }
    })
    expect(results.map((x) => x.done)).toEqual([false, false, true])
    const last = results[2]!
    expect(last.done && last.message).toEqual(whole)
  })
})

// ---------------------------------------------------------------- property tests

const token = (re: RegExp) => fc.stringMatching(re)
const cpArb = fc.array(fc.array(fc.tuple(token(/^[A-Za-z][A-Za-z0-9-]{0,10}$/), token(/^[A-Za-z0-9.+-]{0,10}$/)), { minLength: 1, maxLength: 4 }), { maxLength: 6 })
const messageArb: fc.Arbitrary<Hj212Message> = fc
  .record(
    {
      qn: token(/^\d{17}$/),
      st: token(/^\d{2}$/),
      cn: token(/^\d{4}$/),
      pw: token(/^[A-Za-z0-9]{0,8}$/),
      mn: token(/^[A-Za-z0-9_-]{1,24}$/),
      flag: fc.integer({ min: 0, max: 255 }),
      cp: cpArb,
    },
    { requiredKeys: ['cn', 'mn', 'cp'] },
  )
  .chain((m) =>
    fc.option(fc.integer({ min: 1, max: 20 }), { nil: undefined }).chain((pnum) =>
      pnum === undefined ? fc.constant(m as Hj212Message) : fc.integer({ min: 1, max: pnum }).map((pno) => ({ ...m, pnum, pno }) as Hj212Message),
    ),
  )

describe('HJ 212 property tests', () => {
  it('decode(encode(x)) equals x (uploads, 9011, 9012, 9014)', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        expect(decodeHj212(encodeHj212(m))).toEqual({ ok: true, value: m })
        for (const a of [dataAnswer(m), requestAnswer(m, 1), executionResult(m, 2)]) expect(decodeHj212(encodeHj212(a))).toEqual({ ok: true, value: a })
      }),
      { numRuns: 500 },
    )
  })
  it('no input makes the framer, decoder or data view throw', () => {
    const alphabet = fc.constantFrom(...'##0123456789;=,&-CPQNSTMNFlagRtd\r\n\x00\xff')
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 60 }), fc.string({ unit: alphabet, maxLength: 80 }).map((s) => new Uint8Array(Buffer.from(s)))), { maxLength: 6 }), (chunks) => {
        const f = createHj212Framer({ maxSegmentBytes: 200 })
        for (const c of chunks) {
          for (const e of f.push(Buffer.from(c))) {
            if (!e.ok) continue
            const m = decodeHj212(e.frame)
            if (m.ok) hj212LineDecoder.decodeLine(e.frame.toString(), { receivedAt: 0 })
          }
          decodeHj212(c)
          hj212LineDecoder.decodeLine(Buffer.from(c).toString('latin1'), { receivedAt: 0 })
        }
      }),
      { numRuns: 1000 },
    )
  })
})
