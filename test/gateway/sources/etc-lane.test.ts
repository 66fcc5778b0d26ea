import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseHex } from '../../../devices/common/hex.ts'
import { CLASSIC_PROFILE, decodeRsu, encodeRsu, PROFILE_2019, type RsuFrame, type RsuProfile, unframeRsu } from '../../../devices/etc/rsu/index.ts'
import { normalizeReading } from '../../../devices/common/normalize.ts'
import type { Point } from '../../../devices/common/point.ts'
import { etc } from '../../../devices/etc/index.ts'
import { reconnectOf } from '../../../gateway/sources/etc-rsu/config.ts'
import { createLaneController, EtcRsuSourceConfig } from '../../../gateway/sources/etc-rsu/index.ts'

/** `wire`: the layout the test's RSU speaks (frames it sends, and how it reads the lane's answers). */
function lane(over: Record<string, unknown> = {}, wire: RsuProfile = CLASSIC_PROFILE) {
  let now = 1_795_000_000_000
  const sent: RsuFrame[] = []
  const sentBytes: Buffer[] = []
  const tx: Point[] = []
  const rejects: string[] = []
  const cfg = EtcRsuSourceConfig.parse({ type: 'etc-rsu', device: 'r1', port: 1, initRetryMs: 1000, transactionTimeoutMs: 60_000, ...over })
  const l = createLaneController(cfg, {
    send: (b) => {
      const d = decodeRsu(b, wire)
      if (!d.ok) throw new Error(d.reason)
      sent.push(d.value)
      sentBytes.push(b)
    },
    now: () => now,
    // The points the pipeline stores for the reading (devices/common/normalize.ts), refused ones as errors.
    transaction: (r) => {
      const n = normalizeReading(etc, r.type, 'value' in r ? r.value : undefined, { receivedAt: now })
      if (!n.ok) throw new Error(`${n.reason}: ${n.detail}`)
      tx.push(...n.points)
    },
    status: () => {},
    reject: (_raw, reason) => rejects.push(reason),
  })
  /** DATA length of the n-th frame the lane sent (type byte included). */
  const dataLength = (n: number) => {
    const u = unframeRsu(sentBytes.at(n)!)
    return u.ok ? u.value.data.length : -1
  }
  return { l, sent, tx, rejects, dataLength, advance: (ms: number) => (now += ms), rsu: (f: RsuFrame) => l.push(encodeRsu(f, wire)) }
}

/** test/fixtures/etc-rsu/passage-2019.hex (built from the STM32 firmware layout, see rsu-2019.test.ts). */
const PASSAGE_2019 = readFileSync(join(import.meta.dirname, '..', '..', 'fixtures', 'etc-rsu', 'passage-2019.hex'), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '' && !l.startsWith('#'))
  .map((l) => parseHex(l)!)
const B2_2019 = { obuId: 'AABBCCDD', errorCode: 0, contractProvider: '00'.repeat(8), contractType: 1, contractVersion: 1, applicationSerial: '00'.repeat(8), signedDate: '20240101', expiredDate: '20991231', cpuCardId: '61019876543210987654', equipmentStatus: 0 }

const B0: RsuFrame = { rsctl: 0x98, type: 'B0', fields: { rsuStatus: 0, psamTerminalId: '610100000001', rsuAlgId: 0, rsuManuId: 1, rsuId: '000001', rsuVersion: '0100', reserved: '' } }

