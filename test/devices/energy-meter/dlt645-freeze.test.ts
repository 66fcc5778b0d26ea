/**
 * DL/T 645-2007 frozen data, event counters and identifiers the table does not know, with frames real meters
 * and public meter software sent:
 * - SIM: a public DL/T 645-2007 meter simulator (Java, package com.sansheng.testcenter, Server.java, 2015),
 *   whose replies carry their decoded values in comments ("上2次日冻结时间: 2015-10-9 0:00:00",
 *   "开盖次数: 27", "跳闸次数: 0"), found by content in public code;
 * - CLOU: a concentrator's receive log in public AMR firmware (`StdRdr <-- ... 68 57 01 00 00 00 00 68 91 09
 *   34 33 39 38 ...`), the daily freeze time of meter 000000000157;
 * - REPEATER: a GSM repeater's firmware (DLTProtocol.c, Yossi Ferlandes) with a capture of a meter answering
 *   "Read Meter ID <DI -- 0x04000401>": 199811463960;
 * - the DI formats: DL/T 645-2007 Appendix A as public readers use it (GitHub wuhuangrui/C82_DL689,
 *   ClouSoft/MeterPro/DL645V07.cpp and MtrMapCfg.cpp: 05060001 5 bytes, 05060101 20 bytes, 1D000001 跳闸次数).
 * Every frame's CS is checked by the decoder, so a mistyped byte fails the test.
 */
import { describe, expect, it } from 'vitest'
import { dataItem, decodeDataValue, dlt645Codec, encodeDataValue, encodeMessage } from '../../../devices/energy-meter/dlt645/index.ts'
import { codecLineDecoder } from '../../../devices/common/codec-lines.ts'
import { deviceKind } from '../../../devices/index.ts'

// `smartcity decode dlt645`'s decoder: the codec through the generic runner.
const dlt645 = codecLineDecoder(dlt645Codec, deviceKind)
const decode = (line: string) => dlt645.decodeLine(line, { receivedAt: 1_700_000_000_000 })

describe('DL/T 645-2007 replies with an identifier the table does not know', () => {
  it('are ok: address, DI and raw data (-0x33) kept, marked unknown, no point (REPEATER: 04000401 meter number)', () => {
    expect(decode('68 60 39 46 11 98 19 68 91 0a 34 37 33 37 93 6c 79 44 cb 4c b4 16')).toEqual({
      ok: true,
      frame: { address: '199811463960', control: '91', kind: 'read_reply', version: '2007', di: '04000401', known: false, raw: '603946119819' },
      points: [],
    })
  })

  it('a follow-up reply (0xB1) too', () => {
    const bytes = encodeMessage({ kind: 'read_reply', version: '2007', address: '199811463960', di: 0x04000401, data: Buffer.from('603946119819', 'hex'), more: true }, 0)
    expect(bytes[8]).toBe(0xb1)
    expect(decode(bytes.toString('hex'))).toMatchObject({ ok: true, frame: { control: 'B1', di: '04000401', known: false, raw: '603946119819' }, points: [] })
  })

  it('decodeDataValue says known: false instead of failing', () => {
    expect(decodeDataValue('2007', 0x04000401, Buffer.from('603946119819', 'hex'))).toEqual({
      ok: true,
      value: { di: 0x04000401, name: 'unknown', known: false, fields: {}, values: {}, raw: '603946119819' },
    })
  })
})

describe('DL/T 645-2007 freeze and event identifiers', () => {
  it('05060001 daily freeze time, YYMMDDhhmm sent mm hh DD MM YY (SIM and CLOU)', () => {
    expect(decode('68 12 00 00 00 10 20 68 91 09 34 33 39 38 33 33 3C 43 48 B1 16')).toEqual({
      ok: true,
      frame: { address: '201000000012', control: '91', kind: 'read_reply', version: '2007', di: '05060001', known: true, name: 'daily_freeze_time', values: { daily_freeze_time: '2015-10-09 00:00' } },
      points: [],
    })
    expect(decode('68 57 01 00 00 00 00 68 91 09 34 33 39 38 33 33 3B 43 45 C3 16')).toMatchObject({ ok: true, frame: { address: '000000000157', values: { daily_freeze_time: '2012-10-08 00:00' } }, points: [] })
    // never frozen: FF
    expect(decodeDataValue('2007', 0x05060001, Buffer.alloc(5, 0xff))).toMatchObject({ ok: true, value: { values: { daily_freeze_time: null } } })
    expect(decodeDataValue('2007', 0x05060001, Buffer.alloc(4))).toMatchObject({ ok: false, reason: 'bad_length' })
  })

  it('1D000001 trip count and 03300D00 cover openings are stored (SIM: 跳闸次数 0, 开盖次数 27)', () => {
    expect(decode('68 12 00 00 00 10 20 68 91 07 34 33 33 50 33 33 33 2D 16')).toMatchObject({
      ok: true,
      frame: { di: '1D000001', name: 'trip_count', values: { trip_count: 0 } },
      points: [{ measurement: 'energy_meter', fields: { trip_count: 0 } }],
    })
    expect(decode('68 12 00 00 00 10 20 68 91 07 33 40 63 36 5A 33 33 76 16')).toMatchObject({
      ok: true,
      frame: { di: '03300D00', values: { cover_open_count: 27 } },
      points: [{ measurement: 'energy_meter', fields: { cover_open_count: 27 } }],
    })
    // and the master's request for it (SIM)
    expect(decode('68 12 00 00 00 10 20 68 11 04 34 33 33 50 11 16')).toMatchObject({ ok: true, frame: { kind: 'read_request', di: '1D000001' }, points: [] })
  })

  it('05060101 daily frozen forward active energy: total + 4 tariffs, decoded, not stored', () => {
    // the request as a concentrator sends it (public: `68 07 07 00 00 34 12 68 11 04 34 34 39 38 12 16`)
    expect(decode('68 07 07 00 00 34 12 68 11 04 34 34 39 38 12 16')).toMatchObject({ ok: true, frame: { kind: 'read_request', address: '123400000707', di: '05060101' } })
    expect(dataItem('2007', 0x05060101)!.items.map((i) => i.fmt.bytes)).toEqual([4, 4, 4, 4, 4]) // 20 bytes as in DL645V07.cpp
    const values = { daily_frozen_import_energy_kwh: 1.29, daily_frozen_import_energy_tariff_1_kwh: 0.62, daily_frozen_import_energy_tariff_2_kwh: 0.6, daily_frozen_import_energy_tariff_3_kwh: 0.03, daily_frozen_import_energy_tariff_4_kwh: 0.02 }
    const reply = encodeMessage({ kind: 'read_reply', version: '2007', address: '201000000012', di: 0x05060101, data: encodeDataValue('2007', 0x05060101, values)!, more: false }, 0)
    const r = decode(reply.toString('hex'))
    expect(r).toEqual({
      ok: true,
      frame: { address: '201000000012', control: '91', kind: 'read_reply', version: '2007', di: '05060101', known: true, name: 'daily_frozen_import_energy', values },
      points: [],
    })
    // a meter with fewer tariffs answers a shorter block
    expect(decodeDataValue('2007', 0x05060101, encodeDataValue('2007', 0x05060101, values)!.subarray(0, 8))).toMatchObject({ ok: true, value: { values: { daily_frozen_import_energy_kwh: 1.29, daily_frozen_import_energy_tariff_1_kwh: 0.62 } } })
  })
})
