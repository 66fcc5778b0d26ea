import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseHex } from '../../../devices/common/hex.ts'
import { beijingToUtcMs } from '../../../devices/common/time.ts'
import { decoders } from '../../../cli/decode.ts'
import {
  createJt808Framer,
  createJt808Reassembler,
  decodeBody,
  encodeBody,
  decodeJt808,
  decodePacket,
  encodeJt808,
  encodeSubpackages,
  gnssSystem,
  type Jt808Body,
  type Jt808Header,
  type Jt808Location,
  type Jt808Message,
  terminalId,
} from '../../../devices/position/jt808/index.ts'
import { alarmPoints, locationPoint } from '../../helpers/jt808.ts'

/** `smartcity decode jt808`: the codec, normalize and the gateway's alarm processor, as the gateway stores. */
const jt808LineDecoder = decoders().find((d) => d.format === 'jt808')!

const hex = (s: string) => parseHex(s)!

function decoded(s: string): Jt808Message {
  const r = decodeJt808(hex(s))
  if (!r.ok) throw new Error(`${r.reason} ${r.detail}`)
  return r.value
}

// Frames and the values asserted for them by SmallChi/JT808's tests
// (src/JT808.Protocol.Test/MessageBody/JT808_0x####Test.cs).
describe('JT/T 808 frames from SmallChi/JT808 tests', () => {
  it('0x0200 location (JT808_0x0200Test.Demo2, with 7D 02 and 7D 01 escapes)', () => {
    const m = decoded('7E 02 00 00 26 12 34 56 78 90 12 00 7D 02 00 00 00 01 00 00 00 02 00 BA 7F 0E 07 E4 F1 1C 00 28 00 3C 00 00 18 10 15 10 10 10 01 04 00 00 00 64 02 02 00 7D 01 13 7E')
    expect(m.header).toEqual({ msgId: 0x0200, version: 2013, protocolVersion: 0, phone: '123456789012', serial: 126, encryption: 0 })
    expect(m.body).toEqual({
      type: 'location',
      alarm: 1,
      status: 2,
      latE6: 12222222,
      lonE6: 132444444,
      altitudeM: 40,
      speed01: 60,
      courseDeg: 0,
      time: beijingToUtcMs(2018, 10, 15, 10, 10, 10),
      items: [
        { id: 0x01, value: 100 },
        { id: 0x02, value: 125 },
      ],
    })
    // Their serializer produced exactly these bytes from those values: our encoder must too.
    expect(encodeJt808(m).toString('hex').toUpperCase()).toBe('7E02000026123456789012007D02000000010000000200BA7F0E07E4F11C0028003C00001810151010100104000000640202007D01137E')
  })

  it('0x0200 location gives a position point and an emergency alarm point', () => {
    const m = decoded('7E 02 00 00 26 11 22 33 44 55 66 22 B8 00 00 00 01 00 00 00 02 00 BA 7F 0E 07 E4 F1 1C 00 28 00 3C 00 00 18 07 15 10 10 10 01 04 00 00 00 64 02 02 00 37 57 7E')
    expect(m.header.serial).toBe(8888)
    expect(m.header.phone).toBe('112233445566')
    const r = jt808LineDecoder.decodeLine('7E 02 00 00 26 11 22 33 44 55 66 22 B8 00 00 00 01 00 00 00 02 00 BA 7F 0E 07 E4 F1 1C 00 28 00 3C 00 00 18 07 15 10 10 10 01 04 00 00 00 64 02 02 00 37 57 7E', { receivedAt: 0 })
    expect(r.ok).toBe(true)
    if (!r.ok) return
    const t = Date.UTC(2018, 6, 15, 2, 10, 10) // 10:10:10 GMT+8
    // With the tags the pipeline adds from the reading (decode prints what the gateway stores).
    const common = { device: '112233445566', kind: 'position', protocol: 'jt808' }
    expect(r.points).toEqual([
      {
        measurement: 'position',
        tags: { ...common, system: 'GNSS' },
        fields: { lat: 12.222222, lon: 132.444444, alt_m: 40, speed_kmh: 6, course_deg: 0, fix_quality: 1, alarm_flags: 1, status_flags: 2, mileage_km: 10, fuel_l: 5.5 },
        time: t,
      },
      {
        measurement: 'alarm',
        tags: { ...common, rule: 'jt808_emergency', severity: 'critical' },
        fields: { active: true, value: 0, message: 'JT/T 808 alarm bit 0 emergency raised' },
        time: t,
      },
    ])
  })

  it('0x0200 with signal strength and satellites (JT808_0x0200Test.Test6, a real terminal; that test asserts nothing, values read by hand)', () => {
    const m = decoded('7E 02 00 00 3C 04 00 21 68 20 87 1D 0C 00 00 00 00 00 0C 00 C2 01 5B 6C 6E 06 C8 56 98 00 1E 00 00 00 E0 18 09 16 10 35 37 01 04 00 05 4C 7D 01 02 02 00 00 03 02 00 00 25 04 00 00 00 00 2B 04 00 00 00 00 30 01 1D 31 01 0D 97 7E')
    expect(m.header.phone).toBe('040021682087')
    expect(m.body.type).toBe('location')
    if (m.body.type !== 'location') return
    expect(m.body.status).toBe(0x000c00c2)
    const p = locationPoint(m.body, 0)
    expect(p.ok).toBe(true)
    if (!p.ok) return
    // status bit 1 (positioned), bit 18 not set, bit 19 (BeiDou) not set: 0x000C00C2 has bits 1, 6, 7, 18, 19.
    expect(p.value.tags['system']).toBe('GNSS')
    expect(p.value.fields).toMatchObject({ lat: 22.768750, lon: 113.792664, alt_m: 30, speed_kmh: 0, course_deg: 224, mileage_km: 34726.1, signal_strength: 29, satellites_used: 13, fuel_l: 0 })
    expect(p.value.time).toBe(beijingToUtcMs(2018, 9, 16, 10, 35, 37))
  })

  it('0x0100 register, 2013 (JT808_0x0100Test.Test1_1)', () => {
    const m = decoded('7E 01 00 00 2D 00 01 23 45 67 89 00 0A 00 28 00 32 31 32 33 34 30 73 6D 61 6C 6C 63 68 69 31 32 33 30 30 30 30 30 30 30 30 30 43 48 49 31 32 33 30 01 D4 C1 41 31 32 33 34 35 BA 7E')
    expect(terminalId(m.header.phone)).toBe('123456789')
    expect(m.header.serial).toBe(10)
    expect(m.body).toEqual({ type: 'register', province: 40, city: 50, makerId: '12340', model: 'smallchi123000000000', terminalId: 'CHI1230', plateColor: 1, plate: '粤A12345' })
  })

  it('0x0100 register, 2019 header (JT808_0x0100Test.Test2019_2)', () => {
    const s = '7E010040540100000000000123456789000A00280032303030303030303132333430303030303030303030303030303030303030736D616C6C63686931323330303030303030303030303030303030303030303030303043484931323301D4C1413132333435B27E'
    const m = decoded(s)
    expect(m.header).toMatchObject({ version: 2019, protocolVersion: 1, serial: 10, phone: '00000000000123456789' })
    expect(terminalId(m.header.phone)).toBe('123456789')
    expect(m.body).toEqual({
      type: 'register',
      province: 40,
      city: 50,
      makerId: '00000001234',
      model: '0000000000000000000smallchi123',
      terminalId: '000000000000000000000000CHI123',
      plateColor: 1,
      plate: '粤A12345',
    })
    expect(encodeJt808(m).toString('hex').toUpperCase()).toBe(s)
  })

  it('0x0102 authentication (JT808_0x0102Test.Test4)', () => {
    const m = decoded('7E 01 02 00 09 01 23 45 67 89 00 30 39 34 35 36 31 32 31 31 31 31 BE 7E')
    expect(m.header.serial).toBe(12345)
    expect(terminalId(m.header.phone)).toBe('12345678900')
    expect(m.body).toEqual({ type: 'auth', authCode: '456121111' })
  })

  it('0x0002 heartbeat (JT808_0x0002Test.Test2 and Test3)', () => {
    expect(decoded('7E 00 02 00 00 01 23 45 67 89 00 00 0A 81 7E')).toEqual({
      header: { msgId: 2, version: 2013, protocolVersion: 0, phone: '012345678900', serial: 10, encryption: 0 },
      body: { type: 'heartbeat' },
    })
    const m = decoded('7E 00 02 00 00 04 00 21 67 92 87 00 2B 7D 02 7E')
    expect(m.header.serial).toBe(43)
    expect(terminalId(m.header.phone)).toBe('40021679287')
  })

  it('0x0001 terminal general response (JT808_0x0001Test.Test2)', () => {
    const m = decoded('7E 00 01 00 05 01 23 45 67 89 00 04 B3 03 E8 00 02 00 D3 7E')
    expect(m.header.serial).toBe(1203)
    expect(m.body).toEqual({ type: 'terminal_response', ackSerial: 1000, ackMsgId: 0x0002, result: 0 })
  })

  it('0x8001 platform general response (JT808_0x8001Test.Test1/Test2)', () => {
    const m = decoded('7E 80 01 00 05 01 23 45 67 89 00 00 0A 00 64 02 00 00 61 7E')
    expect(m.body).toEqual({ type: 'platform_response', ackSerial: 100, ackMsgId: 0x0200, result: 0 })
    expect(encodeJt808(m).toString('hex').toUpperCase()).toBe('7E80010005012345678900000A0064020000617E')
  })

  it('0x8100 register response with and without auth code (JT808_0x8100Test)', () => {
    const a = decoded('7E 81 00 00 09 01 23 45 67 89 00 00 0A 00 64 00 31 32 33 34 35 36 68 7E')
    expect(a.body).toEqual({ type: 'register_response', ackSerial: 100, result: 0, authCode: '123456' })
    const b = decoded('7E 81 00 00 03 01 23 45 67 89 00 00 0A 00 64 04 61 7E')
    expect(b.body).toEqual({ type: 'register_response', ackSerial: 100, result: 4 })
    expect(encodeJt808(b).toString('hex').toUpperCase()).toBe('7E81000003012345678900000A006404617E')
  })

  it('0x0704 batch upload (JT808_0x0704Test.Test2)', () => {
    const m = decoded('7E 07 04 00 53 11 22 33 44 55 66 22 B8 00 02 00 00 26 00 00 00 01 00 00 00 02 00 BA 7F 0E 07 E4 F1 1C 00 28 00 3C 00 00 18 07 15 10 10 10 01 04 00 00 00 64 02 02 00 37 00 26 00 00 00 02 00 00 00 01 00 CB 73 55 07 E6 A3 23 00 29 00 36 00 78 18 07 15 10 10 30 01 04 00 00 00 60 02 02 00 42 D4 7E')
    expect(m.body.type).toBe('location_batch')
    if (m.body.type !== 'location_batch') return
    expect(m.body.batchType).toBe(0)
    expect(m.body.locations).toHaveLength(2)
    expect(m.body.locations[1]).toMatchObject({ alarm: 2, status: 1, latE6: 13333333, lonE6: 132555555, speed01: 54, courseDeg: 120, time: beijingToUtcMs(2018, 7, 15, 10, 10, 30) })
    expect(m.body.locations[1]!.items).toEqual([
      { id: 1, value: 96 },
      { id: 2, value: 66 },
    ])
    // The second location has status 1 (ACC on, not positioned): no coordinates, fix_quality 0.
    const p = locationPoint(m.body.locations[1]!, 0)
    expect(p.ok && p.value.fields).toEqual({ fix_quality: 0, alarm_flags: 2, status_flags: 1, mileage_km: 9.6, fuel_l: 6.6 })
  })
})

