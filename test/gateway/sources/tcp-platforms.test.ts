import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { encodeBody, encodeJt808, encodeSubpackages, type Jt808Body, type Jt808Header, } from '../../../devices/position/jt808/index.ts'
import { dataCp, encodeHj212, type Hj212Message, splitHj212 } from '../../../devices/water-quality/hj212/index.ts'
import type { DeviceInfo, RejectInput, SourceContext } from '../../../gateway/core/types.ts'
import { normalized, type RecordedBatch } from '../../helpers/normalized.ts'
import { createHj212Source } from '../../../gateway/sources/hj212/index.ts'
import { Hj212SourceConfig } from '../../../gateway/sources/hj212/config.ts'
import { createJt808Source, jt808AuthCode } from '../../../gateway/sources/jt808/index.ts'
import { Jt808SourceConfig } from '../../../gateway/sources/jt808/config.ts'
import { DISTRICT_ROUTES } from '../../../simulators/jt808/index.ts'
import { createTerminal } from '../../../simulators/jt808/terminal.ts'
import { createStation } from '../../../simulators/hj212/station.ts'
import { tempDir } from '../../helpers/env.ts'
import { freePort, sleep, waitFor } from '../../helpers/net.ts'
import { dialPlatform } from '../../helpers/platform-peer.ts'

/** A SourceContext that records what a source hands the gateway. */
function recorder(dataDir: string, inventory: DeviceInfo[] = []) {
  const ingested: RecordedBatch[] = []
  const rejects: RejectInput[] = []
  const offline: string[] = []
  const ctx: SourceContext = {
    log: pino({ level: 'silent' }),
    async ingest(b) {
      const { batch, result } = normalized(b, { receivedAt: Date.now() })
      ingested.push(batch)
      return result
    },
    async reject(r) {
      rejects.push(r)
    },
    devices: {
      get: (id) => inventory.find((d) => d.id === id),
      list: () => [],
      setOnline: (id, online) => {
        if (!online) offline.push(id)
        return true
      },
    },
    publish: async () => {},
    dataDir,
    now: () => Date.now(),
  }
  return { ctx, ingested, rejects, offline }
}

async function client(port: number) {
  const p = await dialPlatform(port)
  return { s: p.socket, jt: p.jt, hj: p.hj, closed: p.closed }
}

const stops: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const f of stops.splice(0).reverse()) await f()
})

