import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseHex } from '../../../devices/common/hex.ts'
import {
  createDlt645Framer,
  DI_1997,
  DI_2007,
  type Dlt645Message,
  decodeDataValue,
  decodeFrame,
  decodeMessage,
  decodeValue,
  encodeDataValue,
  encodeFrame,
  encodeMessage,
  encodeValue,
  errorReason,
  interpretFrame,
  dlt645Codec,
} from '../../../devices/energy-meter/dlt645/index.ts'
import { codecLineDecoder } from '../../../devices/common/codec-lines.ts'
import { deviceKind } from '../../../devices/index.ts'

const hex = (s: string) => parseHex(s)!

// Real frames from the public worked examples quoted in docs/protocols.md section 2
// (hwhale.com/article/138066, a repost of the wenku "DLT645-2007 常见报文解析").
const GOLDEN = {
  readImportRequest: 'FE FE FE FE 68 61 01 00 00 00 00 68 11 04 33 33 34 33 14 16',
  importReply: '68 61 01 00 00 00 00 68 91 08 33 33 34 33 59 33 33 33 8A 16',
  exportReply: '68 61 01 00 00 00 00 68 91 08 33 33 35 33 59 34 33 33 8C 16',
  voltageRequest: '68 61 01 00 00 00 00 68 11 04 33 34 34 35 17 16',
  voltageReply: '68 61 01 00 00 00 00 68 91 06 33 34 34 35 34 43 10 16',
  // meter 000000000001, A-phase voltage (a snippet quoting the same document family). Its prose says
  // "CB 55 - 33H = 99 22" but 0xCB - 0x33 = 0x98: the value is 229.8 V (the frame's CS 58 is right).
  voltageReply2: '68 01 00 00 00 00 00 68 91 06 33 34 34 35 CB 55 58 16',
} as const