// cuteLittleDevil/go-jt808 protocol/model/reply_test.go: terminal frames (2013 and 2019 headers) and the exact
// 0x8001 / platform answers that library produces with platform serial 0; TestT0x0200Encode's body and values.
describe('JT/T 808 frames and answers from cuteLittleDevil/go-jt808 tests', () => {
  const answer = (to: Jt808Message, result = 0) =>
    encodeJt808({
      header: { msgId: 0x8001, version: to.header.version, protocolVersion: to.header.protocolVersion, phone: to.header.phone, serial: 0, encryption: 0 },
      body: { type: 'platform_response', ackSerial: to.header.serial, ackMsgId: to.header.msgId, result },
    }).toString('hex')
  const cases = [
    ['heartbeat 2013', '7e000200000123456789017fff0a7e', '7e8001000501234567890100007fff0002008e7e'],
    ['heartbeat 2019', '7e000240000100000000017299841738ffff027e', '7e8001400501000000000172998417380000ffff000200867e'],
    // their handler refuses this 2013 code: result 1
    ['authentication 2013', '7e0102000b01234567890100003137323939383431373338b57e', '7e80010005012345678901000000000102010e7e', 1],
    [
      'authentication 2019',
      '7e0102402f010000000001729984173800000b3137323939383431373338313233343536373839303132333435332e372e31350000000000000000000000000000227e',
      '7e80014005010000000001729984173800000000010200877e',
    ],
    [
      'location 2019',
      '7e0200407c0100000000017299841738ffff000004000000080006eeb6ad02633df701380003006320070719235901040000000b02020016030200210402002c051e3737370000000000000000000000000000000000000000000000000000001105420000004212064d0000004d4d1307000000580058582504000000632a02000a2b040000001430011e310128637e',
      '7e8001400501000000000172998417380000ffff020000867e',
    ],
    [
      'batch upload 2013',
      '7e0704005d0123456789017fff000301001c000004000000080006eeb6ad02633df7013800030063200707192359001c000004000000080006eeb6ad02633df7013800030063200707192359001c000004000000080006eeb6ad02633df7013800030063200707192359067e',
      '7e8001000501234567890100007fff0704008f7e',
    ],
  ] as const
  for (const [name, frame, reply, result] of cases) {
    it(`${name}: decodes, and our 0x8001 answer is byte for byte theirs`, () => {
      const m = decoded(frame)
      expect(answer(m, result ?? 0)).toBe(reply)
    })
  }

  it('0x8100 register answers (2013 and 2019) are byte for byte theirs', () => {
    const reg13 = decoded('7e0100002c0123456789010000001f007363640000007777772e3830382e636f6d0000000000000000003736353433323101b2e24131323334cc7e')
    expect(reg13.body).toEqual({ type: 'register', province: 31, city: 115, makerId: 'cd', model: 'www.808.com', terminalId: '7654321', plateColor: 1, plate: '测A1234' })
    const reg19 = decoded('7e0100405301000000000172998417380000001f007363640000000000000000007777772e3830382e636f6d0000000000000000000000000000000000000037363534333231000000000000000000000000000000000000000000000001b2e241313233343b7e')
    const ans = (to: Jt808Message, code: string) =>
      encodeJt808({
        header: { msgId: 0x8100, version: to.header.version, protocolVersion: to.header.protocolVersion, phone: to.header.phone, serial: 0, encryption: 0 },
        body: { type: 'register_response', ackSerial: to.header.serial, result: 0, authCode: code },
      }).toString('hex')
    expect(ans(reg13, '12345678901')).toBe('7e8100000e01234567890100000000003132333435363738393031377e')
    // JT/T 808-2011 layout (model BYTE[8]) under a 2013 header: same answer.
    const reg11 = decoded('7e010000200123456789010000001f007363640000007777772e3830382e3736353433323101b2e24131323334a17e')
    expect(reg11.body).toEqual({ type: 'register', province: 31, city: 115, makerId: 'cd', model: 'www.808.', terminalId: '7654321', plateColor: 1, plate: '测A1234', layout2011: true })
    expect(ans(reg11, '12345678901')).toBe('7e8100000e01234567890100000000003132333435363738393031377e')
    expect(ans(reg19, '17299841738')).toBe('7e8100400e010000000001729984173800000000003137323939383431373338ba7e')
  })

  it('2019 authentication body: code, IMEI, software version', () => {
    expect(decoded(cases[3][1]).body).toEqual({ type: 'auth', authCode: '17299841738', imei: '123456789012345', softwareVersion: '3.7.15' })
  })

  it('0x0200 body of TestT0x0200Encode gives their values; the 2019 frame carries every additional item', () => {
    const h: Jt808Header = { msgId: 0x0200, version: 2013, protocolVersion: 0, phone: '000000000000', serial: 0, encryption: 0 }
    const b = decodeBody(h, hex('000004000000080007203b7e02633df7013800030063241001235959'))
    expect(b).toEqual({
      ok: true,
      value: { type: 'location', alarm: 1024, status: 2048, latE6: 119552894, lonE6: 40058359, altitudeM: 312, speed01: 3, courseDeg: 99, time: beijingToUtcMs(2024, 10, 1, 23, 59, 59), items: [] },
    })
    const m = decoded(cases[4][1])
    expect(m.header).toMatchObject({ version: 2019, protocolVersion: 1, phone: '00000000017299841738', serial: 0xffff })
    expect(m.body.type === 'location' && m.body.items.map((i) => i.id)).toEqual([0x01, 0x02, 0x03, 0x04, 0x05, 0x11, 0x12, 0x13, 0x25, 0x2a, 0x2b, 0x30, 0x31])
    // Not positioned (status 0x800): no coordinates, so the longitude-sized latitude is not an error here.
    const p = m.body.type === 'location' ? locationPoint(m.body, 0) : undefined
    expect(p?.ok && p.value.fields).toMatchObject({ fix_quality: 0, alarm_flags: 1024, mileage_km: 1.1, fuel_l: 2.2, recorder_speed_kmh: 3.3, signal_strength: 30, satellites_used: 40 })
    expect(p?.ok && 'lat' in p.value.fields).toBe(false)
  })
})

