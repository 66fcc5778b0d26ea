import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import mqtt, { type MqttClient } from 'mqtt'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { createBroker } from '../../gateway/broker/index.ts'
import { hashPassword } from '../../gateway/broker/passwords.ts'
import { checkBrokerFiles } from '../../gateway/broker/security.ts'
import { parseConfig } from '../../gateway/config.ts'
import type { AuditRecord } from '../../gateway/core/audit.ts'
import { have, tempDir } from '../helpers/env.ts'
import { gatewayFrom, metricValue } from '../helpers/gateway.ts'
import { freePort, sleep, waitFor } from '../helpers/net.ts'

const run = promisify(execFile)

function collector() {
  const records: AuditRecord[] = []
  return { records, audit: { record: (r: AuditRecord) => void records.push(r) } }
}

const connect = (port: number, o: mqtt.IClientOptions = {}) => mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 5_000, ...o })

/** Resolves when the broker closes the client's connection (how MQTT 3.1.1 refuses a PUBLISH). */
const closed = (c: MqttClient) => new Promise<void>((resolve) => c.once('close', () => resolve()))

/** The SUBACK return codes (0x80 = refused): MQTT.js rejects a SUBACK with any refusal, the packet attached. */
async function granted(c: MqttClient, topics: string | string[], qos: 0 | 1 = 0): Promise<number[]> {
  try {
    return (await c.subscribeAsync(topics, { qos })).map((g) => g.qos)
  } catch (err) {
    const packet = (err as { packet?: { granted?: number[] } }).packet
    if (!packet?.granted) throw err
    return packet.granted
  }
}

async function passwordFile(file: string, users: Record<string, string>): Promise<void> {
  const lines = await Promise.all(Object.entries(users).map(async ([u, p]) => `${u}:${await hashPassword(p)}`))
  writeFileSync(file, `# test devices\n${lines.join('\n')}\n`)
}

const refused = (gw: Parameters<typeof metricValue>[0], action: string, reason: string) => metricValue(gw, 'smartcity_mqtt_refused_total', { action, reason })

