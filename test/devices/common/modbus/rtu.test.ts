import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseHex } from '../../../../devices/common/hex.ts'
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse, type Request } from '../../../../devices/common/modbus/pdu.ts'
import { createMbapFramer, encodeMbap } from '../../../../devices/common/modbus/mbap.ts'
import { createRtuFramer, decodeRtu, encodeRtu } from '../../../../devices/common/modbus/rtu.ts'

const h = (s: string) => parseHex(s)!

describe('RTU frames from public sources (docs/protocols.md section 7)', () => {
  it('Eastron SDM630 voltage response 01 04 04 43 66 33 34 1B 38', () => {
    const f = decodeRtu(h('01 04 04 43 66 33 34 1B 38'))
    expect(f.ok).toBe(true)
    if (!f.ok) return
    expect(f.value.unit).toBe(1)
    expect(decodeResponse(f.value.pdu)).toEqual({ ok: true, value: { fc: 4, registers: [0x4366, 0x3334] } })
  })
  it('Dragino DO probe response 14 03 02 03 78 B5 55 (888 = 8.88 mg/L)', () => {
    const f = decodeRtu(h('14 03 02 03 78 B5 55'))
    expect(f.ok && decodeResponse(f.value.pdu)).toEqual({ ok: true, value: { fc: 3, registers: [888] } })
  })
  it('Acrel read request 01 03 00 00 00 02 C4 0B and encodeRtu gives the same bytes', () => {
    const f = decodeRtu(h('01 03 00 00 00 02 C4 0B'))
    expect(f.ok && decodeRequest(f.value.pdu)).toEqual({ ok: true, value: { fc: 3, address: 0, quantity: 2 } })
    expect(encodeRtu(1, encodeRequest({ fc: 3, address: 0, quantity: 2 }))).toEqual(h('01 03 00 00 00 02 C4 0B'))
  })
  it('refuses the wrong CRC the Dragino wiki prints for the turbidity query, accepts the corrected one', () => {
    expect(decodeRtu(h('15 03 00 14 00 01 C6 CB'))).toMatchObject({ ok: false, reason: 'crc_mismatch' })
    expect(decodeRtu(h('15 03 00 14 00 01 C7 1A')).ok).toBe(true)
  })
})

const req: fc.Arbitrary<Request> = fc.oneof(
  fc.record({ fc: fc.constantFrom(1 as const, 2 as const), address: fc.nat(0xffff), quantity: fc.integer({ min: 1, max: 2000 }) }),
  fc.record({ fc: fc.constantFrom(3 as const, 4 as const), address: fc.nat(0xffff), quantity: fc.integer({ min: 1, max: 125 }) }),
  fc.record({ fc: fc.constant(5 as const), address: fc.nat(0xffff), value: fc.boolean() }),
  fc.record({ fc: fc.constant(6 as const), address: fc.nat(0xffff), value: fc.nat(0xffff) }),
  fc.record({ fc: fc.constant(15 as const), address: fc.nat(0xffff), values: fc.array(fc.boolean(), { minLength: 1, maxLength: 100 }) }),
  fc.record({ fc: fc.constant(16 as const), address: fc.nat(0xffff), values: fc.array(fc.nat(0xffff), { minLength: 1, maxLength: 123 }) }),
)

describe('PDU codecs', () => {
  it('decodeRequest(encodeRequest(r)) == r for every function', () => {
    fc.assert(fc.property(req, (r) => JSON.stringify(decodeRequest(encodeRequest(r))) === JSON.stringify({ ok: true, value: r })))
  })
  it('decodeResponse(encodeResponse(r)) == r, exceptions included', () => {
    const regs = { fc: 3 as const, registers: [1, 0xffff, 0] }
    expect(decodeResponse(encodeResponse(regs))).toEqual({ ok: true, value: regs })
    const bits = { fc: 1 as const, bits: [true, false, true] }
    expect(decodeResponse(encodeResponse(bits), 3)).toEqual({ ok: true, value: bits })
    expect(decodeResponse(Buffer.from([0x83, 0x02]))).toEqual({ ok: true, value: { fc: 3, exception: 2, name: 'illegal_data_address' } })
    const w = { fc: 16 as const, address: 7, quantity: 2 }
    expect(decodeResponse(encodeResponse(w))).toEqual({ ok: true, value: w })
  })
  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 260 }), (b) => {
        decodeRequest(b)
        decodeResponse(b)
        decodeRtu(b)
        createRtuFramer('response').push(Buffer.from(b))
        createRtuFramer('request').push(Buffer.from(b))
        createMbapFramer().push(Buffer.from(b))
      }),
    )
  })
})

describe('RTU framer', () => {
  it('cuts split and concatenated frames, reports garbage and bad CRCs', () => {
    const a = encodeRtu(1, encodeResponse({ fc: 3, registers: [1, 2] }))
    const b = encodeRtu(2, encodeResponse({ fc: 4, exception: 2, name: '' }))
    const bad = Buffer.from(encodeRtu(3, encodeResponse({ fc: 3, registers: [9] })))
    bad[bad.length - 1]! ^= 0xff
    const stream = Buffer.concat([Buffer.from([0x00, 0x99]), a, bad, b])
    const f = createRtuFramer('response', { accept: (unit) => unit >= 1 && unit <= 3 })
    const events = [...f.push(stream.subarray(0, 5)), ...f.push(stream.subarray(5))]
    expect(events.map((e) => (e.ok ? `unit${e.frame.unit}` : e.reason))).toEqual(['garbage', 'unit1', 'crc_mismatch', 'unit2'])
  })
  it('frames requests, FC16 by its byte count', () => {
    const a = encodeRtu(5, encodeRequest({ fc: 16, address: 3, values: [1, 2, 3] }))
    const events = createRtuFramer('request').push(Buffer.concat([a, a]))
    expect(events.filter((e) => e.ok)).toHaveLength(2)
  })
})

describe('MBAP framer', () => {
  it('frames by the length field and refuses a broken header', () => {
    const a = encodeMbap(7, 1, encodeRequest({ fc: 3, address: 0, quantity: 2 }))
    const f = createMbapFramer()
    const ev = [...f.push(Buffer.concat([a, a.subarray(0, 3)])), ...f.push(a.subarray(3))]
    expect(ev).toHaveLength(2)
    expect(ev[0]).toMatchObject({ ok: true, frame: { transaction: 7, unit: 1 } })
    expect(createMbapFramer().push(Buffer.from([0, 1, 0, 5, 0, 6, 1, 3, 0, 0, 0, 1]))[0]).toMatchObject({ ok: false, reason: 'bad_mbap_header' })
  })
})