describe('jt808 source (recording context)', () => {
  it('keeps the auth secret in dataDir: a terminal authenticates after a gateway restart', async () => {
    const tmp = tempDir()
    stops.push(async () => tmp.cleanup())
    const port = await freePort()
    const cfg = Jt808SourceConfig.parse({ type: 'jt808', port })
    const rec = recorder(tmp.dir)
    let src = createJt808Source(cfg)
    await src.start(rec.ctx)
    const t = createTerminal({ host: '127.0.0.1', port, phone: '13800000001', vehicle: 'bus', route: DISTRICT_ROUTES.bus, autoReport: false })
    await t.start()
    const code = t.stats().authCode!
    await t.stop()
    await src.stop()
    // The code is derived from the secret generated once and kept (owner-only) in dataDir.
    const secretFile = `${tmp.dir}/jt808-jt808-secret`
    expect(statSync(secretFile).mode & 0o777).toBe(0o600)
    expect(code).toBe(jt808AuthCode(readFileSync(secretFile, 'utf8').trim(), '13800000001'))
    src = createJt808Source(cfg)
    await src.start(rec.ctx)
    stops.push(() => src.stop())
    const again = createTerminal({ host: '127.0.0.1', port, phone: '13800000001', vehicle: 'bus', route: DISTRICT_ROUTES.bus, authCode: code, autoReport: false, version: 2019 })
    stops.push(() => again.stop())
    await again.start()
    expect(await again.report()).toBe(0)
    expect(rec.ingested).toHaveLength(1)
    // One location, one reading: the pipeline counts the accepted readings as the device's frames (issue 11).
    expect(rec.ingested[0]).toMatchObject({ source: 'jt808', device: '13800000001', kind: 'position', protocol: 'jt808' })
    expect(rec.ingested[0]!.readings).toHaveLength(1)
    expect(rec.rejects).toEqual([])
  })

  it('derived auth codes (issue 15): a terminal registered with one gateway authenticates with another that has the same authSecret, not with one that has another', async () => {
    const dirs = [tempDir(), tempDir(), tempDir()]
    stops.push(async () => {
      for (const d of dirs) d.cleanup()
    })
    const secret = 'district-7-shared-secret'
    const start = async (i: number, authSecret: string) => {
      const port = await freePort()
      const src = createJt808Source(Jt808SourceConfig.parse({ type: 'jt808', port, authSecret }))
      const rec = recorder(dirs[i]!.dir)
      await src.start(rec.ctx)
      stops.push(() => src.stop())
      return { port, rec }
    }
    const a = await start(0, secret)
    const t = createTerminal({ host: '127.0.0.1', port: a.port, phone: '13800000042', vehicle: 'bus', route: DISTRICT_ROUTES.bus, autoReport: false })
    await t.start()
    const code = t.stats().authCode!
    await t.stop()
    expect(code).toBe(jt808AuthCode(secret, '13800000042'))
    expect(code).toMatch(/^[0-9A-F]{16}$/)
    // Another gateway, its own data directory, the same secret: the terminal authenticates without registering.
    const b = await start(1, secret)
    const again = createTerminal({ host: '127.0.0.1', port: b.port, phone: '13800000042', vehicle: 'bus', route: DISTRICT_ROUTES.bus, authCode: code, autoReport: false })
    stops.push(() => again.stop())
    await again.start()
    expect(await again.report()).toBe(0)
    expect(b.rec.rejects).toEqual([])
    // A gateway with another secret refuses the code.
    const c = await start(2, 'another-secret-entirely')
    const wrong = createTerminal({ host: '127.0.0.1', port: c.port, phone: '13800000042', vehicle: 'bus', route: DISTRICT_ROUTES.bus, authCode: code, autoReport: false })
    await expect(wrong.start()).rejects.toThrow()
    await wrong.stop()
    expect(c.rec.rejects.map((r) => r.reason)).toEqual(['bad_auth_code'])
  })

  it('a code an earlier version issued (<dataDir>/jt808-<id>-auth.json) still authenticates its terminal', async () => {
    const tmp = tempDir()
    stops.push(async () => tmp.cleanup())
    writeFileSync(`${tmp.dir}/jt808-jt808-auth.json`, JSON.stringify({ '13800000044': 'A1B2C3D4E5F60718' }))
    const port = await freePort()
    const src = createJt808Source(Jt808SourceConfig.parse({ type: 'jt808', port, authSecret: 'district-7-shared-secret' }))
    const rec = recorder(tmp.dir)
    await src.start(rec.ctx)
    stops.push(() => src.stop())
    const t = createTerminal({ host: '127.0.0.1', port, phone: '13800000044', vehicle: 'bus', route: DISTRICT_ROUTES.bus, authCode: 'A1B2C3D4E5F60718', autoReport: false })
    stops.push(() => t.stop())
    await t.start()
    expect(await t.report()).toBe(0)
    expect(rec.rejects).toEqual([])
  })

  it('with registration closed, a terminal neither configured nor in the inventory has no code: unknown_terminal', async () => {
    const tmp = tempDir()
    stops.push(async () => tmp.cleanup())
    const port = await freePort()
    const src = createJt808Source(Jt808SourceConfig.parse({ type: 'jt808', port, allowRegistration: false, authSecret: 'district-7-shared-secret' }))
    const rec = recorder(tmp.dir)
    await src.start(rec.ctx)
    stops.push(() => src.stop())
    const t = createTerminal({ host: '127.0.0.1', port, phone: '13800000043', vehicle: 'bus', route: DISTRICT_ROUTES.bus, authCode: jt808AuthCode('district-7-shared-secret', '13800000043'), autoReport: false })
    await expect(t.start()).rejects.toThrow()
    await t.stop()
    expect(rec.rejects.map((r) => r.reason)).toEqual(['unknown_terminal'])
  })

  it('joins a batch upload split into subpackages; acknowledges every part with its own serial', async () => {
    const tmp = tempDir()
    stops.push(async () => tmp.cleanup())
    const port = await freePort()
    const src = createJt808Source(Jt808SourceConfig.parse({ type: 'jt808', port, authCodes: { '13800000002': 'CODE2' } }))
    const rec = recorder(tmp.dir)
    await src.start(rec.ctx)
    stops.push(() => src.stop())
    const c = await client(port)
    stops.push(async () => void c.s.destroy())
    const h = (msgId: number, serial: number): Jt808Header => ({ msgId, version: 2013, protocolVersion: 0, phone: '013800000002', serial, encryption: 0 })
    c.s.write(encodeJt808({ header: h(0x0102, 1), body: { type: 'auth', authCode: 'CODE2' } }))
    const loc = { alarm: 0, status: 2, latE6: 34_210_000, lonE6: 108_880_000, altitudeM: 410, speed01: 250, courseDeg: 45, items: [] }
    const body: Jt808Body = { type: 'location_batch', batchType: 0, locations: Array.from({ length: 40 }, (_, i) => ({ ...loc, time: Date.UTC(2026, 0, 1, 0, 0, i) })) }
    const parts = encodeSubpackages(h(0x0704, 2), encodeBody(h(0x0704, 2), body), 300)
    expect(parts.length).toBeGreaterThan(3)
    for (const p of parts) c.s.write(p)
    await waitFor(() => rec.ingested.length === 1, 5000, 'batch ingested')
    expect(rec.ingested[0]!.readings).toHaveLength(40)
    expect(rec.ingested[0]!.points.filter((p) => p.measurement === 'position')).toHaveLength(40)
    await waitFor(() => c.jt.length === 1 + parts.length, 5000, 'answers')
    // auth ok, then one 0x8001 per part (the last one once the whole batch is stored), each acknowledging
    // that part's serial; platform serials count up per terminal.
    expect(c.jt.map((m) => (m.body.type === 'platform_response' ? [m.body.ackMsgId, m.body.ackSerial, m.body.result] : []))).toEqual([
      [0x0102, 1, 0],
      ...parts.map((_, i) => [0x0704, 2 + i, 0]),
    ])
    expect(c.jt.map((m) => m.header.serial)).toEqual(c.jt.map((_, i) => i))
  })

  it('refuses locations before authentication, closes idle connections, and rate-limits', async () => {
    const tmp = tempDir()
    stops.push(async () => tmp.cleanup())
    const port = await freePort()
    const src = createJt808Source(Jt808SourceConfig.parse({ type: 'jt808', port, idleTimeoutSec: 1, rateLimitPerSec: 2, maxBadFrames: 100, authCodes: { '13800000003': 'C3' } }))
    const rec = recorder(tmp.dir)
    await src.start(rec.ctx)
    stops.push(() => src.stop())
    const c = await client(port)
    const h = (msgId: number, serial: number): Jt808Header => ({ msgId, version: 2013, protocolVersion: 0, phone: '013800000003', serial, encryption: 0 })
    const loc = { alarm: 0, status: 2, latE6: 34_210_000, lonE6: 108_880_000, altitudeM: 410, speed01: 250, courseDeg: 45, time: Date.UTC(2026, 0, 1), items: [] }
    c.s.write(encodeJt808({ header: h(0x0200, 1), body: { type: 'location', ...loc } }))
    await waitFor(() => rec.rejects.some((r) => r.reason === 'not_authenticated'), 5000, 'not_authenticated')
    c.s.write(encodeJt808({ header: h(0x0102, 2), body: { type: 'auth', authCode: 'C3' } }))
    // Burst of 10 heartbeats: the bucket holds 4 tokens (2/s, burst twice that); the refused location and the
    // auth took two, so 2 heartbeats pass and 8 are refused (7 if a token refilled meanwhile).
    for (let i = 0; i < 10; i++) c.s.write(encodeJt808({ header: h(0x0002, 3 + i), body: { type: 'heartbeat' } }))
    await waitFor(() => rec.rejects.filter((r) => r.reason === 'rate_limited').length >= 7, 5000, 'rate_limited')
    expect(rec.rejects.filter((r) => r.reason === 'rate_limited').length).toBeLessThanOrEqual(8)
    // Then silence: the idle timeout closes the connection and the terminal goes offline.
    await c.closed
    await waitFor(() => rec.offline.includes('13800000003') && src.connections() === 0, 5000, 'server side closed')
  })

  it('holds a thousand idle connections', async () => {
    const tmp = tempDir()
    stops.push(async () => tmp.cleanup())
    const port = await freePort()
    const src = createJt808Source(Jt808SourceConfig.parse({ type: 'jt808', port }))
    await src.start(recorder(tmp.dir).ctx)
    stops.push(() => src.stop())
    const socks: Socket[] = []
    stops.push(async () => {
      for (const s of socks) s.destroy()
    })
    for (let i = 0; i < 1000; i++) {
      const s = connect({ host: '127.0.0.1', port })
      s.on('error', () => {})
      socks.push(s)
    }
    await waitFor(() => src.connections() === 1000, 20_000, '1000 connections')
    await sleep(100)
    expect(src.health?.().detail).toContain('1000 connections')
  })
})

