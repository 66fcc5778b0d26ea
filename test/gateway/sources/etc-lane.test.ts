import { describe, expect, it } from 'vitest'
import { decodeRsu, encodeRsu, type RsuFrame } from '../../../devices/etc/rsu/index.ts'
import type { Point } from '../../../devices/common/point.ts'
import { createLaneController, EtcRsuSourceConfig } from '../../../gateway/sources/etc-rsu.ts'

function lane(over: Record<string, unknown> = {}) {
  let now = 1_795_000_000_000
  const sent: RsuFrame[] = []
  const tx: Point[] = []
  const rejects: string[] = []
  const cfg = EtcRsuSourceConfig.parse({ type: 'etc-rsu', device: 'r1', port: 1, initRetryMs: 1000, transactionTimeoutMs: 60_000, ...over })
  const l = createLaneController(cfg, {
    send: (b) => {
      const d = decodeRsu(b)
      if (!d.ok) throw new Error(d.reason)
      sent.push(d.value)
    },
    now: () => now,
    transaction: (p) => tx.push(p),
    status: () => {},
    reject: (_raw, reason) => rejects.push(reason),
  })
  return { l, sent, tx, rejects, advance: (ms: number) => (now += ms), rsu: (f: RsuFrame) => l.push(encodeRsu(f)) }
}

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
  it('refuses a serial mode without a path and a TCP mode without a port, naming the key', () => {
    const a = EtcRsuSourceConfig.safeParse({ type: 'etc-rsu', device: 'r', mode: 'serial' })
    expect(a.error?.issues.map((i) => i.path.join('.'))).toEqual(['serial'])
    const b = EtcRsuSourceConfig.safeParse({ type: 'etc-rsu', device: 'r' })
    expect(b.error?.issues.map((i) => i.path.join('.'))).toEqual(['port'])
  })
})
