import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type DataType,
  decodeRegisters,
  encodeValue,
  interpretations,
  ORDERS,
  type Order,
  registersToBytes,
} from '../../../../devices/common/modbus/registers.ts'

const hex = (regs: number[]) => registersToBytes(regs).toString('hex').toUpperCase()

describe('register codecs', () => {
  it('lays out 0x11223344 in each of the four orders', () => {
    const want: Record<Order, string> = { ABCD: '11223344', CDAB: '33441122', BADC: '22114433', DCBA: '44332211' }
    for (const o of ORDERS) {
      const r = encodeValue(0x11223344, { type: 'uint32', order: o })
      expect(r.ok && hex(r.registers), o).toBe(want[o])
    }
  })

  it('lays out 64-bit values word by word', () => {
    const r = encodeValue(0x0102030405060708n, { type: 'uint64', order: 'CDAB' })
    expect(r.ok && hex(r.registers)).toBe('0708050603040102')
    const s = encodeValue(0x0102030405060708n, { type: 'int64', order: 'BADC' })
    expect(s.ok && hex(s.registers)).toBe('0201040306050807')
  })

  it('decodes the SDM630 voltage of protocols.md (0x43663334 = 230.2 V)', () => {
    expect(decodeRegisters([0x4366, 0x3334], { type: 'float32', order: 'ABCD' })).toBeCloseTo(230.2, 4)
    expect(decodeRegisters([0x3334, 0x4366], { type: 'float32', order: 'CDAB' })).toBeCloseTo(230.2, 4)
  })

  it('decodes signed 16-bit, bits and strings', () => {
    expect(decodeRegisters([0xffce], { type: 'int16' })).toBe(-50)
    expect(decodeRegisters([0xceff], { type: 'int16', order: 'BADC' })).toBe(-50)
    expect(decodeRegisters([0b100], { type: 'bit', bit: 2 })).toBe(true)
    expect(decodeRegisters([0b100], { type: 'bit', bit: 1 })).toBe(false)
    expect(decodeRegisters([0x5344, 0x4d36, 0x3330, 0], { type: 'string', length: 8 })).toBe('SDM630')
    expect(decodeRegisters([0x4453, 0x364d, 0x3033, 0], { type: 'string', length: 8, order: 'BADC' })).toBe('SDM630')
    expect(decodeRegisters([0x1234], { type: 'int32' })).toBeUndefined()
  })

  it('refuses values a type cannot hold', () => {
    expect(encodeValue(70000, { type: 'uint16' })).toMatchObject({ ok: false, reason: 'out_of_range' })
    expect(encodeValue(-1, { type: 'uint32' })).toMatchObject({ ok: false, reason: 'out_of_range' })
    expect(encodeValue(1.5, { type: 'int32' })).toMatchObject({ ok: false, reason: 'not_integer' })
    expect(encodeValue('x', { type: 'int32' })).toMatchObject({ ok: false, reason: 'wrong_type' })
    expect(encodeValue('toolongstring', { type: 'string', length: 4 })).toMatchObject({ ok: false, reason: 'out_of_range' })
  })

  const order = fc.constantFrom(...ORDERS)
  const cases: [DataType, fc.Arbitrary<number | bigint>][] = [
    ['int16', fc.integer({ min: -0x8000, max: 0x7fff })],
    ['uint16', fc.integer({ min: 0, max: 0xffff })],
    ['int32', fc.integer({ min: -0x80000000, max: 0x7fffffff })],
    ['uint32', fc.integer({ min: 0, max: 0xffffffff })],
    ['int64', fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER })],
    ['uint64', fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })],
    ['float32', fc.float({ noNaN: true, noDefaultInfinity: true })],
    ['float64', fc.double({ noNaN: true })],
  ]
  for (const [type, arb] of cases) {
    it(`decode(encode(x)) == x for ${type} in every order`, () => {
      fc.assert(
        fc.property(arb, order, (v, o) => {
          const r = encodeValue(v, { type, order: o })
          if (!r.ok) return false
          const back = decodeRegisters(r.registers, { type, order: o })
          return Object.is(back, Number(v)) || back === Number(v)
        }),
      )
    })
  }

  it('decode(encode(s)) == s for strings and never throws on any registers', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 0, maxLength: 10 }).map((s) => s.replace(/[^\x21-\x7e]/g, 'a')), order, (s, o) => {
        const r = encodeValue(s, { type: 'string', length: 10, order: o })
        return r.ok && decodeRegisters(r.registers, { type: 'string', length: 10, order: o }) === s
      }),
    )
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 6 }), fc.constantFrom('int32', 'float64', 'string', 'bit'), order, (regs, type, o) => {
        decodeRegisters(regs, { type: type as DataType, order: o, length: 5, bit: 3 })
        return true
      }),
    )
  })

  it('shows every pair and quad in all four orders', () => {
    const i = interpretations([0x4366, 0x3334, 0x0000])
    expect(i.pairs).toHaveLength(2)
    expect(i.quads).toHaveLength(0)
    expect(i.pairs[0]!.float32.ABCD).toBeCloseTo(230.2, 4)
    expect(i.pairs[0]!.uint32.CDAB).toBe(0x33344366)
    expect(interpretations([1, 2, 3, 4]).quads[0]!.float64).toHaveProperty('DCBA')
  })
})
