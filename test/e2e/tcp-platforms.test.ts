import { readFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeJt808 } from '../../devices/position/jt808/index.ts'
import { encodeHj212, encodeSegmentPacket } from '../../devices/water-quality/hj212/index.ts'
import type { Gateway } from '../../gateway/gateway.ts'
import { DISTRICT_ROUTES, seeded } from '../../simulators/jt808/index.ts'
import { createTerminal, type Terminal } from '../../simulators/jt808/terminal.ts'
import { createStation, type Station } from '../../simulators/hj212/station.ts'
import { have, tempDir } from '../helpers/env.ts'
import { gatewayFrom, metricValue } from '../helpers/gateway.ts'
import { type InfluxServer, startInflux } from '../helpers/influx.ts'
import { freePort, sleep, waitFor } from '../helpers/net.ts'

const DB = 'tcp'

/** A clock that moves `stepMs` per call: every report gets its own timestamp. */
function stepping(start: number, stepMs: number): () => number {
  let t = start - stepMs
  return () => {
    t += stepMs
    return t
  }
}

async function rawClient(port: number): Promise<{ s: Socket; received: Buffer[]; closed: Promise<void> }> {
  const s = connect({ host: '127.0.0.1', port })
  await new Promise<void>((r, j) => {
    s.once('connect', () => r())
    s.once('error', j)
  })
  const received: Buffer[] = []
  s.on('data', (d: Buffer) => received.push(d))
  s.on('error', () => {})
  const closed = new Promise<void>((r) => s.once('close', () => r()))
  return { s, received, closed }
}

const rejected = (gw: Gateway, source: string, reason: string) => metricValue(gw, 'smartcity_readings_rejected_total', { source, reason })