describe('embedded broker identities and the default ACL', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('refuses wrong credentials and anonymous clients, and a device publishing under another device is refused and audited', async () => {
    const pw = join(tmp.dir, 'passwd')
    await passwordFile(pw, { 'wq-1': 'pw-one', 'wq-2': 'pw-two' })
    const port = await freePort()
    const { records, audit } = collector()
    const gw = gatewayFrom(
      {
        dataDir: join(tmp.dir, 'd1'),
        http: { enabled: false },
        broker: { type: 'embedded', port, auth: { passwordFile: pw } },
        devices: [
          { id: 'wq-1', kind: 'water_quality', district: 'd1' },
          { id: 'wq-2', kind: 'water_quality', district: 'd1' },
        ],
      },
      {},
      { audit },
    )
    await gw.start()
    try {
      await expect(connect(port, { username: 'wq-1', password: 'pw-two' })).rejects.toThrow(/Bad username or password/i)
      await expect(connect(port, { username: 'nobody', password: 'x' })).rejects.toThrow(/Bad username or password/i)
      await expect(connect(port)).rejects.toThrow(/Not authorized/i)
      expect(await refused(gw, 'connect', 'bad_credentials')).toBe(2)
      expect(await refused(gw, 'connect', 'not_authorized')).toBe(1)
      expect(records.filter((r) => r.action === 'mqtt.connect' && r.outcome === 'denied').map((r) => [r.actor, r.reason])).toEqual([
        ['wq-1', 'bad_credentials'],
        ['nobody', 'bad_credentials'],
        ['anonymous', 'not_authorized'],
      ])
      expect(records.find((r) => r.reason === 'bad_credentials')?.address).toMatch(/^127\.0\.0\.1:\d+$/)

      // wq-2 writes as wq-1: the connection is closed and the QoS 1 message never acknowledged.
      const spoofer = await connect(port, { username: 'wq-2', password: 'pw-two' })
      const gone = closed(spoofer)
      let acked = false
      spoofer.publish('city/d1/water_quality/wq-1/telemetry', '{"ph": 7.1}', { qos: 1 }, (err) => {
        if (!err) acked = true
      })
      await gone
      spoofer.end(true)
      expect(acked).toBe(false)
      expect(await refused(gw, 'publish', 'not_authorized')).toBe(1)
      const denied = records.find((r) => r.action === 'mqtt.publish')
      expect(denied).toMatchObject({ actor: 'wq-2', actorType: 'device', outcome: 'denied', reason: 'not_authorized', target: 'city/d1/water_quality/wq-1/telemetry' })
      // Another district for the same device is not its topic either (the inventory says d1).
      const wrongDistrict = await connect(port, { username: 'wq-1', password: 'pw-one' })
      const gone2 = closed(wrongDistrict)
      wrongDistrict.publish('city/d9/water_quality/wq-1/telemetry', '{"ph": 7.1}', { qos: 0 })
      await gone2
      wrongDistrict.end(true)
      expect(await metricValue(gw, 'smartcity_readings_accepted_total')).toBe(0)

      // The device itself: accepted, and the connection audited as ok.
      const own = await connect(port, { username: 'wq-1', password: 'pw-one' })
      await own.publishAsync('city/d1/water_quality/wq-1/telemetry', '{"ph": 7.2}', { qos: 1 })
      expect(await metricValue(gw, 'smartcity_readings_accepted_total')).toBe(1)
      expect(records.some((r) => r.action === 'mqtt.connect' && r.outcome === 'ok' && r.actor === 'wq-1')).toBe(true)

      // It subscribes to its own command topics only: SUBACK 0x80 for anything else, audited.
      expect(await granted(own, ['city/d1/water_quality/wq-1/command/#', 'city/#', 'city/d1/water_quality/wq-2/command/#'], 1)).toEqual([1, 128, 128])
      expect(await refused(gw, 'subscribe', 'not_authorized')).toBe(2)
      expect(records.filter((r) => r.action === 'mqtt.subscribe').map((r) => r.target)).toEqual(['city/#', 'city/d1/water_quality/wq-2/command/#'])
      // The gateway's own publishes pass no ACL; the device gets its command.
      const got = new Promise<string>((resolve) => own.once('message', (t, p) => resolve(`${t} ${p}`)))
      await gw.broker.publish('city/d1/water_quality/wq-1/command/reboot', '{}', { qos: 1 })
      expect(await got).toBe('city/d1/water_quality/wq-1/command/reboot {}')
      await own.endAsync()
    } finally {
      await gw.stop()
    }
  })

  it.skipIf(!have('mosquitto_pub'))('mosquitto_pub as an independent client: refused with a wrong password, delivered with the right one', async () => {
    const pw = join(tmp.dir, 'passwd-mp')
    await passwordFile(pw, { 'wq-5': 'right' })
    const port = await freePort()
    const gw = gatewayFrom({ dataDir: join(tmp.dir, 'd2'), http: { enabled: false }, broker: { type: 'embedded', port, auth: { passwordFile: pw } } })
    await gw.start()
    try {
      const args = ['-h', '127.0.0.1', '-p', String(port), '-q', '1', '-t', 'city/d1/water_quality/wq-5/telemetry', '-m', '{"ph": 7}']
      const bad = await run('mosquitto_pub', [...args, '-u', 'wq-5', '-P', 'wrong']).then(
        () => 'ok',
        (e: { stderr: string }) => e.stderr,
      )
      expect(bad).toMatch(/not authori[sz]ed|bad user/i)
      await run('mosquitto_pub', [...args, '-u', 'wq-5', '-P', 'right'])
      expect(await metricValue(gw, 'smartcity_readings_accepted_total')).toBe(1)
      // Under another device's id: mosquitto_pub sees its connection closed, nothing is stored.
      await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-q', '1', '-t', 'city/d1/water_quality/wq-6/telemetry', '-m', '{"ph": 7}', '-u', 'wq-5', '-P', 'right']).catch(() => undefined)
      expect(await metricValue(gw, 'smartcity_readings_accepted_total')).toBe(1)
      expect(await refused(gw, 'publish', 'not_authorized')).toBe(1)
    } finally {
      await gw.stop()
    }
  })

  it('an ACL file with %u patterns; a will outside it refuses the connection; reload() takes new credentials and ACL, and keeps the old on a broken file', async () => {
    const pw = join(tmp.dir, 'passwd-acl')
    const aclFile = join(tmp.dir, 'acl')
    await passwordFile(pw, { 'el-1': 'a', ops: 'o' })
    writeFileSync(aclFile, 'pattern write city/+/elevator/%u/#\nuser ops\ntopic read city/+/alarms/#\n')
    const port = await freePort()
    const { records, audit } = collector()
    const raw = { dataDir: join(tmp.dir, 'd3'), http: { enabled: false }, broker: { type: 'embedded' as const, port, auth: { passwordFile: pw, aclFile } } }
    const gw = gatewayFrom(raw, {}, { audit })
    await gw.start()
    try {
      const el = await connect(port, { username: 'el-1', password: 'a' })
      await el.publishAsync('city/t1/elevator/el-1/telemetry', '{"floor": 3}', { qos: 1 })
      await el.endAsync()
      const ops = await connect(port, { username: 'ops', password: 'o' })
      expect(await granted(ops, 'city/+/alarms/#')).toEqual([0])
      expect(await granted(ops, 'city/+/elevator/#')).toEqual([128])
      // A will on a topic the client may not write: CONNACK 5 (as Mosquitto refuses it).
      await expect(connect(port, { username: 'el-1', password: 'a', will: { topic: 'city/t1/elevator/el-2/status', payload: Buffer.from('offline'), qos: 1, retain: true } })).rejects.toThrow(/Not authorized/i)
      expect(records.some((r) => r.action === 'mqtt.connect' && r.target === 'city/t1/elevator/el-2/status')).toBe(true)

      // A new device and a changed password for ops: after reload the new one connects, ops is disconnected.
      await expect(connect(port, { username: 'el-2', password: 'b' })).rejects.toThrow(/Bad username/i)
      const opsGone = closed(ops)
      await passwordFile(pw, { 'el-1': 'a', 'el-2': 'b', ops: 'changed' })
      await gw.broker.reload()
      await opsGone
      ops.end(true)
      const el2 = await connect(port, { username: 'el-2', password: 'b' })
      await el2.publishAsync('city/t1/elevator/el-2/telemetry', '{"floor": 1}', { qos: 1 })
      await el2.endAsync()

      // A broken ACL file: reload rejects, the old ACL and credentials stay in force.
      writeFileSync(aclFile, 'pattern write city/#/x\n')
      await expect(gw.broker.reload()).rejects.toThrow(/acl:1: # must be the last level/)
      const still = await connect(port, { username: 'el-2', password: 'b' })
      await still.publishAsync('city/t1/elevator/el-2/telemetry', '{"floor": 2}', { qos: 1 })
      await still.endAsync()
      expect(await metricValue(gw, 'smartcity_readings_accepted_total')).toBe(3)

      // A new broker section on reload (what SIGHUP hands over): the ACL file goes, the default applies.
      const next = parseConfig({ ...raw, broker: { type: 'embedded', port, auth: { passwordFile: pw } } })
      if (!next.ok) throw new Error(next.problems.join())
      await gw.broker.reload({ config: next.config.broker })
      const el1 = await connect(port, { username: 'el-1', password: 'a' })
      expect(await granted(el1, 'city/t1/elevator/el-1/command/#')).toEqual([0])
      await el1.endAsync()
    } finally {
      await gw.stop()
    }
  })

  it('a broken credentials file is a start failure, never an open broker', async () => {
    const pw = join(tmp.dir, 'passwd-bad')
    writeFileSync(pw, 'wq-1:plaintext\n')
    const gw = gatewayFrom({ dataDir: join(tmp.dir, 'd4'), http: { enabled: false }, broker: { type: 'embedded', port: 0, auth: { passwordFile: pw } } })
    await expect(gw.start()).rejects.toMatchObject({ code: 'start_failed', message: expect.stringContaining('passwd-bad:1') })
  })

  it('check-config: credentials, ACL and TLS files load, and client certificates need our own CA', async () => {
    const pw = join(tmp.dir, 'pw-check')
    const acl = join(tmp.dir, 'acl-check')
    writeFileSync(pw, 'wq-1:clear-text-password\n')
    writeFileSync(acl, 'topic sideways a/b\ntopic read a/#/b\n')
    const problems = await checkBrokerFiles({ type: 'embedded', auth: { passwordFile: pw, aclFile: acl }, tls: { port: 8883, cert: join(tmp.dir, 'missing.pem'), key: pw, requireClientCert: false } })
    expect(problems).toEqual([
      `broker.auth.passwordFile: ${pw}:1: user wq-1: expected scrypt$N$r$p$salt$hash`,
      `broker.auth.aclFile: ${acl}:2: # must be the last level: a/#/b`,
      expect.stringMatching(/^broker\.tls\.cert: ENOENT/),
    ])
    // The password itself is never repeated in a problem.
    expect(problems.join()).not.toContain('clear-text-password')
    const r = parseConfig({ broker: { type: 'embedded', tls: { cert: 'c.pem', key: 'k.pem', requireClientCert: true } } })
    expect(!r.ok && r.problems).toEqual([expect.stringContaining('broker.tls.ca: requireClientCert needs ca')])
  })

  it('allowAnonymous with identities configured: an anonymous client is bound to its client id', async () => {
    const pw = join(tmp.dir, 'passwd-anon')
    await passwordFile(pw, { 'wq-1': 'x' })
    const port = await freePort()
    const gw = gatewayFrom({ dataDir: join(tmp.dir, 'd6'), http: { enabled: false }, broker: { type: 'embedded', port, auth: { passwordFile: pw, allowAnonymous: true } } })
    await gw.start()
    try {
      const c = await connect(port, { clientId: 'wq-anon' })
      await c.publishAsync('city/d1/water_quality/wq-anon/telemetry', '{"ph": 7}', { qos: 1 })
      const gone = closed(c)
      c.publish('city/d1/water_quality/wq-1/telemetry', '{"ph": 7}', { qos: 1 })
      await gone
      c.end(true)
      expect(await metricValue(gw, 'smartcity_readings_accepted_total')).toBe(1)
      expect(await refused(gw, 'publish', 'not_authorized')).toBe(1)
    } finally {
      await gw.stop()
    }
  })

  it('a client refused in a loop: every refusal counted, the audit log gets the first 20 and then one per 10 s saying how many more', async () => {
    const pw = join(tmp.dir, 'passwd-flood')
    await passwordFile(pw, { 'wq-1': 'x' })
    const port = await freePort()
    const cfg = parseConfig({ broker: { type: 'embedded', port, auth: { passwordFile: pw } } })
    if (!cfg.ok) throw new Error(cfg.problems.join())
    let t = 1_000_000
    let counted = 0
    const { records, audit } = collector()
    const broker = createBroker(cfg.config.broker, pino({ level: 'silent' }), { audit, now: () => t, refused: () => void counted++ })
    await broker.start()
    try {
      for (let i = 0; i < 30; i++) await expect(connect(port)).rejects.toThrow(/Not authorized/i)
      expect(counted).toBe(30)
      expect(records.length).toBe(20)
      t += 10_000
      await expect(connect(port)).rejects.toThrow(/Not authorized/i)
      expect(records.length).toBe(21)
      expect(records[20]?.detail).toContain('and 10 more like it from this address')
    } finally {
      await broker.stop()
    }
  })

  it('an open broker stays open (no identities configured): any client, any topic, as before', async () => {
    const port = await freePort()
    const gw = gatewayFrom({ dataDir: join(tmp.dir, 'd5'), http: { enabled: false }, broker: { type: 'embedded', port } })
    await gw.start()
    try {
      const c = await connect(port)
      await c.publishAsync('city/d1/water_quality/anything/telemetry', '{"ph": 7}', { qos: 1 })
      expect(await granted(c, 'city/#')).toEqual([0])
      await c.endAsync()
      expect(await metricValue(gw, 'smartcity_readings_accepted_total')).toBe(1)
    } finally {
      await gw.stop()
    }
  })
})

