/**
 * JT/T 808 terminal alarms go the way of every other alarm: derived by a processor from the `position`
 * points' `alarm_flags`, stored as `alarm` points, listed in `/api/alarms`, published on
 * `city/<district>/alarms/<rule>`, acknowledged with `POST /api/alarms/:id/ack`. Before, the source wrote
 * `alarm` points itself and none of the other three happened.
 * Alarm bits (bit 0 emergency, bit 1 overspeed, ...): JT/T 808-2013 0x0200 alarm word, docs/protocols.md section 3.
 */
import { join } from 'node:path'
import { connect, type Socket } from 'node:net'
import mqtt from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Point } from '../../../devices/common/point.ts'
import { createJt808Framer, decodeJt808, encodeJt808, type Jt808Header, type Jt808Location, type Jt808Message } from '../../../devices/position/jt808/index.ts'
import { locationPoint } from '../../helpers/jt808.ts'
import { type AlarmMessage, createAlarmStore } from '../../../gateway/alarms/store.ts'
import type { ProcessedBatch } from '../../../gateway/core/types.ts'
import type { Gateway } from '../../../gateway/gateway.ts'
import { createJt808AlarmProcessor } from '../../../gateway/processors/jt808-alarms.ts'
import { tempDir } from '../../helpers/env.ts'
import { gatewayFrom } from '../../helpers/gateway.ts'
import { freePort, waitFor } from '../../helpers/net.ts'

const T0 = Date.UTC(2026, 0, 1, 8)
const loc = (alarm: number, i = 0): Jt808Location => ({ alarm, status: 2, latE6: 34_210_000, lonE6: 108_880_000, altitudeM: 410, speed01: 250, courseDeg: 45, time: T0 + i * 1000, items: [] })
const position = (alarm: number, i = 0): Point => {
  const p = locationPoint(loc(alarm, i), 0)
  if (!p.ok) throw new Error(p.reason)
  return p.value
}
const batch = (points: Point[], device = '13800000010'): ProcessedBatch => ({ source: 'jt808', device, kind: 'position', protocol: 'jt808', points, district: 'xian-gaoxin' })

describe('JT/T 808 alarm processor', () => {
  it('raises on a bit 0 -> 1 and clears on 1 -> 0, per terminal, with the alarm point shape the source used to write', () => {
    const store = createAlarmStore()
    const published: { topic: string; msg: AlarmMessage }[] = []
    const proc = createJt808AlarmProcessor({ store, publish: async (topic, payload) => void published.push({ topic, msg: JSON.parse(String(payload)) }) })

    expect(proc.process(batch([position(0)]))).toBeUndefined()
    const raised = proc.process(batch([position(0b1, 1)]))
    // Same measurement, tags and fields as before the move (stored data does not change).
    expect(raised).toEqual([{ measurement: 'alarm', tags: { rule: 'jt808_emergency', severity: 'critical' }, fields: { active: true, value: 0, message: 'JT/T 808 alarm bit 0 emergency raised' }, time: T0 + 1000 }])
    expect(published).toEqual([
      {
        topic: 'city/xian-gaoxin/alarms/jt808_emergency',
        msg: { rule: 'jt808_emergency', severity: 'critical', active: true, device: '13800000010', kind: 'position', district: 'xian-gaoxin', value: 0, message: 'JT/T 808 alarm bit 0 emergency raised', time: T0 + 1000 },
      },
    ])
    expect(store.listActive().map((a) => a.id)).toEqual(['jt808_emergency/13800000010'])
    // Still set: nothing new, and nothing allocated.
    expect(proc.process(batch([position(0b1, 2)]))).toBeUndefined()
    // Another terminal has its own state: its emergency is its own alarm.
    expect(proc.process(batch([position(0b1)], '13800000011'))?.map((p) => p.fields['active'])).toEqual([true])
    expect(store.listActive().map((a) => a.id).sort()).toEqual(['jt808_emergency/13800000010', 'jt808_emergency/13800000011'])

    // Emergency clears and overspeed appears in one location; a batch upload's locations run in order.
    const next = proc.process(batch([position(0b10, 3), position(0b10 | (1 << 16), 4), position(0, 5)]))
    expect(next?.map((p) => [p.tags['rule'], p.tags['severity'], p.fields['active'], p.time])).toEqual([
      ['jt808_emergency', 'critical', false, T0 + 3000],
      ['jt808_overspeed', 'warning', true, T0 + 3000],
      // bit 16 is reserved: kept as jt808_bit_16, severity info
      ['jt808_bit_16', 'info', true, T0 + 4000],
      ['jt808_overspeed', 'warning', false, T0 + 5000],
      ['jt808_bit_16', 'info', false, T0 + 5000],
    ])
    expect(store.listActive().map((a) => a.id)).toEqual(['jt808_emergency/13800000011'])
    expect(published.at(-1)).toMatchObject({ topic: 'city/xian-gaoxin/alarms/jt808_bit_16', msg: { active: false } })
  })

  it('looks only at position points with alarm_flags', () => {
    const store = createAlarmStore()
    const proc = createJt808AlarmProcessor({ store })
    const other: ProcessedBatch = { source: 'mqtt', device: 'wq-1', kind: 'water_quality', protocol: 'mqtt', points: [{ measurement: 'water_quality', tags: {}, fields: { alarm_flags: 1 }, time: 0 }], district: 'd' }
    expect(proc.process(other)).toBeUndefined()
    // An NMEA receiver's position has no alarm word.
    expect(proc.process({ ...batch([{ measurement: 'position', tags: { system: 'BDS' }, fields: { lat: 34.2, lon: 108.9 }, time: 0 }], 'gnss-1'), protocol: 'nmea' })).toBeUndefined()
    expect(proc.terminals()).toEqual([])
    expect(store.listActive()).toEqual([])
  })
})