describe('DL/T 645 golden frames (public worked examples)', () => {
  it('decodes a read request with the FE preamble: meter 000000000161, DI 00010000', () => {
    const r = decodeMessage(hex(GOLDEN.readImportRequest))
    expect(r).toEqual({
      ok: true,
      value: { frame: { address: '000000000161', control: 0x11, data: Buffer.from([0, 0, 1, 0]) }, message: { kind: 'read_request', version: '2007', address: '000000000161', di: 0x00010000 } },
    })
    // and encodes back to the very same bytes
    expect(encodeMessage({ kind: 'read_request', version: '2007', address: '000000000161', di: 0x00010000 }, 4)).toEqual(hex(GOLDEN.readImportRequest))
  })

  it.each([
    ['importReply', 0x00010000, { import_energy_kwh: 0.26 }],
    ['exportReply', 0x00020000, { export_energy_kwh: 1.26 }],
    ['voltageReply', 0x02010100, { voltage_a_v: 100.1 }],
    ['voltageReply2', 0x02010100, { voltage_a_v: 229.8 }],
  ] as const)('%s -> DI %s -> %o', (name, di, fields) => {
    const r = decodeMessage(hex(GOLDEN[name]))
    expect(r.ok).toBe(true)
    if (!r.ok || r.value.message.kind !== 'read_reply') throw new Error('not a read reply')
    expect(r.value.message.di).toBe(di)
    const v = decodeDataValue('2007', di, r.value.message.data)
    expect(v.ok && v.value.fields).toEqual(fields)
    // re-encoding the message gives the golden bytes
    expect(encodeMessage(r.value.message, 0)).toEqual(hex(GOLDEN[name]))
  })

  it('voltage request encodes to the published bytes', () => {
    expect(encodeMessage({ kind: 'read_request', version: '2007', address: '000000000161', di: 0x02010100 }, 0)).toEqual(hex(GOLDEN.voltageRequest))
  })

  it('abnormal reply 0xD1 with error word 35 (-0x33 = 0x02) is "no requested data"', () => {
    const bytes = encodeFrame({ address: '000000000161', control: 0xd1, data: Buffer.from([0x02]) })
    expect(bytes.subarray(8, 11)).toEqual(Buffer.from([0xd1, 0x01, 0x35]))
    const r = decodeMessage(bytes)
    expect(r.ok && r.value.message).toEqual({ kind: 'error_reply', version: '2007', address: '000000000161', errorWord: 2 })
    expect(errorReason(2)).toBe('meter_error_no_data')
    // 1997 abnormal reply C1
    const r97 = decodeMessage(encodeFrame({ address: '000000000161', control: 0xc1, data: Buffer.from([0x04]) }))
    expect(r97.ok && r97.value.message).toEqual({ kind: 'error_reply', version: '1997', address: '000000000161', errorWord: 4 })
  })

  it('address read 0x13 with the AA wildcard, and the 0x93 reply carrying the real address', () => {
    const req = encodeMessage({ kind: 'read_address_request', address: 'AAAAAAAAAAAA' }, 0)
    expect(req).toEqual(hex('68 AA AA AA AA AA AA 68 13 00 DF 16'))
    const reply = encodeMessage({ kind: 'read_address_reply', address: '000000000161' }, 0)
    const r = decodeMessage(reply)
    expect(r.ok && r.value.message).toEqual({ kind: 'read_address_reply', address: '000000000161' })
  })

  it('broadcast time 0x08 to 999999999999: ss mm hh DD MM YY', () => {
    const m: Dlt645Message = { kind: 'broadcast_time', address: '999999999999', time: { year: 2026, month: 11, day: 22, hour: 10, minute: 30, second: 5 } }
    const b = encodeMessage(m, 0)
    expect(decodeFrame(b).ok && (decodeFrame(b) as { value: { data: Buffer } }).value.data).toEqual(Buffer.from([0x05, 0x30, 0x10, 0x22, 0x11, 0x26]))
    expect(decodeMessage(b).ok && (decodeMessage(b) as { value: { message: unknown } }).value.message).toEqual(m)
  })

  it('1997 read of 9010 and integer volts B611', () => {
    const req = encodeMessage({ kind: 'read_request', version: '1997', address: '000000000161', di: 0x9010 }, 0)
    expect(req.subarray(8, 12)).toEqual(Buffer.from([0x01, 0x02, 0x43, 0xc3]))
    const reply = encodeMessage({ kind: 'read_reply', version: '1997', address: '000000000161', di: 0xb611, data: encodeDataValue('1997', 0xb611, { voltage_a_v: 220 })!, more: false }, 0)
    const r = decodeMessage(reply)
    if (!r.ok || r.value.message.kind !== 'read_reply') throw new Error('no reply')
    expect(r.value.message.version).toBe('1997')
    expect(decodeDataValue('1997', 0xb611, r.value.message.data)).toEqual({ ok: true, value: { di: 0xb611, name: 'voltage_a_v', known: true, fields: { voltage_a_v: 220 }, values: { voltage_a_v: 220 } } })
  })

  it('signed formats: current and power with the sign bit, FF FF = phase absent', () => {
    expect(decodeValue(Buffer.from([0x34, 0x12, 0x80]), { bytes: 3, decimals: 3, signed: true })).toEqual({ ok: true, value: -1.234 })
    expect(decodeValue(Buffer.from([0x34, 0x12, 0x00]), { bytes: 3, decimals: 3, signed: true })).toEqual({ ok: true, value: 1.234 })
    expect(decodeValue(Buffer.from([0xff, 0xff]), { bytes: 2, decimals: 1 })).toEqual({ ok: true, value: undefined })
    expect(decodeValue(Buffer.from([0x1a, 0x00]), { bytes: 2, decimals: 1 })).toMatchObject({ ok: false, reason: 'bad_bcd' })
    expect(encodeValue(-0.5, { bytes: 2, decimals: 3, signed: true })).toEqual(Buffer.from([0x00, 0x85]))
    // XX.XXXX kW signed tops out at 79.9999 (the sign bit takes the top nibble's high bit)
    expect(decodeValue(encodeValue(75.5, { bytes: 3, decimals: 4, signed: true }), { bytes: 3, decimals: 4, signed: true })).toEqual({ ok: true, value: 75.5 })
    expect(decodeValue(encodeValue(-500, { bytes: 3, decimals: 4, signed: true }), { bytes: 3, decimals: 4, signed: true })).toEqual({ ok: true, value: -79.9999 })
    const block = decodeDataValue('2007', 0x0201ff00, Buffer.from([0x00, 0x22, 0xff, 0xff, 0x10, 0x22]))
    expect(block.ok && block.value.fields).toEqual({ voltage_a_v: 220, voltage_c_v: 221 })
  })

  it('rejects a bad CS, a wrong length and a missing end byte with clear reasons', () => {
    const good = hex(GOLDEN.importReply)
    const badCs = Buffer.from(good)
    badCs[badCs.length - 2] = badCs[badCs.length - 2]! ^ 1
    expect(decodeFrame(badCs)).toMatchObject({ ok: false, reason: 'bad_checksum' })
    expect(decodeFrame(good.subarray(0, good.length - 1))).toMatchObject({ ok: false, reason: 'bad_length' })
    const noEnd = Buffer.from(good)
    noEnd[noEnd.length - 1] = 0x17
    expect(decodeFrame(noEnd)).toMatchObject({ ok: false, reason: 'no_end' })
  })

  it('the dlt645 line decoder gives one energy_meter point per reply', () => {
    const d = codecLineDecoder(dlt645Codec, deviceKind)
    const r = d.decodeLine(GOLDEN.voltageReply2, { receivedAt: 1_795_000_000_000 })
    expect(r).toMatchObject({ ok: true, points: [{ measurement: 'energy_meter', fields: { voltage_a_v: 229.8 }, time: 1_795_000_000_000 }] })
    expect(d.decodeLine('zz', { receivedAt: 0 })).toMatchObject({ ok: false })
    expect(d.decodeLine(GOLDEN.readImportRequest, { receivedAt: 0 })).toMatchObject({ ok: true, points: [] })
  })
})

