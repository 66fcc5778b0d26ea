import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { codecLineDecoder } from '../../../../devices/common/codec-lines.ts'
import { modbusRtuCodec } from '../../../../devices/common/modbus/codec.ts'
import { deviceKind, deviceKinds } from '../../../../devices/index.ts'

const ctx = { receivedAt: 0 }
// One session, as `smartcity decode` uses for one capture file (the generic runner over the codec, one codec
// state per file): a response is read after its request.
const session = codecLineDecoder(modbusRtuCodec, deviceKind).session!()
const decode = (line: string) => session(line, ctx)

describe('decode modbus-rtu', () => {
  it('is offered by the CLI', () => {
    expect(deviceKinds.some((k) => k.codecs?.some((c) => c.format === 'modbus-rtu'))).toBe(true)
  })

  it('decodes the SDM630 voltage response and shows the float in every order', () => {
    const r = decode('01 04 04 43 66 33 34 1B 38')
    expect(r.ok).toBe(true)
    if (!r.ok) return
    const f = r.frame as { unit: number; direction: string; registers: number[]; pairs: { float32: Record<string, number>; uint32: Record<string, number> }[] }
    expect(f).toMatchObject({ unit: 1, direction: 'response', function: 4, registers: [0x4366, 0x3334] })
    expect(f.pairs[0]!.float32['ABCD']).toBeCloseTo(230.2, 4)
    expect(f.pairs[0]!.uint32['CDAB']).toBe(0x33344366)
    expect(Object.keys(f.pairs[0]!.float32)).toEqual(['ABCD', 'CDAB', 'BADC', 'DCBA'])
    expect(JSON.parse(JSON.stringify(r))).toMatchObject({ ok: true })
  })

  it('decodes a request and an exception', () => {
    expect(decode('01 03 00 00 00 02 C4 0B')).toMatchObject({ ok: true, frame: { direction: 'request', function: 3, address: 0, quantity: 2 } })
    expect(decode('01 83 02 C0 F1')).toMatchObject({ ok: true, frame: { direction: 'response', exception: 2, exception_name: 'illegal_data_address' } })
  })

  it('refuses a bad CRC and non-hex with a reason', () => {
    expect(decode('15 03 00 14 00 01 C6 CB')).toMatchObject({ ok: false, error: expect.stringMatching(/^crc_mismatch/) })
    expect(decode('zz')).toMatchObject({ ok: false, error: expect.stringMatching(/^not_hex/) })
  })

  it('never throws', () => {
    fc.assert(fc.property(fc.string(), (s) => typeof decode(s).ok === 'boolean'))
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), (b) => typeof decode(Buffer.from(b).toString('hex')).ok === 'boolean'))
  })
})

describe('decode modbus-rtu: points from a capture of a built-in profile', () => {
  it('turns an SDM630 request and its answer into an energy_meter point', async () => {
    const { builtinProfile } = await import('../../../../devices/modbus-profiles.ts')
    const { planProfile } = await import('../../../../devices/common/modbus/planner.ts')
    const { encodeRequest, encodeResponse } = await import('../../../../devices/common/modbus/pdu.ts')
    const { encodeRtu } = await import('../../../../devices/common/modbus/rtu.ts')
    const { encodeValue } = await import('../../../../devices/common/modbus/registers.ts')
    const sdm = builtinProfile('eastron-sdm630')!
    const read = planProfile(sdm)[0]!
    const regs = Array.from({ length: read.quantity }, () => 0)
    const put = (addr: number, v: number) => {
      const e = encodeValue(v, { type: 'float32' })
      if (e.ok) regs.splice(addr, 2, ...e.registers)
    }
    put(0x00, 230.5)
    put(0x34, 1500)
    put(0x46, 50)
    const hex = (b: Buffer) => b.toString('hex')
    const req = decode(hex(encodeRtu(7, encodeRequest({ fc: 4, address: read.address, quantity: read.quantity }))))
    expect(req).toMatchObject({ ok: true, points: [] })
    const res = decode(hex(encodeRtu(7, encodeResponse({ fc: 4, registers: regs }))))
    expect(res).toMatchObject({ ok: true, frame: { profile: 'eastron-sdm630' } })
    if (!res.ok) return
    expect(res.points).toHaveLength(1)
    expect(res.points[0]).toMatchObject({ measurement: 'energy_meter', tags: { device: 'unit-7', protocol: 'modbus-rtu' }, fields: { voltage_a_v: 230.5, active_power_kw: 1.5, frequency_hz: 50 } })
    // Without the request just before, registers only.
    expect(decode(hex(encodeRtu(7, encodeResponse({ fc: 4, registers: regs }))))).toMatchObject({ ok: true, points: [] })
  })
})

describe('decode modbus-rtu: the gateway answer for a reading its schema refuses', () => {
  // Before issue 11 decode dropped such a reading silently (no points, exit 0) while the gateway dead-lettered
  // it; now both run the same normalize step, so decode shows the refusal with the gateway's reason.
  it('reports the refused reading with its catalogued reason', async () => {
    const { builtinProfile } = await import('../../../../devices/modbus-profiles.ts')
    const { planProfile } = await import('../../../../devices/common/modbus/planner.ts')
    const { encodeRequest, encodeResponse } = await import('../../../../devices/common/modbus/pdu.ts')
    const { encodeRtu } = await import('../../../../devices/common/modbus/rtu.ts')
    const { REASONS } = await import('../../../../devices/common/reasons.ts')
    const read = planProfile(builtinProfile('eastron-sdm630')!)[0]!
    const own = codecLineDecoder(modbusRtuCodec, deviceKind).session!()
    const hex = (b: Buffer) => b.toString('hex')
    own(hex(encodeRtu(3, encodeRequest({ fc: 4, address: read.address, quantity: read.quantity }))), ctx)
    // Every register 0: frequency_hz 0 is outside the energy-meter schema's 40..70 Hz.
    const res = own(hex(encodeRtu(3, encodeResponse({ fc: 4, registers: Array.from({ length: read.quantity }, () => 0) }))), ctx)
    expect(res).toMatchObject({ ok: true, points: [], refused: [{ index: 0, detail: expect.stringContaining('frequency_hz') }] })
    if (!res.ok) return
    expect(Object.keys(REASONS)).toContain(res.refused![0]!.reason)
  })
})