describe('JT/T 808 refusals', () => {
  it('bad check code', () => {
    const r = decodePacket(hex('7E 00 02 00 00 01 23 45 67 89 00 00 0A 82 7E'))
    expect(r).toMatchObject({ ok: false, reason: 'bad_check' })
  })
  it('bad escape', () => {
    expect(decodePacket(hex('7E 00 02 00 00 01 23 45 67 89 00 00 0A 7D 03 7E'))).toMatchObject({ ok: false, reason: 'bad_escape' })
  })
  it('length attribute that does not match the body', () => {
    const f = encodeJt808({ header: { msgId: 2, version: 2013, protocolVersion: 0, phone: '013800000000', serial: 1, encryption: 0 }, body: { type: 'heartbeat' } })
    // Claim a 1-byte body: the check is recomputed so only the length is wrong.
    const plain = Buffer.from(f.subarray(1, f.length - 2))
    plain[3] = 1
    const x = plain.reduce((a, b) => a ^ b, 0)
    expect(decodePacket(Buffer.concat([plain, Buffer.from([x])]))).toMatchObject({ ok: false, reason: 'bad_length' })
  })
  it('latitude over 90 is refused as out_of_range', () => {
    const l: Jt808Location = { alarm: 0, status: 2, latE6: 132_000_000, lonE6: 22_000_000, altitudeM: 0, speed01: 0, courseDeg: 0, time: null, items: [] }
    expect(locationPoint(l, 0)).toMatchObject({ ok: false, reason: 'out_of_range' })
  })
  it('south and west bits give negative coordinates; BDS bit the system tag', () => {
    const l: Jt808Location = { alarm: 0, status: 2 | 4 | 8 | (1 << 19), latE6: 33_000_000, lonE6: 70_500_000, altitudeM: 0, speed01: 0, courseDeg: 0, time: 1_700_000_000_000, items: [] }
    const p = locationPoint(l, 0)
    expect(p.ok && p.value.fields['lat']).toBe(-33)
    expect(p.ok && p.value.fields['lon']).toBe(-70.5)
    expect(p.ok && p.value.tags['system']).toBe('BDS')
    expect(gnssSystem((1 << 18) | (1 << 19))).toBe('GNSS')
    expect(gnssSystem(1 << 20)).toBe('GLONASS')
    expect(gnssSystem(1 << 21)).toBe('GALILEO')
    expect(gnssSystem(1 << 18)).toBe('GPS')
  })
  it('alarm transitions: raised and cleared', () => {
    const base: Jt808Location = { alarm: 0b10, status: 0, latE6: 0, lonE6: 0, altitudeM: 0, speed01: 0, courseDeg: 0, time: 5, items: [] }
    const pts = alarmPoints(0b1, base, 0)
    expect(pts.map((p) => [p.tags['rule'], p.fields['active']])).toEqual([
      ['jt808_emergency', false],
      ['jt808_overspeed', true],
    ])
    expect(alarmPoints(0b10, base, 0)).toEqual([])
  })
})