describe('embedded broker limits', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('connections, message rate (token bucket) and packet size: each refusal counted by reason', async () => {
    const port = await freePort()
    const { records, audit } = collector()
    const gw = gatewayFrom(
      { dataDir: join(tmp.dir, 'l1'), http: { enabled: false }, broker: { type: 'embedded', port, limits: { maxConnections: 1, messagesPerSec: 1, burst: 3, maxPacketBytes: 1024 } } },
      {},
      { audit },
    )
    await gw.start()
    try {
      const a = await connect(port)
      await expect(connect(port)).rejects.toThrow(/Server unavailable/i)
      expect(await refused(gw, 'connect', 'too_many_connections')).toBe(1)
      // A burst of 3 passes, the 4th within the second is over the rate: the connection closes.
      const gone = closed(a)
      for (let i = 0; i < 6; i++) a.publish('city/d1/water_quality/wq-r/telemetry', `{"ph": 7.${i}}`, { qos: 0 })
      await gone
      a.end(true)
      expect(await refused(gw, 'publish', 'rate_limited')).toBe(1)
      await waitFor(async () => (await metricValue(gw, 'smartcity_readings_accepted_total')) === 3, 5_000, '3 readings')
      // The bucket refills: a new connection after a second may publish again.
      await sleep(1_100)
      const b = await connect(port)
      await b.publishAsync('city/d1/water_quality/wq-r/telemetry', '{"ph": 7.9}', { qos: 1 })
      // 2 KB in one packet, over maxPacketBytes: closed on the fixed header, before the body is buffered.
      const gone2 = closed(b)
      b.publish('city/d1/water_quality/wq-r/telemetry', 'x'.repeat(2048), { qos: 1 })
      await gone2
      b.end(true)
      expect(await refused(gw, 'publish', 'payload_too_large')).toBe(1)
      expect(records.find((r) => r.reason === 'payload_too_large')?.detail).toMatch(/packet of \d+ bytes > 1024/)
      expect(await metricValue(gw, 'smartcity_readings_accepted_total')).toBe(4)
    } finally {
      await gw.stop()
    }
  })

  it('the token bucket is per device: reconnecting does not give a fresh burst', async () => {
    const pw = join(tmp.dir, 'passwd-rate')
    await passwordFile(pw, { 'wq-r': 'r' })
    const port = await freePort()
    const gw = gatewayFrom({ dataDir: join(tmp.dir, 'l2'), http: { enabled: false }, broker: { type: 'embedded', port, auth: { passwordFile: pw }, limits: { messagesPerSec: 0.2, burst: 2 } } })
    await gw.start()
    try {
      const a = await connect(port, { username: 'wq-r', password: 'r' })
      await a.publishAsync('city/d1/water_quality/wq-r/telemetry', '{"ph": 7.1}', { qos: 1 })
      await a.publishAsync('city/d1/water_quality/wq-r/telemetry', '{"ph": 7.2}', { qos: 1 })
      await a.endAsync()
      const b = await connect(port, { username: 'wq-r', password: 'r' })
      const gone = closed(b)
      b.publish('city/d1/water_quality/wq-r/telemetry', '{"ph": 7.3}', { qos: 1 })
      await gone
      b.end(true)
      expect(await refused(gw, 'publish', 'rate_limited')).toBe(1)
      expect(await metricValue(gw, 'smartcity_readings_accepted_total')).toBe(2)
    } finally {
      await gw.stop()
    }
  })

  it('in-flight QoS 1 messages of one client: over the limit the connection closes, none of them acknowledged early', async () => {
    const port = await freePort()
    const cfg = parseConfig({ broker: { type: 'embedded', port, limits: { maxInflight: 2 } } })
    if (!cfg.ok) throw new Error(cfg.problems.join())
    let refusedReason = ''
    const broker = createBroker(cfg.config.broker, pino({ level: 'silent' }), { refused: (_a, r) => (refusedReason = r) })
    // A handler that holds every message (a slow spool): nothing is acknowledged until released.
    let release: () => void = () => {}
    const held = new Promise<void>((resolve) => (release = resolve))
    broker.onMessages(['city/#'], 1, () => held)
    await broker.start()
    try {
      const c = await connect(port)
      const gone = closed(c)
      const acks: number[] = []
      for (let i = 0; i < 3; i++) c.publish(`city/d1/water_quality/wq-i/telemetry`, `${i}`, { qos: 1 }, (err) => (err ? undefined : acks.push(i)))
      await gone
      release()
      await sleep(100)
      c.end(true)
      expect(refusedReason).toBe('too_many_inflight')
      expect(acks).toEqual([])
    } finally {
      await broker.stop()
    }
  })
})
