import { execFile } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import mqtt, { type MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashPassword } from '../../gateway/broker/passwords.ts'
import type { AuditRecord } from '../../gateway/core/audit.ts'
import { have, tempDir } from '../helpers/env.ts'
import { gatewayFrom, metricValue } from '../helpers/gateway.ts'
import { freePort, waitFor } from '../helpers/net.ts'

const run = promisify(execFile)

/** A CA, a server certificate for 127.0.0.1 and client certificates, made with openssl for this test. */
async function makePki(dir: string): Promise<void> {
  const ssl = (...args: string[]) => run('openssl', args, { cwd: dir })
  await ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=smartcity test CA')
  await ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'rogue-ca.key', '-out', 'rogue-ca.pem', '-days', '2', '-subj', '/CN=rogue CA')
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n')
  const leaf = async (name: string, cn: string, ca: string, ext?: string) => {
    await ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`)
    await ssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', ...(ext ? ['-extfile', ext] : []))
  }
  await leaf('server', '127.0.0.1', 'ca', 'server.ext')
  await leaf('wq-7', 'wq-7', 'ca')
  await leaf('rogue', 'wq-8', 'rogue-ca')
}

/**
 * 'refused' unless the client gets a CONNACK. With TLS 1.3 the server checks the client certificate after
 * the client's side of the handshake is done, so MQTT.js sees a closed socket, and its connectAsync does
 * not always reject then: a bounded wait stands for it.
 */
async function refusedConnect(url: string, o: mqtt.IClientOptions): Promise<'connected' | 'refused'> {
  const c = mqtt.connect(url, { ...o, reconnectPeriod: 0 })
  const r = await new Promise<'connected' | 'refused'>((resolve) => {
    const t = setTimeout(() => resolve('refused'), 3_000)
    const done = (v: 'connected' | 'refused') => {
      clearTimeout(t)
      resolve(v)
    }
    c.once('connect', () => done('connected'))
    c.once('error', () => done('refused'))
  })
  c.end(true)
  return r
}

const closed = (c: MqttClient) => new Promise<void>((resolve) => c.once('close', () => resolve()))

describe.skipIf(!have('openssl'))('embedded broker over TLS', () => {
  const tmp = tempDir()
  const f = (n: string) => join(tmp.dir, n)
  const read = (n: string) => readFileSync(f(n))
  beforeAll(() => makePki(tmp.dir), 60_000)
  afterAll(() => tmp.cleanup())

  it('a client certificate is the device identity; without one, or from another CA, the handshake is refused and audited', async () => {
    const [port, tlsPort, wssPort] = [await freePort(), await freePort(), await freePort()]
    const records: AuditRecord[] = []
    const gw = gatewayFrom(
      {
        dataDir: f('d1'),
        http: { enabled: false },
        broker: { type: 'embedded', port, tls: { port: tlsPort, wsPort: wssPort, cert: f('server.pem'), key: f('server.key'), ca: f('ca.pem'), requireClientCert: true } },
        devices: [{ id: 'wq-7', kind: 'water_quality', district: 'd1' }],
      },
      {},
      { audit: { record: (r) => void records.push(r) } },
    )
    await gw.start()
    try {
      expect(gw.broker.tlsPort?.()).toBe(tlsPort)
      const tls = { ca: read('ca.pem'), reconnectPeriod: 0, connectTimeout: 5_000 }
      const c = await mqtt.connectAsync(`mqtts://127.0.0.1:${tlsPort}`, { ...tls, cert: read('wq-7.pem'), key: read('wq-7.key') })
      await c.publishAsync('city/d1/water_quality/wq-7/telemetry', '{"ph": 7.3}', { qos: 1 })
      expect(await metricValue(gw, 'smartcity_readings_accepted_total')).toBe(1)
      expect(records.find((r) => r.action === 'mqtt.connect' && r.outcome === 'ok')).toMatchObject({ actor: 'wq-7', detail: 'via cert' })
      // The certificate says wq-7: another device's topic is refused like a password-authenticated one.
      const gone = closed(c)
      c.publish('city/d1/water_quality/wq-9/telemetry', '{"ph": 7.3}', { qos: 1 })
      await gone
      c.end(true)
      expect(records.find((r) => r.action === 'mqtt.publish')).toMatchObject({ actor: 'wq-7', reason: 'not_authorized' })

      // No client certificate, or one signed by another CA: refused in the handshake.
      expect(await refusedConnect(`mqtts://127.0.0.1:${tlsPort}`, tls)).toBe('refused')
      expect(await refusedConnect(`mqtts://127.0.0.1:${tlsPort}`, { ...tls, cert: read('rogue.pem'), key: read('rogue.key') })).toBe('refused')
      await waitFor(async () => (await metricValue(gw, 'smartcity_mqtt_refused_total', { action: 'connect', reason: 'tls_handshake_failed' })) >= 2, 5_000, 'two handshake refusals')
      expect(records.filter((r) => r.reason === 'tls_handshake_failed').length).toBeGreaterThanOrEqual(2)

      // MQTT over secure WebSocket, the same certificate and identity.
      const w = await mqtt.connectAsync(`wss://127.0.0.1:${wssPort}`, { ...tls, cert: read('wq-7.pem'), key: read('wq-7.key') })
      await w.publishAsync('city/d1/water_quality/wq-7/telemetry', '{"ph": 7.4}', { qos: 1 })
      await w.endAsync()
      expect(await metricValue(gw, 'smartcity_readings_accepted_total')).toBe(2)

      // The plain listener needs credentials now that identities are required: anonymous is refused there.
      await expect(mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 })).rejects.toThrow(/Not authorized/i)
    } finally {
      await gw.stop()
    }
  })

  it.skipIf(!have('mosquitto_pub'))('mosquitto_pub over TLS with a password (no client certificate required), and reload() takes a renewed certificate', async () => {
    const pw = f('passwd')
    writeFileSync(pw, `wq-3:${await hashPassword('pw3')}\n`)
    const tlsPort = await freePort()
    const gw = gatewayFrom({ dataDir: f('d2'), http: { enabled: false }, broker: { type: 'embedded', port: 0, auth: { passwordFile: pw }, tls: { port: tlsPort, cert: f('server.pem'), key: f('server.key') } } })
    await gw.start()
    try {
      const pub = (password: string) =>
        run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(tlsPort), '--cafile', f('ca.pem'), '-u', 'wq-3', '-P', password, '-q', '1', '-t', 'city/d1/water_quality/wq-3/telemetry', '-m', '{"ph": 7}']).then(
          () => 'ok',
          (e: { stderr: string }) => e.stderr,
        )
      expect(await pub('pw3')).toBe('ok')
      expect(await pub('nope')).toMatch(/not authori[sz]ed|bad user/i)
      expect(await metricValue(gw, 'smartcity_readings_accepted_total')).toBe(1)
      // A renewed server certificate (a new key, same CA) is taken on reload without a restart.
      await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server2.key', '-out', 'server2.csr', '-subj', '/CN=127.0.0.1'], { cwd: tmp.dir })
      await run('openssl', ['x509', '-req', '-in', 'server2.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server2.pem', '-days', '2', '-extfile', 'server.ext'], { cwd: tmp.dir })
      writeFileSync(f('server.pem'), read('server2.pem'))
      writeFileSync(f('server.key'), read('server2.key'))
      await gw.broker.reload()
      const served = await run('sh', ['-c', `echo | openssl s_client -connect 127.0.0.1:${tlsPort} -CAfile ${f('ca.pem')} 2>/dev/null | openssl x509 -noout -fingerprint -sha256`])
      const want = await run('openssl', ['x509', '-in', f('server2.pem'), '-noout', '-fingerprint', '-sha256'])
      expect(served.stdout.trim()).toBe(want.stdout.trim())
      expect(await pub('pw3')).toBe('ok')
    } finally {
      await gw.stop()
    }
  })
})