describe('JT/T 808 framer', () => {
  const frames = [
    '7E 00 02 00 00 01 23 45 67 89 00 00 0A 81 7E',
    '7E 02 00 00 26 12 34 56 78 90 12 00 7D 02 00 00 00 01 00 00 00 02 00 BA 7F 0E 07 E4 F1 1C 00 28 00 3C 00 00 18 10 15 10 10 10 01 04 00 00 00 64 02 02 00 7D 01 13 7E',
  ].map(hex)
  const stream = Buffer.concat([Buffer.from('junk'), frames[0]!, frames[1]!, frames[0]!])

  it('splits concatenated frames and reports garbage', () => {
    const ev = createJt808Framer().push(stream)
    expect(ev.map((e) => (e.ok ? 'frame' : e.reason))).toEqual(['garbage', 'frame', 'frame', 'frame'])
    expect(ev[2]!.ok && decodeJt808(ev[2]!.frame).ok).toBe(true)
  })

  it('gives the same frames whatever the read boundaries', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 8 }), (cuts) => {
        const f = createJt808Framer()
        const points = [...new Set(cuts)].sort((a, b) => a - b)
        const out: string[] = []
        let prev = 0
        for (const c of [...points, stream.length]) {
          for (const e of f.push(stream.subarray(prev, c))) if (e.ok) out.push(e.raw.toString('hex'))
          prev = c
        }
        expect(out).toEqual([frames[0]!, frames[1]!, frames[0]!].map((b) => b.toString('hex')))
      }),
    )
  })

  it('refuses an oversized frame and recovers on the next one', () => {
    const big = Buffer.concat([Buffer.from([0x7e]), Buffer.alloc(3000, 0x11), Buffer.from([0x7e])])
    const f = createJt808Framer({ maxFrameBytes: 1024 })
    const ev = [...f.push(big.subarray(0, 1500)), ...f.push(big.subarray(1500)), ...f.push(frames[0]!)]
    expect(ev.map((e) => (e.ok ? 'frame' : e.reason))).toEqual(['frame_too_long', 'frame'])
  })
})