describe('ETC lane controller', () => {
  it('sends C0 again until a B0 answers, and again when the RSU reports a power-on it was not asked for', () => {
    const t = lane()
    t.l.init()
    t.l.maintain(t.advance(500))
    expect(t.sent.map((f) => f.type)).toEqual(['C0'])
    t.l.maintain(t.advance(600))
    expect(t.sent.map((f) => f.type)).toEqual(['C0', 'C0'])
    t.rsu(B0)
    t.l.maintain(t.advance(5000))
    expect(t.sent.map((f) => f.type)).toEqual(['C0', 'C0', 'ACK'])
    t.rsu(B0) // unsolicited power-on B0: the RSU restarted
    expect(t.sent.map((f) => f.type)).toEqual(['C0', 'C0', 'ACK', 'ACK', 'C0'])
  })
  it('answers frames it cannot use, never heartbeats, and refuses garbage with a reason', () => {
    const t = lane()
    t.rsu({ rsctl: 0x08, type: 'B2', fields: { obuId: '00000000', errorCode: 0x80 } })
    expect(t.sent).toEqual([])
    t.rsu({ rsctl: 0x18, type: 'B5', fields: { obuId: '01020304', errorCode: 0 } })
    expect(t.sent).toEqual([{ rsctl: 0x81, type: 'ACK', fields: {} }])
    expect(t.rejects).toEqual(['unexpected_frame'])
    t.l.push(Buffer.from('hello'))
    t.l.push(Buffer.from([0xff, 0xff, 0x28, 0xb3, 0x00, 0x00, 0xff]))
    expect(t.rejects).toEqual(['unexpected_frame', 'garbage', 'bcc_mismatch'])
  })
  it('charges the tariff of the vehicle class and writes one transaction with its timing', () => {
    const t = lane({ tariff: { '1': 700 } })
    const obuStatus = 0x2000
    t.rsu({ rsctl: 0x18, type: 'B2', fields: { obuId: 'AABBCCDD', errorCode: 0, contractProvider: '00'.repeat(8), contractType: 1, contractVersion: 1, applicationSerial: '00'.repeat(8), signedDate: '20240101', expiredDate: '20991231', equipmentStatus: 0, obuStatus } })
    t.advance(40)
    t.rsu({ rsctl: 0x28, type: 'B3', fields: { obuId: 'AABBCCDD', errorCode: 0, plate: '京N8Y2B6', plateColor: 4, vehicleClass: 1, userType: 0 } })
    const issuer = `${'00'.repeat(10)}61010000000000000042${'00'.repeat(23)}`
    t.rsu({ rsctl: 0x38, type: 'B4', fields: { obuId: 'AABBCCDD', errorCode: 0, cardType: 0x16, balanceFen: 1000, issuerFile: issuer, lastStationFile: '00'.repeat(43) } })
    const c6 = t.sent.at(-1)!
    expect(c6).toMatchObject({ type: 'C6', rsctl: 0x83, fields: { obuId: 'AABBCCDD', feeFen: 700 } })
    t.advance(60)
    t.rsu({ rsctl: 0x48, type: 'B5', fields: { obuId: 'AABBCCDD', errorCode: 0, transTime: String(c6.fields['transTime']), psamSerial: 1, cardSerial: 1, transType: 9, balanceFen: 300, tac: '00000000', keyType: 0 } })
    expect(t.sent.map((f) => f.type)).toEqual(['C1', 'ACK', 'C6', 'ACK'])
    expect(t.tx).toEqual([
      {
        measurement: 'etc_transaction',
        tags: { lane: '1', result: 'ok' },
        fields: { obu_id: 'AABBCCDD', transaction_ms: 100, plate: '京N8Y2B6', plate_color: 4, vehicle_class: 1, fee_fen: 700, balance_fen: 300, card_id: '61010000000000000042' },
        time: 1_795_000_000_100,
      },
    ])
  })
  it('runs a whole 2019 passage from the fixture: C0 asks for EF04, C6 has a 40-byte station field, one transaction', () => {
    const station = 'AB'.repeat(40)
    const t = lane({ profile: '2019', ef04: { offset: 0, length: 8 }, stationFile: station }, PROFILE_2019)
    t.l.init()
    expect(t.sent[0]).toMatchObject({ type: 'C0', fields: { ef04Option: 1, ef04Offset: 0, ef04Length: 8 } })
    expect(t.dataLength(0)).toBe(21)
    // B0, the RSCTL 88 heartbeat, B2, B3, B4 (with the EF04 range), B5 as the fixture has them.
    for (const i of [1, 3, 4, 6, 8]) t.l.push(PASSAGE_2019[i]!)
    const c6 = t.sent.at(-1)!
    expect(c6).toMatchObject({ type: 'C6', fields: { obuId: 'A1B2C3D4', feeFen: 500, stationFile: station } })
    expect(t.dataLength(-1)).toBe(57)
    t.l.push(PASSAGE_2019[10]!)
    expect(t.sent.map((f) => f.type)).toEqual(['C0', 'ACK', 'C1', 'ACK', 'C6', 'ACK'])
    expect(t.rejects).toEqual([])
    expect(t.tx).toHaveLength(1)
    expect(t.tx[0]).toMatchObject({
      tags: { result: 'ok' },
      fields: { obu_id: 'A1B2C3D4', plate: '陕A12345', vehicle_class: 1, fee_fen: 500, balance_fen: 11845, card_id: '61011234567890123456' },
    })
  })
  it('takes the card id from the 2019 B2 CPU card id when the passage ends before B4', () => {
    const t = lane({ profile: '2019' }, PROFILE_2019)
    t.rsu({ rsctl: 0x18, type: 'B2', fields: { ...B2_2019, obuStatus: 0x2800 } }) // contactless, card error
    expect(t.sent.map((f) => f.type)).toEqual(['C2'])
    expect(t.tx[0]).toMatchObject({ tags: { result: 'card_error' }, fields: { card_id: '61019876543210987654' } })
  })
  it('auto: C0 in the form both layouts read, then the lane writes in the layout the RSU showed', () => {
    for (const [wire, c6Bytes] of [
      [PROFILE_2019, 57],
      [CLASSIC_PROFILE, 60],
    ] as const) {
      const t = lane({ tariff: { '1': 700 } }, wire)
      t.l.init()
      expect(t.dataLength(0)).toBe(16) // no catch-all, no EF04 fields
      t.rsu({ rsctl: 0x88, type: 'B2', fields: { obuId: '00000000', errorCode: 0x80 } }) // heartbeat: no answer
      const { cpuCardId: _, ...classicB2 } = B2_2019
      t.rsu({ rsctl: 0x18, type: 'B2', fields: { ...(wire === PROFILE_2019 ? B2_2019 : classicB2), obuStatus: 0x2000 } })
      t.rsu({ rsctl: 0x28, type: 'B3', fields: { obuId: 'AABBCCDD', errorCode: 0, plate: '京N8Y2B6', plateColor: 4, vehicleClass: 1, userType: 0 } })
      const b4 = { obuId: 'AABBCCDD', errorCode: 0, cardType: 0x16, balanceFen: 1000, issuerFile: '00'.repeat(43), lastStationFile: '00'.repeat(43) }
      t.rsu({ rsctl: 0x38, type: 'B4', fields: wire === PROFILE_2019 ? { ...b4, ef04ReadStatus: 0 } : b4 })
      expect(t.sent.map((f) => f.type), wire.name).toEqual(['C0', 'C1', 'ACK', 'C6'])
      expect(t.dataLength(-1), wire.name).toBe(c6Bytes)
      expect(t.l.profile()).toBe(wire.name)
      expect(t.rejects).toEqual([])
    }
  })
  it('refuses a station file or an EF04 range the fixed profile cannot carry, and an unknown profile, naming the key', () => {
    const issues = (c: Record<string, unknown>) => EtcRsuSourceConfig.safeParse({ type: 'etc-rsu', device: 'r', port: 1, ...c }).error?.issues.map((i) => i.path.join('.'))
    expect(issues({ profile: '2019', stationFile: '00'.repeat(43) })).toEqual(['stationFile'])
    expect(issues({ profile: 'classic', stationFile: '00'.repeat(40) })).toEqual(['stationFile'])
    expect(issues({ profile: 'classic', ef04: { offset: 0, length: 8 } })).toEqual(['ef04'])
    expect(issues({ profile: '2020' })?.[0]).toBe('profile')
    expect(issues({ profile: 'auto', stationFile: '00'.repeat(40), ef04: { offset: 0, length: 8 } })).toBeUndefined()
    expect(EtcRsuSourceConfig.parse({ type: 'etc-rsu', device: 'r', port: 1 }).profile).toBe('auto')
    // `profile: 2019` in YAML is a number.
    expect(EtcRsuSourceConfig.parse({ type: 'etc-rsu', device: 'r', port: 1, profile: 2019 }).profile).toBe('2019')
  })
  it('refuses a serial mode without a path and a TCP mode without a port, naming the key', () => {
    const a = EtcRsuSourceConfig.safeParse({ type: 'etc-rsu', device: 'r', mode: 'serial' })
    expect(a.error?.issues.map((i) => i.path.join('.'))).toEqual(['serial'])
    const b = EtcRsuSourceConfig.safeParse({ type: 'etc-rsu', device: 'r' })
    expect(b.error?.issues.map((i) => i.path.join('.'))).toEqual(['port'])
  })
})

