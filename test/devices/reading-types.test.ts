/**
 * The reading types added for issue 11 phase 2 (JT/T 808 locations, NMEA satellites, HJ 212 uploads, ETC
 * transactions and RSU status) accept exactly what today's point builders store: each builder's point, turned
 * back into a reading, normalizes to the very same point (so moving a protocol onto readings changes no data).
 */
import { describe, expect, it } from 'vitest'
import { parseHex } from '../../devices/common/hex.ts'
import type { DeviceKind } from '../../devices/common/kind.ts'
import { normalizeReading } from '../../devices/common/normalize.ts'
import type { Point } from '../../devices/common/point.ts'
import { etc } from '../../devices/etc/index.ts'
import { rsuStatusValue } from '../../devices/etc/rsu/index.ts'
import { position } from '../../devices/position/index.ts'
import { decodeJt808, locationsOf } from '../../devices/position/jt808/index.ts'
import { decodeHj212, hj212Data } from '../../devices/water-quality/hj212/index.ts'
import { waterQuality } from '../../devices/water-quality/index.ts'
import { hj212Point } from '../helpers/hj212.ts'
import { locationPoint } from '../helpers/jt808.ts'

const receivedAt = 1_795_000_000_000

/** A point back to the reading it came from: tags and fields in the value, the time as `ts`. */
function again(kind: DeviceKind, type: string, p: Point, tags: readonly string[]): Point[] {
  const value: Record<string, unknown> = { ...p.fields, ts: p.time }
  for (const t of tags) value[t] = p.tags[t]
  const r = normalizeReading(kind, type, value, { receivedAt })
  if (!r.ok) throw new Error(`${r.reason}: ${r.detail}`)
  return r.points
}

describe('new reading types accept what today is stored', () => {
  it('JT/T 808 location (location)', () => {
    // The 0x0200 frame of test/cli/decode-tcp-platforms.test.ts (JT/T 808-2013 section 8.18 layout).
    const m = decodeJt808(parseHex('7E 02 00 00 26 11 22 33 44 55 66 22 B8 00 00 00 01 00 00 00 02 00 BA 7F 0E 07 E4 F1 1C 00 28 00 3C 00 00 18 07 15 10 10 10 01 04 00 00 00 64 02 02 00 37 57 7E')!)
    expect(m.ok).toBe(true)
    if (!m.ok) return
    const [l] = locationsOf(m.value.body)
    const p = locationPoint(l!, receivedAt)
    expect(p.ok).toBe(true)
    if (!p.ok) return
    expect(again(position, 'location', p.value, ['system'])).toEqual([p.value])
    // The protocol's own ranges: WORD speed and altitude, BYTE satellites, beyond PositionReading's.
    const wide = { ...p.value, fields: { ...p.value.fields, speed_kmh: 6553.5, alt_m: 65535, satellites_used: 255, signal_strength: 31, fuel_l: 12.5, recorder_speed_kmh: 60 } }
    expect(again(position, 'location', wide, ['system'])).toEqual([wide])
    const nofix: Point = { measurement: 'position', tags: { system: 'GNSS' }, fields: { fix_quality: 0, alarm_flags: 0, status_flags: 0 }, time: receivedAt }
    expect(again(position, 'location', nofix, ['system'])).toEqual([nofix])
    expect(normalizeReading(position, 'location', { system: 'GPS', fix_quality: 1, alarm_flags: 0, status_flags: 2, lat: 91, lon: 0 }, { receivedAt })).toMatchObject({ ok: false, reason: 'out_of_range' })
  })

  it('NMEA satellites (satellites)', () => {
    for (const system of ['GPS', 'BDS', 'QZSS', 'SBAS']) {
      const p: Point = { measurement: 'satellites', tags: { system }, fields: { in_view: 12, used: 8, snr_mean_db: 38.25 }, time: receivedAt }
      expect(again(position, 'satellites', p, ['system'])).toEqual([p])
    }
    const bare: Point = { measurement: 'satellites', tags: { system: 'GLONASS' }, fields: { in_view: 0, used: 0 }, time: receivedAt }
    expect(again(position, 'satellites', bare, ['system'])).toEqual([bare])
  })

  it('HJ 212 upload with interval statistics (hj212)', () => {
    // shark-aio HJ212Client.java's 2051 water packet (test/devices/water-quality/hj212.test.ts SHARK_2051).
    const line =
      '##0722QN=20241130114316059;ST=32;CN=2051;PW=123456;MN=23923493201019;Flag=5;CP=&&DataTime=20241130113000;w01018-Cou=46.630,w01018-Avg=196.000,w01018-Min=196.000,w01018-Max=196.000,w01018-Flag=N;w21003-Cou=6.930,w21003-Avg=29.110,w21003-Min=29.110,w21003-Max=29.110,w21003-Flag=N;w21011-Cou=0.570,w21011-Avg=2.380,w21011-Min=2.380,w21011-Max=2.380,w21011-Flag=N;w21001-Cou=6.810,w21001-Avg=28.620,w21001-Min=28.620,w21001-Max=28.620,w21001-Flag=N;w01001-Avg=7.03,w01001-Min=7.00,w01001-Max=7.06,w01001-Flag=N;w00000-Cou=237.91,w00000-Avg=66.09,w00000-Min=392.51,w00000-Max=403.98,w00000-Avg=19796346.00,w00000-Min=19796286.00,w00000-Max=19796346.00,w00000-Flag=N;w01010-Avg=19.26,w01010-Min=19.20,w01010-Max=19.30,w01010-Flag=N&&0440'
    const m = decodeHj212(line)
    expect(m.ok).toBe(true)
    if (!m.ok) return
    const d = hj212Data(m.value.cp)
    if (!d.ok) throw new Error(d.reason)
    const p = hj212Point(m.value, d.value, { receivedAt })
    if (!p.ok) throw new Error(p.reason)
    expect(p.value.fields).toHaveProperty('cod_mg_l_min')
    expect(again(waterQuality, 'hj212', p.value, ['interval'])).toEqual([p.value])
  })

  it('ETC transaction and RSU status (transaction, rsu_status)', () => {
    // What the ETC source's lane controller stores for a passage (gateway/sources/etc-rsu/lane.ts finish()).
    const t: Point = { measurement: 'etc_transaction', tags: { lane: 'G30-K1021-L3', result: 'ok' }, fields: { obu_id: '02A1B2C3', transaction_ms: 412, plate: '陕A12345', plate_color: 0, vehicle_class: 1, fee_fen: 1500, balance_fen: 98500, card_id: '6101' }, time: receivedAt }
    expect(again(etc, 'transaction', t, ['lane', 'result'])).toEqual([t])
    const v = rsuStatusValue({ rsctl: 0x98, type: 'B0', fields: { rsuStatus: 0x05 } })
    expect(v).toBeDefined()
    const s: Point = { measurement: 'etc_rsu_status', tags: {}, fields: { ...v! }, time: receivedAt }
    expect(again(etc, 'rsu_status', s, [])).toEqual([s])
    const down: Point = { measurement: 'etc_rsu_status', tags: {}, fields: { online: false }, time: receivedAt }
    expect(again(etc, 'rsu_status', down, [])).toEqual([down])
  })
})