describe('JT/T 808 subpackages', () => {
  it('joins parts in any order into the whole message', () => {
    const header: Jt808Header = { msgId: 0x0704, version: 2013, protocolVersion: 0, phone: '013912345678', serial: 65534, encryption: 0 }
    const loc: Jt808Location = { alarm: 0, status: 2, latE6: 34_200_000, lonE6: 108_900_000, altitudeM: 400, speed01: 300, courseDeg: 90, time: 1_700_000_000_000, items: [{ id: 1, value: 5 }] }
    const body: Jt808Body = { type: 'location_batch', batchType: 1, locations: Array.from({ length: 30 }, () => loc) }
    const bytes = encodeBody(header, body)
    expect(bytes.length).toBeGreaterThan(1023)
    const parts = encodeSubpackages(header, bytes, 200)
    expect(parts.length).toBe(Math.ceil(bytes.length / 200))
    const r = createJt808Reassembler()
    const order = parts.map((_, i) => i).reverse()
    let done: ReturnType<typeof r.add> = { done: false }
    for (const i of order) {
      const p = decodePacket(parts[i]!)
      expect(p.ok).toBe(true)
      if (p.ok) done = r.add(p.value, 0)
    }
    expect(done.done).toBe(true)
    if (!done.done) return
    expect(done.packet.header).toEqual(header)
    expect(decodeBody(done.packet.header, done.packet.body)).toEqual({ ok: true, value: body })
    expect(r.pending()).toBe(0)
  })
})