describe('hj212 source (recording context)', () => {
  it('joins PNUM/PNO parts into one point and answers each part with 9014', async () => {
    const tmp = tempDir()
    stops.push(async () => tmp.cleanup())
    const port = await freePort()
    const src = createHj212Source(Hj212SourceConfig.parse({ type: 'hj212', port, defaultPassword: 'pw' }))
    const rec = recorder(tmp.dir, [{ id: 'MN-LAKE', kind: 'water_quality', district: 'd', options: { waterBody: 'lake' }, configured: true }])
    await src.start(rec.ctx)
    stops.push(() => src.stop())
    const c = await client(port)
    stops.push(async () => void c.s.destroy())
    const whole: Hj212Message = {
      qn: '20260101080000000',
      st: '21',
      cn: '2061',
      pw: 'pw',
      mn: 'MN-LAKE',
      flag: 5,
      cp: dataCp(Date.UTC(2026, 0, 1), { w01001: { Avg: '7.5', Flag: 'N' }, w21011: { Avg: '0.04', Flag: 'N' }, w21001: { Avg: '0.9', Flag: 'N' } }),
    }
    const parts = splitHj212(whole, 1)
    // All parts in one write: the framer splits them.
    c.s.write(Buffer.concat(parts.map(encodeHj212)))
    await waitFor(() => rec.ingested.length === 1 && c.hj.length === 3, 5000, 'one point, three answers')
    expect(c.hj.map((m) => [m.cn, m.qn])).toEqual(parts.map(() => ['9014', whole.qn]))
    const p = rec.ingested[0]!.points[0]!
    expect(p.tags).toEqual({ interval: 'hour' })
    // Lake: TP 0.04 is class III (<= 0.05) and TN 0.9 class III (<= 1.0); the tie goes to TP, first in Table 1.
    expect(p.fields).toEqual({ ph: 7.5, total_phosphorus_mg_l: 0.04, total_nitrogen_mg_l: 0.9, gb3838_class: 3, gb3838_factor: 'total_phosphorus_mg_l' })
  })

  it('a data upload with no factor values (a heartbeat) is answered 9014, counted for presence, stores nothing, refuses nothing (issue 11)', async () => {
    const tmp = tempDir()
    stops.push(async () => tmp.cleanup())
    const port = await freePort()
    const src = createHj212Source(Hj212SourceConfig.parse({ type: 'hj212', port }))
    const rec = recorder(tmp.dir, [{ id: 'MN-HB', kind: 'water_quality', district: 'd', options: {}, configured: true }])
    const online: string[] = []
    const setOnline = rec.ctx.devices.setOnline
    rec.ctx.devices.setOnline = (id, on, why) => {
      if (on) online.push(id)
      return setOnline(id, on, why)
    }
    await src.start(rec.ctx)
    stops.push(() => src.stop())
    const c = await client(port)
    stops.push(async () => void c.s.destroy())
    const hb: Hj212Message = { qn: '20260101080000000', st: '21', cn: '2011', mn: 'MN-HB', flag: 5, cp: [[['DataTime', '20260101080000']]] }
    c.s.write(encodeHj212(hb))
    await waitFor(() => c.hj.length === 1, 5000, '9014 answer')
    expect(c.hj.map((m) => [m.cn, m.qn])).toEqual([['9014', hb.qn]])
    expect(online).toEqual(['MN-HB'])
    expect(rec.ingested).toEqual([])
    expect(rec.rejects).toEqual([])
  })

  it('a platform request nobody answers times out (CommandError timeout); closing the connection fails the ones in flight (not_connected)', async () => {
    const tmp = tempDir()
    stops.push(async () => tmp.cleanup())
    const port = await freePort()
    const src = createHj212Source(Hj212SourceConfig.parse({ type: 'hj212', port }))
    const rec = recorder(tmp.dir)
    await src.start(rec.ctx)
    stops.push(() => src.stop())
    const c = await client(port)
    stops.push(async () => void c.s.destroy())
    const up: Hj212Message = { qn: '20260101080000000', st: '21', cn: '2011', mn: 'MN-Q', flag: 5, cp: dataCp(Date.UTC(2026, 0, 1), { w01001: { Rtd: '7.1', Flag: 'N' } }) }
    c.s.write(encodeHj212(up))
    await waitFor(() => c.hj.length === 1, 5000, '9014 answer')
    await expect(src.command('MN-Q', '1061', [], 150)).rejects.toMatchObject({ code: 'timeout', message: expect.stringContaining('no 9012 from MN-Q') })
    const pending = src.command('MN-Q', '1061', [], 10_000)
    await waitFor(() => c.hj.length === 3, 5000, 'the two requests reached the logger')
    expect(c.hj.slice(1).map((m) => m.cn)).toEqual(['1061', '1061'])
    c.s.destroy()
    await expect(pending).rejects.toMatchObject({ code: 'not_connected' })
  })

  it('platform requests follow 9011 -> upload -> 9012 with the station simulator (1061, 1062, 1011, unsupported CN)', async () => {
    const tmp = tempDir()
    stops.push(async () => tmp.cleanup())
    const port = await freePort()
    const src = createHj212Source(Hj212SourceConfig.parse({ type: 'hj212', port, passwords: { 'MN-REQ': 'pw9' } }))
    const rec = recorder(tmp.dir)
    await src.start(rec.ctx)
    stops.push(() => src.stop())
    await expect(src.command('MN-REQ', '1061')).rejects.toMatchObject({ code: 'not_connected' })
    const station = createStation({ host: '127.0.0.1', port, mn: 'MN-REQ', pw: 'pw9', autoUpload: false })
    stops.push(() => station.stop())
    await station.start()
    // The gateway learns where MN-REQ is from its first upload.
    expect(await station.upload('2011')).toBe('9014')
    expect(await src.command('MN-REQ', '1061')).toEqual({ qnRtn: 1, exeRtn: 1, data: [[[['RtdInterval', '30']]]] })
    expect(await src.command('MN-REQ', '1062', [[['RtdInterval', '120']]])).toEqual({ qnRtn: 1, exeRtn: 1, data: [] })
    expect(station.stats().realtimeSec).toBe(120)
    expect(await src.command('MN-REQ', '1062', [[['RtdInterval', '5']]])).toEqual({ qnRtn: 1, exeRtn: 3, data: [] })
    const time = await src.command('MN-REQ', '1011')
    expect(time.data[0]?.[0]?.[0]?.[0]).toBe('SystemTime')
    expect(await src.command('MN-REQ', '3015')).toEqual({ qnRtn: 8, data: [] })
    // Answers are not readings: nothing stored or refused beyond the one upload.
    expect(rec.ingested).toHaveLength(1)
    expect(rec.rejects).toEqual([])
  })
})