describe('DL/T 645 framer', () => {
  const frames = [GOLDEN.readImportRequest, GOLDEN.importReply, GOLDEN.voltageReply].map(hex)
  const stream = Buffer.concat([hex('00 13 37'), frames[0]!, hex('FE FE'), frames[1]!, hex('68 01 02'), frames[2]!])

  it('finds every frame in split, concatenated reads with garbage between them', () => {
    for (const size of [1, 2, 3, 5, 11, 64, stream.length]) {
      const f = createDlt645Framer()
      const ok: Buffer[] = []
      const bad: string[] = []
      for (let i = 0; i < stream.length; i += size) {
        for (const ev of f.push(stream.subarray(i, i + size))) {
          if (ev.ok) ok.push(ev.frame)
          else bad.push(ev.reason)
        }
      }
      expect(ok.map((b) => decodeFrame(b).ok)).toEqual([true, true, true])
      expect(ok[2]).toEqual(frames[2])
      expect(bad.length).toBeGreaterThan(0)
    }
  })

  it('a CS byte equal to 0x16 does not end the frame early', () => {
    // find a DI/value whose CS is 0x16
    let frame: Buffer | undefined
    for (let v = 0; v < 10_000 && !frame; v++) {
      const b = encodeMessage({ kind: 'read_reply', version: '2007', address: '000000000161', di: 0x00010000, data: encodeValue(v / 100, { bytes: 4, decimals: 2 }), more: false }, 0)
      if (b[b.length - 2] === 0x16) frame = b
    }
    expect(frame).toBeDefined()
    const f = createDlt645Framer()
    const evs = [...f.push(frame!.subarray(0, frame!.length - 1)), ...f.push(frame!.subarray(frame!.length - 1))]
    expect(evs).toHaveLength(1)
    expect(evs[0]!.ok).toBe(true)
  })
})