// ---------------------------------------------------------------- property tests

const u16 = fc.integer({ min: 0, max: 0xffff })
const u32 = fc.integer({ min: 0, max: 0xffffffff })
const gbkText = (max: number) => fc.string({ unit: fc.constantFrom(...'ABCXYZ0123456789粤陕京沪川甲乙-'), maxLength: max }).filter((s) => Buffer.byteLength(s, 'latin1') <= max)
const ascii = (max: number) => fc.string({ unit: fc.constantFrom(...'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789'), maxLength: max })

const itemArb = fc.oneof(
  fc.record({ id: fc.constantFrom(0x01, 0x25, 0x2b), value: u32 }),
  fc.record({ id: fc.constantFrom(0x02, 0x03, 0x04, 0x2a), value: u16 }),
  fc.record({ id: fc.constantFrom(0x30, 0x31), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ id: fc.constantFrom(0x11, 0x12, 0xe1, 0xfe), hex: fc.uint8Array({ maxLength: 12 }).map((a) => Buffer.from(a).toString('hex')) }),
)
const timeArb = fc.oneof(fc.constant(null), fc.integer({ min: Date.UTC(2000, 0, 2), max: Date.UTC(2099, 11, 30) }).map((t) => Math.floor(t / 1000) * 1000))
const locationArb: fc.Arbitrary<Jt808Location> = fc.record({
  alarm: u32,
  status: u32,
  latE6: u32,
  lonE6: u32,
  altitudeM: u16,
  speed01: u16,
  courseDeg: u16,
  time: timeArb,
  items: fc.array(itemArb, { maxLength: 5 }),
})