describe.skipIf(!have('influxd'))('JT/T 808 and HJ 212 simulators against the gateway over TCP into InfluxDB', () => {
  const tmp = tempDir()
  let influx: InfluxServer
  let gw: Gateway
  let jtPort: number
  let hjPort: number

  beforeAll(async () => {
    influx = await startInflux(`${tmp.dir}/influx`)
    jtPort = await freePort()
    hjPort = await freePort()
    gw = gatewayFrom(
      {
        dataDir: `${tmp.dir}/gw`,
        http: { enabled: false },
        gateway: { district: 'xian-gaoxin' },
        sinks: [{ type: 'influx-v1', url: influx.url, database: DB, flushIntervalMs: 100 }],
        sources: [
          { type: 'jt808', port: jtPort, authCodes: { '13900000099': 'PROVISIONED1' }, maxBadFrames: 3, maxFrameBytes: 1024 },
          { type: 'hj212', port: hjPort, passwords: { SIMWQ000000001: 'pw-001', SIMWQ000000002: 'pw-002' }, maxBadFrames: 3, maxSegmentBytes: 1024 },
        ],
      },
      { mqttPort: await freePort() },
    )
    await gw.start()
  })
  afterAll(async () => {
    await gw?.stop()
    await influx?.stop()
    tmp.cleanup()
  })

  it('8 vehicles and 2 stations: every location, alarm and upload lands, counted exactly', async () => {
    const base = Date.UTC(2026, 10, 20, 0, 0, 0)
    const vehicles = [
      ...Array.from({ length: 3 }, (_, i) => ['bus', i] as const),
      ...Array.from({ length: 3 }, (_, i) => ['taxi', i] as const),
      ...Array.from({ length: 2 }, (_, i) => ['sanitation', i] as const),
    ]
    const terminals: Terminal[] = vehicles.map(([vehicle], i) =>
      createTerminal({
        host: '127.0.0.1',
        port: jtPort,
        phone: String(13_900_000_001 + i),
        vehicle,
        // half the fleet speaks 2019 headers
        version: i % 2 === 0 ? 2013 : 2019,
        route: DISTRICT_ROUTES[vehicle],
        alarmProbability: 0.25,
        autoReport: false,
        random: seeded(i + 1),
        now: stepping(base, 1000),
      }),
    )
    const stations: Station[] = [1, 2].map((n) =>
      createStation({ host: '127.0.0.1', port: hjPort, mn: `SIMWQ00000000${n}`, pw: `pw-00${n}`, autoUpload: false, flagProbability: 0.3, random: seeded(100 + n), now: stepping(base, 60_000) }),
    )
    await Promise.all([...terminals.map((t) => t.start()), ...stations.map((s) => s.start())])
    try {
      // Registration issued codes, kept for the next connection.
      expect(terminals.every((t) => t.stats().authenticated && (t.stats().authCode?.length ?? 0) > 0)).toBe(true)
      await Promise.all(
        terminals.map(async (t) => {
          for (let k = 0; k < 10; k++) expect(await t.report()).toBe(0)
        }),
      )
      await Promise.all(
        stations.map(async (s) => {
          for (let k = 0; k < 10; k++) expect(await s.upload(k % 2 === 0 ? '2011' : '2051')).toBe('9014')
        }),
      )
      const raised = terminals.reduce((a, t) => a + t.stats().alarms, 0)
      expect(raised).toBeGreaterThan(0)

      await waitFor(async () => (await influx.count(DB, 'position', 'lat', `"protocol"='jt808'`)) === 80, 20_000, '80 positions')
      await waitFor(async () => (await influx.count(DB, 'water_quality', 'ph', `"protocol"='hj212'`)) === 20, 20_000, '20 water-quality points')
      await waitFor(async () => (await influx.count(DB, 'alarm', 'active', `"active"=true`)) === raised, 20_000, `${raised} raised alarms`)
      await sleep(500)
      expect(await influx.count(DB, 'position', 'lat', `"protocol"='jt808'`)).toBe(80)
      expect(await influx.count(DB, 'water_quality', 'ph', `"protocol"='hj212'`)).toBe(20)
      expect(await influx.count(DB, 'water_quality', 'ph', `"interval"='minute'`)).toBe(10)
      expect(await influx.count(DB, 'alarm', 'active', `"active"=true`)).toBe(raised)
      // Derived by the JT/T 808 alarm processor, stored with the terminal's tags as the source used to write them.
      const alarmRows = await influx.query(DB, `SELECT * FROM alarm WHERE "active"=true ORDER BY time LIMIT 1`)
      expect(alarmRows[0]).toMatchObject({ kind: 'position', protocol: 'jt808', district: 'xian-gaoxin' })
      expect(String(alarmRows[0]!['rule'])).toMatch(/^jt808_(emergency|overspeed|fatigue_driving)$/)
      expect(String(alarmRows[0]!['device'])).toMatch(/^139000000\d\d$/)
      for (const [i, t] of terminals.entries()) {
        expect(t.stats()).toMatchObject({ sent: 10, acked: 10, refused: 0 })
        expect(await influx.count(DB, 'position', 'lat', `"device"='${13_900_000_001 + i}'`)).toBe(10)
      }
      const rows = await influx.query(DB, `SELECT * FROM position WHERE "device"='13900000001' ORDER BY time LIMIT 1`)
      expect(rows[0]).toMatchObject({ time: base, district: 'xian-gaoxin', kind: 'position', protocol: 'jt808' })
      expect(rows[0]!['system']).toMatch(/^(BDS|GNSS)$/)
      expect(Number(rows[0]!['lat'])).toBeCloseTo(34.2, 0)
      expect(Number(rows[0]!['lon'])).toBeCloseTo(108.9, 0)
      const wq = await influx.query(DB, `SELECT * FROM water_quality WHERE "device"='SIMWQ000000001' AND "interval"='realtime' ORDER BY time LIMIT 1`)
      expect(wq[0]).toMatchObject({ time: base, kind: 'water_quality', protocol: 'hj212' })
      expect(Number(wq[0]!['gb3838_class'])).toBeGreaterThanOrEqual(1)
      expect(await metricValue(gw, 'smartcity_readings_rejected_total')).toBe(0)
    } finally {
      await Promise.all([...terminals.map((t) => t.stop()), ...stations.map((s) => s.stop())])
    }
  })

  it('wrong password, wrong auth code, bad CRC, bad check code, oversized frame, garbage: each refused and counted; others keep being served', async () => {
    const base = Date.UTC(2026, 10, 21)
    const good = createTerminal({ host: '127.0.0.1', port: jtPort, phone: '13900000099', vehicle: 'taxi', route: DISTRICT_ROUTES.taxi, authCode: 'PROVISIONED1', autoReport: false, alarmProbability: 0, now: stepping(base, 1000) })
    const goodStation = createStation({ host: '127.0.0.1', port: hjPort, mn: 'SIMWQ000000002', pw: 'pw-002', autoUpload: false, now: stepping(base, 60_000) })
    await good.start()
    await goodStation.start()
    try {
      // Wrong auth code: refused (0x8001 result 1) and the connection closed.
      const liar = createTerminal({ host: '127.0.0.1', port: jtPort, phone: '13900000099', vehicle: 'bus', route: DISTRICT_ROUTES.bus, authCode: 'GUESSED', autoReport: false })
      await expect(liar.start()).rejects.toThrow(/authentication refused|connection closed/)
      await liar.stop()
      expect(await rejected(gw, 'jt808', 'bad_auth_code')).toBe(1)
      // A terminal that never registered: its code is derived from the source's secret, and 'ANY' is not it.
      const stranger = createTerminal({ host: '127.0.0.1', port: jtPort, phone: '13700000001', vehicle: 'bus', route: DISTRICT_ROUTES.bus, authCode: 'ANY', autoReport: false })
      await expect(stranger.start()).rejects.toThrow()
      await stranger.stop()
      expect(await rejected(gw, 'jt808', 'bad_auth_code')).toBe(2)

      // Bad check code: a heartbeat whose last byte is off by one.
      const hb = encodeJt808({ header: { msgId: 2, version: 2013, protocolVersion: 0, phone: '013900000099', serial: 1, encryption: 0 }, body: { type: 'heartbeat' } })
      hb[hb.length - 2] = hb[hb.length - 2]! ^ 0x01
      const c1 = await rawClient(jtPort)
      c1.s.write(hb)
      await waitFor(async () => (await rejected(gw, 'jt808', 'bad_check')) === 1, 5000, 'bad_check counted')

      // Oversized frame.
      c1.s.write(Buffer.concat([Buffer.from([0x7e]), Buffer.alloc(2000, 0x33), Buffer.from([0x7e])]))
      await waitFor(async () => (await rejected(gw, 'jt808', 'frame_too_long')) === 1, 5000, 'frame_too_long counted')

      // Garbage stream: the third bad frame closes the connection (maxBadFrames: 3).
      c1.s.write(Buffer.from('GET / HTTP/1.1\r\n'))
      await c1.closed
      expect(await rejected(gw, 'jt808', 'garbage')).toBe(1)

      // HJ 212: wrong password answered 9011 (QnRtn 3); bad CRC; oversized; garbage.
      const wrongPw = createStation({ host: '127.0.0.1', port: hjPort, mn: 'SIMWQ000000001', pw: 'guess', autoUpload: false })
      await wrongPw.start()
      expect(await wrongPw.upload('2011')).toBe('9011')
      await wrongPw.stop()
      expect(await rejected(gw, 'hj212', 'bad_password')).toBe(1)

      const c2 = await rawClient(hjPort)
      const pkt = encodeHj212({ qn: '20261121000000000', st: '21', cn: '2011', pw: 'pw-002', mn: 'SIMWQ000000002', flag: 5, cp: [[['DataTime', '20261121080000']], [['w01001-Rtd', '7.1']]] }).toString()
      c2.s.write(pkt.replace(/[0-9A-F]{4}\r\n$/, '0000\r\n'))
      await waitFor(async () => (await rejected(gw, 'hj212', 'bad_crc')) === 1, 5000, 'bad_crc counted')
      c2.s.write(Buffer.from(`##2000${'x'.repeat(100)}`))
      await waitFor(async () => (await rejected(gw, 'hj212', 'frame_too_long')) === 1, 5000, 'hj212 frame_too_long counted')
      c2.s.write(Buffer.from('@@@ not hj212 @@@'))
      await c2.closed
      expect(await rejected(gw, 'hj212', 'garbage')).toBeGreaterThanOrEqual(1)
      // A 2005-format packet on a fresh connection is still accepted (no QN, no Flag: no answer expected).
      const c3 = await rawClient(hjPort)
      c3.s.write(encodeSegmentPacket('ST=21;CN=2011;PW=pw-002;MN=SIMWQ000000002;CP=&&DataTime=20261121080500;w01001-Rtd=7.3,w01001-Flag=N&&'))
      await waitFor(async () => (await influx.count(DB, 'water_quality', 'ph', `"device"='SIMWQ000000002' AND time = '2026-11-21T00:05:00Z'`)) === 1, 10_000, '2005 packet stored')
      c3.s.destroy()

      // The well-behaved terminal and station were served throughout.
      for (let k = 0; k < 5; k++) expect(await good.report()).toBe(0)
      for (let k = 0; k < 3; k++) expect(await goodStation.upload('2011')).toBe('9014')
      await waitFor(async () => (await influx.count(DB, 'position', 'lat', `"device"='13900000099'`)) === 5, 10_000, '5 positions from the good terminal')
      await waitFor(async () => (await influx.count(DB, 'water_quality', 'ph', `"device"='SIMWQ000000002' AND time >= '2026-11-20T16:00:00Z'`)) === 4, 10_000, '4 uploads from the good station')
      expect(good.stats()).toMatchObject({ acked: 5, refused: 0 })
      // Every refusal is in the dead-letter log with its reason and the raw input.
      await waitFor(() => {
        const lines = readFileSync(join(tmp.dir, 'gw', 'deadletter', 'deadletter.jsonl'), 'utf8').trim().split('\n')
        const reasons = new Set(lines.map((l) => (JSON.parse(l) as { reason: string }).reason))
        return ['bad_auth_code', 'bad_check', 'frame_too_long', 'garbage', 'bad_password', 'bad_crc'].every((r) => reasons.has(r))
      }, 5000, 'dead-letter entries for every refusal')
    } finally {
      await good.stop()
      await goodStation.stop()
    }
  })
})
