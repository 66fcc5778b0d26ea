import { createServer, type IncomingMessage, type Server } from 'node:http'
import pino from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { joinLines } from '../../../gateway/core/spool.ts'
import { InfluxV1SinkConfig } from '../../../gateway/sinks/config.ts'
import { createInfluxV1Sink } from '../../../gateway/sinks/influx-v1.ts'
import { have, tempDir } from '../../helpers/env.ts'
import { type InfluxServer, startInflux } from '../../helpers/influx.ts'

/**
 * InfluxDB 1.x authentication, as documented at
 * https://docs.influxdata.com/influxdb/v1/administration/authentication_and_authorization/ : "Authenticate
 * with Basic authentication as described in RFC 2617" (`Authorization: Basic base64(user:password)`) is
 * preferred over the `u=`/`p=` query parameters, which end up in URLs and so in influxd's access log.
 */

interface Seen {
  method: string
  url: string
  headers: IncomingMessage['headers']
}

/**
 * A local HTTP server on 127.0.0.1 answering like InfluxDB 1.x (`/ping` 204, `/query` JSON results,
 * `/write` 204) that records each request's URL and headers.
 */
async function recorder(): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = []
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers })
      const u = new URL(req.url ?? '/', 'http://x')
      const headers = { 'x-influxdb-version': '1.6.7', 'content-type': 'application/json' }
      if (u.pathname === '/ping' || u.pathname === '/write') res.writeHead(204, headers).end()
      else if (u.pathname === '/query' && /^show databases$/i.test(u.searchParams.get('q') ?? '')) {
        res.writeHead(200, headers).end('{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"],"values":[["_internal"]]}]}]}')
      } else if (u.pathname === '/query') res.writeHead(200, headers).end('{"results":[{"statement_id":0}]}')
      else res.writeHead(404, headers).end('{"error":"not found"}')
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const a = server.address()
  if (!a || typeof a !== 'object') throw new Error('no address')
  return { url: `http://127.0.0.1:${a.port}`, seen, server }
}

const log = pino({ level: 'silent' })
const lines = ['water_quality,device=wq-1,district=d1,kind=water_quality,protocol=mqtt ph=7.1 1795000000000', 'water_quality,device=wq-2,district=d1,kind=water_quality,protocol=mqtt ph=6.9 1795000000001']
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`

describe('influx-v1 sink credentials, against a local server that records every request', () => {
  let server: Server | undefined
  afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())))

  it('sends Authorization: Basic on create-database, write and ping, and never u= or p= in a URL', async () => {
    const f = await recorder()
    server = f.server
    const sink = createInfluxV1Sink(InfluxV1SinkConfig.parse({ type: 'influx-v1', url: f.url, database: 'city', username: 'gateway', password: 'p@ss:w rd&p=1' }), log)
    await sink.start()
    expect(await sink.write(joinLines(lines))).toEqual({ kind: 'accepted' })
    expect((await sink.health?.())?.status).toBe('ok')
    await sink.close()
    const paths = f.seen.map((s) => `${s.method} ${new URL(s.url, 'http://x').pathname}`)
    expect(paths).toEqual(expect.arrayContaining(['GET /query', 'POST /query', 'POST /write', 'GET /ping']))
    expect(f.seen.some((s) => /CREATE DATABASE/i.test(new URL(s.url, 'http://x').searchParams.get('q') ?? ''))).toBe(true)
    for (const s of f.seen) {
      const q = new URL(s.url, 'http://x').searchParams
      expect(q.has('u') || q.has('p'), s.url).toBe(false)
      expect(s.url).not.toMatch(/[?&][up]=/)
      expect(s.url).not.toContain('gateway')
      expect(s.headers['authorization'], s.url).toBe(basic('gateway', 'p@ss:w rd&p=1'))
    }
    const write = f.seen.find((s) => s.url.startsWith('/write'))!
    expect(Object.fromEntries(new URL(write.url, 'http://x').searchParams)).toEqual({ db: 'city', precision: 'ms' })
  })

  it('sends no Authorization header (not even the influx client\'s default root:root) without a username', async () => {
    const f = await recorder()
    server = f.server
    for (const creds of [{}, { username: '', password: '' }]) {
      const sink = createInfluxV1Sink(InfluxV1SinkConfig.parse({ type: 'influx-v1', url: f.url, database: 'city', ...creds }), log)
      expect(await sink.write(joinLines(lines))).toEqual({ kind: 'accepted' })
      expect((await sink.health?.())?.status).toBe('ok')
      await sink.close()
    }
    expect(f.seen.filter((s) => s.url.startsWith('/write'))).toHaveLength(2)
    expect(f.seen.filter((s) => s.url.startsWith('/ping'))).toHaveLength(2)
    for (const s of f.seen) expect(s.headers['authorization'], s.url).toBeUndefined()
  })
})

describe.skipIf(!have('influxd'))('influx-v1 sink against Debian influxd with [http] auth-enabled = true', () => {
  const tmp = tempDir('influx-auth-')
  const admin = { username: 'admin', password: "s3cret: it's" }
  let influx: InfluxServer
  beforeAll(async () => {
    influx = await startInflux(tmp.dir, { admin })
  })
  afterAll(async () => {
    await influx?.stop()
    tmp.cleanup()
  })

  it('creates the database and writes with the admin user; refuses a wrong password and no credentials', async () => {
    const good = createInfluxV1Sink(InfluxV1SinkConfig.parse({ type: 'influx-v1', url: influx.url, database: 'authdb', ...admin }), log)
    await good.start()
    expect(await good.write(joinLines(lines))).toEqual({ kind: 'accepted' })
    expect(await influx.count('authdb', 'water_quality', 'ph')).toBe(2)
    expect((await good.health?.())?.status).toBe('ok')
    await good.close()

    for (const creds of [{ username: 'admin', password: 'wrong' }, {}]) {
      const bad = createInfluxV1Sink(InfluxV1SinkConfig.parse({ type: 'influx-v1', url: influx.url, database: 'authdb', createDatabase: false, ...creds }), log)
      const r = await bad.write(joinLines(['water_quality,device=wq-3,district=d1,kind=water_quality,protocol=mqtt ph=7 1795000000002']))
      expect(r.kind).toBe('retry')
      expect(r.kind === 'retry' && r.reason).toMatch(/^HTTP 401/)
      await bad.close()
    }
    expect(await influx.count('authdb', 'water_quality', 'ph')).toBe(2)
  })
})