function headerArb(msgId: number): fc.Arbitrary<Jt808Header> {
  return fc.oneof(
    fc.record({ msgId: fc.constant(msgId), version: fc.constant(2013 as const), protocolVersion: fc.constant(0), phone: fc.stringMatching(/^\d{12}$/), serial: u16, encryption: fc.constant(0) }),
    fc.record({ msgId: fc.constant(msgId), version: fc.constant(2019 as const), protocolVersion: fc.integer({ min: 0, max: 255 }), phone: fc.stringMatching(/^\d{20}$/), serial: u16, encryption: fc.constant(0) }),
  )
}

const messageArb: fc.Arbitrary<Jt808Message> = fc.oneof(
  fc.tuple(headerArb(0x0001), fc.record({ type: fc.constant('terminal_response' as const), ackSerial: u16, ackMsgId: u16, result: fc.integer({ min: 0, max: 255 }) })),
  fc.tuple(headerArb(0x8001), fc.record({ type: fc.constant('platform_response' as const), ackSerial: u16, ackMsgId: u16, result: fc.integer({ min: 0, max: 255 }) })),
  fc.tuple(headerArb(0x0002), fc.constant({ type: 'heartbeat' as const })),
  fc.tuple(headerArb(0x8100), fc.record({ type: fc.constant('register_response' as const), ackSerial: u16, result: fc.integer({ min: 0, max: 255 }), authCode: ascii(40).filter((s) => s.length > 0) }, { requiredKeys: ['type', 'ackSerial', 'result'] })),
  fc.tuple(headerArb(0x0200), locationArb.map((l) => ({ type: 'location' as const, ...l }))),
  fc.tuple(headerArb(0x0704), fc.record({ type: fc.constant('location_batch' as const), batchType: fc.integer({ min: 0, max: 1 }), locations: fc.array(locationArb, { maxLength: 4 }) })),
  fc.tuple(headerArb(0x0900), fc.record({ type: fc.constant('unknown' as const), hex: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a).toString('hex')) })),
).map(([header, body]) => ({ header, body }) as Jt808Message)