async function terminal(port: number) {
  const s: Socket = connect({ host: '127.0.0.1', port })
  await new Promise<void>((r, j) => {
    s.once('connect', () => r())
    s.once('error', j)
  })
  s.on('error', () => {})
  const answers: Jt808Message[] = []
  const framer = createJt808Framer()
  s.on('data', (d: Buffer) => {
    for (const e of framer.push(d)) {
      if (!e.ok) continue
      const m = decodeJt808(e.frame)
      if (m.ok) answers.push(m.value)
    }
  })
  let serial = 0
  /** Send a message and wait for the platform's 0x8001 to it; returns its result. */
  async function send(msgId: number, body: Jt808Message['body']): Promise<number> {
    const header: Jt808Header = { msgId, version: 2013, protocolVersion: 0, phone: '013800000010', serial: serial++, encryption: 0 }
    s.write(encodeJt808({ header, body }))
    const a = await waitFor(() => answers.find((m) => m.body.type === 'platform_response' && m.body.ackSerial === header.serial), 5000, `answer to serial ${header.serial}`)
    return a.body.type === 'platform_response' ? a.body.result : -1
  }
  return { s, send }
}

describe('JT/T 808 terminal alarms through a whole gateway (TCP terminal, embedded broker, HTTP API)', () => {
  const tmp = tempDir()
  let gw: Gateway
  let jtPort: number
  let mqttPort: number
  let http: string
  beforeAll(async () => {
    jtPort = await freePort()
    mqttPort = await freePort()
    gw = gatewayFrom(
      {
        gateway: { id: 'edge-test', district: 'xian-gaoxin' },
        dataDir: join(tmp.dir, 'gw'),
        http: { port: 0 },
        sources: [{ type: 'jt808', port: jtPort, authCodes: { '13800000010': 'CODE10' } }],
      },
      { mqttPort },
    )
    await gw.start()
    http = gw.endpoints().http!
  })
  afterAll(async () => {
    await gw?.stop()
    tmp.cleanup()
  })

  it('emergency bit set: listed in /api/alarms, published on the alarm topic, acknowledged; bit cleared: gone and published', async () => {
    const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`)
    const got: { topic: string; msg: AlarmMessage }[] = []
    sub.on('message', (topic, payload) => got.push({ topic, msg: JSON.parse(payload.toString()) }))
    await sub.subscribeAsync('city/xian-gaoxin/alarms/#', { qos: 1 })
    const t = await terminal(jtPort)
    try {
      expect(await t.send(0x0102, { type: 'auth', authCode: 'CODE10' })).toBe(0)
      expect(await t.send(0x0200, { type: 'location', ...loc(0) })).toBe(0)
      expect(await t.send(0x0200, { type: 'location', ...loc(0b1, 1) })).toBe(0)

      const alarms = async () => ((await (await fetch(`${http}/api/alarms`)).json()) as { alarms: { id: string; rule: string; severity: string; device: string; acknowledged: boolean; ackBy?: string }[] }).alarms
      const id = 'jt808_emergency/13800000010'
      await waitFor(async () => (await alarms()).some((a) => a.id === id), 5000, 'alarm listed')
      expect(await alarms()).toMatchObject([{ id, rule: 'jt808_emergency', severity: 'critical', device: '13800000010', acknowledged: false }])
      await waitFor(() => got.length >= 1, 5000, 'alarm published')
      expect(got[0]).toMatchObject({ topic: 'city/xian-gaoxin/alarms/jt808_emergency', msg: { rule: 'jt808_emergency', severity: 'critical', active: true, device: '13800000010', kind: 'position', district: 'xian-gaoxin', value: 0, time: T0 + 1000 } })

      const ack = await fetch(`${http}/api/alarms/${encodeURIComponent(id)}/ack`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ by: 'dispatcher' }) })
      expect(ack.status).toBe(200)
      expect(await alarms()).toMatchObject([{ id, acknowledged: true, ackBy: 'dispatcher' }])

      // Still set in the next report: one alarm, still acknowledged, nothing published.
      expect(await t.send(0x0200, { type: 'location', ...loc(0b1, 2) })).toBe(0)
      expect(await alarms()).toMatchObject([{ id, acknowledged: true }])

      expect(await t.send(0x0200, { type: 'location', ...loc(0, 3) })).toBe(0)
      await waitFor(async () => (await alarms()).length === 0, 5000, 'alarm cleared')
      await waitFor(() => got.length >= 2, 5000, 'clear published')
      expect(got.map((g) => [g.topic, g.msg.active, g.msg.time])).toEqual([
        ['city/xian-gaoxin/alarms/jt808_emergency', true, T0 + 1000],
        ['city/xian-gaoxin/alarms/jt808_emergency', false, T0 + 3000],
      ])
    } finally {
      t.s.destroy()
      await sub.endAsync()
    }
  })
})
