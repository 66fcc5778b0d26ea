import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { request } from 'node:https'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { newToken } from '../../gateway/http/auth.ts'
import { have, tempDir } from '../helpers/env.ts'
import { gatewayFrom } from '../helpers/gateway.ts'

/** GET over HTTPS trusting `ca` only: status and body. */
function get(url: string, ca: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.setTimeout(5000, () => req.destroy(new Error('timeout')))
    req.end()
  })
}

describe.skipIf(!have('openssl'))('HTTPS from http.tls (a certificate made here with openssl)', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('serves the API over TLS with the configured certificate; tokens work the same; a missing key file fails start-up naming http', async () => {
    const cert = join(tmp.dir, 'cert.pem')
    const key = join(tmp.dir, 'key.pem')
    // A self-signed certificate for 127.0.0.1 (subjectAltName IP: Node checks it against the host).
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=smartcity-test', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
    const ca = readFileSync(cert)
    const t = newToken()
    const gw = gatewayFrom({ dataDir: join(tmp.dir, 'gw'), http: { port: 0, tls: { cert, key }, tokens: [{ name: 'ops', sha256: t.sha256, scopes: ['read'] }] } }, { mqttPort: 0 })
    await gw.start()
    try {
      const url = gw.endpoints().http!
      expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
      expect(await get(`${url}/api/devices`, ca, { authorization: `Bearer ${t.token}` })).toMatchObject({ status: 200, body: '{"devices":[]}' })
      expect((await get(`${url}/api/devices`, ca)).status).toBe(401)
      // A client that does not trust the certificate is refused by TLS itself.
      await expect(get(`${url}/healthz`, Buffer.from(''))).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i)
      // Plain HTTP on the TLS port gets no API answer.
      const plain = await fetch(url.replace('https:', 'http:') + '/healthz').then(
        (r) => r.status,
        () => 'refused',
      )
      expect(plain).not.toBe(200)
    } finally {
      await gw.stop()
    }
    const broken = gatewayFrom({ dataDir: join(tmp.dir, 'gw2'), http: { port: 0, tls: { cert, key: join(tmp.dir, 'missing.pem') } } }, { mqttPort: 0 })
    await expect(broken.start()).rejects.toMatchObject({ code: 'start_failed', message: expect.stringContaining('http') })
  })
})