const registerArb: fc.Arbitrary<Jt808Message> = headerArb(0x0100).chain((header) => {
  const v19 = header.version === 2019
  return fc
    .record({
      type: fc.constant('register' as const),
      province: u16,
      city: u16,
      makerId: ascii(v19 ? 11 : 5),
      model: ascii(v19 ? 30 : 20),
      terminalId: ascii(v19 ? 30 : 7),
      plateColor: fc.integer({ min: 0, max: 255 }),
      plate: gbkText(12),
    })
    .map((body) => ({ header, body }))
})

// The 2011 layout is recognised by a body shorter than the 2013 fixed part: plates of at most 11 bytes.
const register2011Arb: fc.Arbitrary<Jt808Message> = headerArb(0x0100)
  .filter((h) => h.version === 2013)
  .chain((header) =>
    fc
      .record({
        type: fc.constant('register' as const),
        province: u16,
        city: u16,
        makerId: ascii(5),
        model: ascii(8),
        terminalId: ascii(7),
        plateColor: fc.integer({ min: 0, max: 255 }),
        plate: ascii(11),
        layout2011: fc.constant(true as const),
      })
      .map((body) => ({ header, body })),
  )

const authArb: fc.Arbitrary<Jt808Message> = headerArb(0x0102).chain((header) =>
  header.version === 2019
    ? fc.record({ type: fc.constant('auth' as const), authCode: ascii(30), imei: ascii(15), softwareVersion: ascii(20) }).map((body) => ({ header, body }))
    : fc.record({ type: fc.constant('auth' as const), authCode: ascii(30) }).map((body) => ({ header, body })),
)

describe('JT/T 808 property tests', () => {
  it('decode(encode(x)) equals x for every message type we encode', () => {
    fc.assert(
      fc.property(fc.oneof(messageArb, registerArb, register2011Arb, authArb), (m) => {
        expect(decodeJt808(encodeJt808(m))).toEqual({ ok: true, value: m })
      }),
      { numRuns: 500 },
    )
  })

  it('no input makes the framer or decoder throw', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 80 }), { maxLength: 6 }), (chunks) => {
        const f = createJt808Framer({ maxFrameBytes: 64 })
        for (const c of chunks) {
          for (const e of f.push(Buffer.from(c))) if (e.ok) decodeJt808(e.frame)
          decodeJt808(c)
        }
      }),
      { numRuns: 1000 },
    )
  })

  it('no corruption of a valid frame makes the decoder throw', () => {
    fc.assert(
      fc.property(messageArb, fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 255 }), (m, at, v) => {
        const f = Buffer.from(encodeJt808(m))
        f[at % f.length] = v
        const r = decodeJt808(f)
        if (r.ok) {
          const pts = locationPoint
          for (const l of r.value.body.type === 'location' ? [r.value.body] : []) pts(l, 0)
        }
      }),
      { numRuns: 1000 },
    )
  })
})