describe('ETC lane controller readings (issue 11)', () => {
  it('leaves plate_color out of the transaction when the B3 carries none (a vendor layout), so the schema takes it', () => {
    // A vendor's B3 without the plate colour: the lane kept NaN, which the point-building code dropped and
    // the `transaction` schema would refuse; the reading leaves the field out (the same stored point).
    const b3 = CLASSIC_PROFILE.frames['B3']!
    const vendor: RsuProfile = { ...CLASSIC_PROFILE, name: 'vendor-no-colour', frames: { ...CLASSIC_PROFILE.frames, B3: { ...b3, fields: b3.fields.filter((f) => f.name !== 'plateColor') } } }
    const t = lane({ tariff: { '1': 700 }, profile: vendor }, vendor)
    t.rsu({ rsctl: 0x18, type: 'B2', fields: { obuId: 'AABBCCDD', errorCode: 0, contractProvider: '00'.repeat(8), contractType: 1, contractVersion: 1, applicationSerial: '00'.repeat(8), signedDate: '20240101', expiredDate: '20991231', equipmentStatus: 0, obuStatus: 0x2000 } })
    t.rsu({ rsctl: 0x28, type: 'B3', fields: { obuId: 'AABBCCDD', errorCode: 0, plate: '京N8Y2B6', vehicleClass: 1, userType: 0 } })
    t.rsu({ rsctl: 0x38, type: 'B4', fields: { obuId: 'AABBCCDD', errorCode: 0, cardType: 0x16, balanceFen: 1000, issuerFile: '00'.repeat(43), lastStationFile: '00'.repeat(43) } })
    const c6 = t.sent.at(-1)!
    t.rsu({ rsctl: 0x48, type: 'B5', fields: { obuId: 'AABBCCDD', errorCode: 0, transTime: String(c6.fields['transTime']), psamSerial: 1, cardSerial: 1, transType: 9, balanceFen: 300, tac: '00000000', keyType: 0 } })
    expect(t.rejects).toEqual([])
    expect(t.tx).toHaveLength(1)
    expect(t.tx[0]!.fields).toEqual({ obu_id: 'AABBCCDD', transaction_ms: 0, plate: '京N8Y2B6', vehicle_class: 1, fee_fen: 700, balance_fen: 300, card_id: '00000000000000000000' })
  })
  it('client back-off: reconnectMinMs/reconnectMaxMs, with reconnectMs the deprecated spelling of the minimum', () => {
    const of = (c: Record<string, unknown>) => reconnectOf(EtcRsuSourceConfig.parse({ type: 'etc-rsu', device: 'r', port: 1, ...c }))
    expect(of({})).toEqual({ reconnectMinMs: 2000, reconnectMaxMs: 30_000 })
    expect(of({ reconnectMs: 500 })).toEqual({ reconnectMinMs: 500, reconnectMaxMs: 30_000 })
    expect(of({ reconnectMs: 500, reconnectMinMs: 100, reconnectMaxMs: 1000 })).toEqual({ reconnectMinMs: 100, reconnectMaxMs: 1000 })
    // An old `reconnectMs` above the new default maximum keeps its wait.
    expect(of({ reconnectMs: 60_000 })).toEqual({ reconnectMinMs: 60_000, reconnectMaxMs: 60_000 })
  })
})