describe('DL/T 645 properties', () => {
  const address = fc.stringMatching(/^[0-9]{12}$/)
  const item2007 = fc.constantFrom(...DI_2007.filter((d) => !d.kind))
  const item1997 = fc.constantFrom(...DI_1997.filter((d) => !d.kind))

  it('decode(encode(message)) == message for every request and reply kind', () => {
    const msg: fc.Arbitrary<Dlt645Message> = fc.oneof(
      fc.record({ kind: fc.constant('read_request' as const), version: fc.constantFrom('2007' as const, '1997' as const), address, di: fc.nat(0xffff) }),
      fc.record({
        kind: fc.constant('read_reply' as const),
        version: fc.constant('2007' as const),
        address,
        di: fc.nat(0xffffffff),
        data: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
        more: fc.boolean(),
      }),
      fc.record({ kind: fc.constant('error_reply' as const), version: fc.constantFrom('2007' as const, '1997' as const), address, errorWord: fc.nat(255) }),
      fc.record({ kind: fc.constant('read_address_reply' as const), address }),
    )
    fc.assert(
      fc.property(msg, fc.nat(4), (m, pre) => {
        const r = decodeMessage(encodeMessage(m, pre))
        expect(r.ok && r.value.message).toEqual(m)
      }),
    )
  })

  it('values round-trip through every 2007 and 1997 data item at their resolution', () => {
    fc.assert(
      fc.property(fc.oneof(item2007.map((i) => ['2007', i] as const), item1997.map((i) => ['1997', i] as const)), fc.array(fc.integer(), { minLength: 5, maxLength: 5 }), ([ver, item], raw) => {
        const values: Record<string, number> = {}
        item.items.forEach((it, k) => {
          const max = it.fmt.signed ? 8 * 10 ** (it.fmt.bytes * 2 - 1) : 10 ** (it.fmt.bytes * 2)
          const n = Math.abs(raw[k]!) % Math.min(max, 2 ** 31)
          values[it.name] = ((it.fmt.signed && raw[k]! < 0 ? -n : n) / 10 ** it.fmt.decimals)
        })
        const bytes = encodeDataValue(ver, item.di, values)!
        const r = decodeDataValue(ver, item.di, bytes)
        expect(r.ok).toBe(true)
        if (!r.ok) return
        for (const it of item.items) expect(r.value.values[it.name]).toBeCloseTo(values[it.name]! === 0 ? 0 : values[it.name]!, 9)
      }),
    )
  })

  it('fuzz: random bytes, truncated and corrupted frames never throw out of the framer or decoders', () => {
    const good = encodeMessage({ kind: 'read_reply', version: '2007', address: '000000000161', di: 0x02020100, data: Buffer.from([0x34, 0x12, 0x80]), more: false }, 4)
    const corrupt = fc.tuple(fc.nat(good.length - 1), fc.nat(255), fc.nat(good.length)).map(([i, b, cut]) => {
      const c = Buffer.from(good)
      c[i] = b
      return c.subarray(0, Math.max(1, cut))
    })
    const input = fc.oneof(fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)), corrupt)
    fc.assert(
      fc.property(fc.array(input, { maxLength: 8 }), (chunks) => {
        const f = createDlt645Framer()
        for (const c of chunks) {
          for (const ev of f.push(c)) {
            if (!ev.ok) continue
            const d = decodeFrame(ev.frame)
            expect(d.ok).toBe(true)
            if (!d.ok) continue
            const m = interpretFrame(d.value)
            if (m.ok && m.value.kind === 'read_reply') decodeDataValue(m.value.version, m.value.di, m.value.data)
          }
          decodeMessage(c)
          codecLineDecoder(dlt645Codec, deviceKind).decodeLine(c.toString('hex'), { receivedAt: 0 })
        }
      }),
      { numRuns: 500 },
    )
  })
})
