import { describe, expect, it } from 'vitest'
import { type Dlt645Message, decodeDataValue, decodeMessage, encodeMessage } from '../../../devices/energy-meter/dlt645/index.ts'
import { createMeterBus } from '../../../simulators/dlt645/bus.ts'

const T0 = Date.UTC(2026, 10, 22, 2, 0, 0)

function ask(bus: ReturnType<typeof createMeterBus>, m: Dlt645Message, now: number): Dlt645Message[] {
  return bus.receive(encodeMessage(m, 4), now).map((b) => {
    const r = decodeMessage(b)
    if (!r.ok) throw new Error(r.reason)
    return r.value.message
  })
}

describe('DL/T 645 meter-bus simulator', () => {
  it('answers only its own address; energy rises with the load over time', () => {
    const bus = createMeterBus({ meters: [{ address: '000000000161', baseLoadKw: 36, importKwh: 100 }, { address: '000000000162' }], startMs: T0 })
    expect(ask(bus, { kind: 'read_request', version: '2007', address: '000000009999', di: 0x00010000 }, T0)).toEqual([])
    const read = (now: number) => {
      const [r] = ask(bus, { kind: 'read_request', version: '2007', address: '000000000161', di: 0x00010000 }, now)
      if (r?.kind !== 'read_reply') throw new Error('no reply')
      const v = decodeDataValue('2007', r.di, r.data)
      return v.ok ? v.value.fields.import_energy_kwh! : Number.NaN
    }
    const e0 = read(T0)
    const e1 = read(T0 + 3_600_000) // one hour at about 36 kW
    expect(e1 - e0).toBeGreaterThan(20)
    expect(e1 - e0).toBeLessThan(60)
  })

  it('speaks 1997 to 1997 meters (9010, integer volts B611)', () => {
    const bus = createMeterBus({ meters: [{ address: '000000000197', version: '1997' }], startMs: T0 })
    const [r] = ask(bus, { kind: 'read_request', version: '1997', address: '000000000197', di: 0xb611 }, T0)
    expect(r?.kind).toBe('read_reply')
    if (r?.kind !== 'read_reply') return
    expect(r.version).toBe('1997')
    const v = decodeDataValue('1997', 0xb611, r.data)
    expect(v.ok && Number.isInteger(v.value.fields.voltage_a_v)).toBe(true)
    // a 2007 request to a 1997 meter gets no answer
    expect(ask(bus, { kind: 'read_request', version: '2007', address: '000000000197', di: 0x00010000 }, T0)).toEqual([])
  })

  it('unknown DIs get "no requested data"; error meters always answer abnormally; silent meters never', () => {
    const bus = createMeterBus({ meters: [{ address: '000000000001' }, { address: '000000000002', behaviour: 'error', errorWord: 0x04 }, { address: '000000000003', behaviour: 'silent' }], startMs: T0 })
    expect(ask(bus, { kind: 'read_request', version: '2007', address: '000000000001', di: 0x12345678 }, T0)).toEqual([{ kind: 'error_reply', version: '2007', address: '000000000001', errorWord: 2 }])
    expect(ask(bus, { kind: 'read_request', version: '2007', address: '000000000002', di: 0x00010000 }, T0)).toEqual([{ kind: 'error_reply', version: '2007', address: '000000000002', errorWord: 4 }])
    expect(ask(bus, { kind: 'read_request', version: '2007', address: '000000000003', di: 0x00010000 }, T0)).toEqual([])
    expect(ask(bus, { kind: 'read_address_request', address: 'AAAAAAAAAAAA' }, T0)).toEqual([{ kind: 'read_address_reply', address: '000000000001' }])
  })

  it('broadcast time sets the meter clock (read back with 04000102)', () => {
    const bus = createMeterBus({ meters: [{ address: '000000000001' }], startMs: T0 })
    // the master says it is 12:34:56 Beijing time
    expect(ask(bus, { kind: 'broadcast_time', address: '999999999999', time: { year: 2026, month: 11, day: 22, hour: 12, minute: 34, second: 56 } }, T0)).toEqual([])
    const [r] = ask(bus, { kind: 'read_request', version: '2007', address: '000000000001', di: 0x04000102 }, T0 + 4000)
    if (r?.kind !== 'read_reply') throw new Error('no reply')
    expect(decodeDataValue('2007', 0x04000102, r.data)).toMatchObject({ ok: true, value: { values: { time: '12:35:00' } } })
  })

  it('freezes the registers at Beijing midnight (05060001 / 05060101), answers its counters and its own raw DIs', () => {
    // T0 is 10:00 Beijing time; the meter is first read then, and again the next day at 09:00
    const bus = createMeterBus({ meters: [{ address: '000000000001', baseLoadKw: 10, importKwh: 500, counts: { trip: 2 }, rawData: { '04000401': '010000000000' } }], startMs: T0 })
    const read = (di: number, now: number) => {
      const [r] = ask(bus, { kind: 'read_request', version: '2007', address: '000000000001', di }, now)
      if (r?.kind !== 'read_reply') throw new Error('no reply')
      return decodeDataValue('2007', di, r.data)
    }
    expect(read(0x05060001, T0)).toMatchObject({ ok: true, value: { values: { daily_freeze_time: '2026-11-22 00:00' } } })
    expect(read(0x05060101, T0)).toMatchObject({ ok: true, value: { values: { daily_frozen_import_energy_kwh: 500 } } })
    const next = T0 + 23 * 3_600_000
    expect(read(0x05060001, next)).toMatchObject({ ok: true, value: { values: { daily_freeze_time: '2026-11-23 00:00' } } })
    const frozen = read(0x05060101, next)
    const now = read(0x00010000, next)
    if (!frozen.ok || !now.ok) throw new Error('no value')
    expect(frozen.value.values['daily_frozen_import_energy_kwh']).toBeGreaterThan(500)
    expect(frozen.value.values['daily_frozen_import_energy_kwh']).toBeLessThanOrEqual(now.value.fields.import_energy_kwh!)
    expect(read(0x1d000001, T0)).toMatchObject({ ok: true, value: { fields: { trip_count: 2 } } })
    expect(read(0x04000401, T0)).toMatchObject({ ok: true, value: { known: false, raw: '010000000000' } })
  })
})
