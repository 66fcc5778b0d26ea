import { createServer, type IncomingMessage, type Server } from 'node:http'
import { gunzipSync } from 'node:zlib'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { joinLines } from '../../../gateway/core/spool.ts'
import { InfluxV2SinkConfig } from '../../../gateway/sinks/config.ts'
import { createInfluxV2Sink } from '../../../gateway/sinks/influx-v2.ts'

interface Seen {
  method: string
  path: string
  query: URLSearchParams
  headers: IncomingMessage['headers']
  body: string
}

/**
 * A local HTTP endpoint standing in for InfluxDB 2's write API (no 2.x server on this machine). It checks the
 * request as the InfluxDB 2 API reference documents `POST /api/v2/write`: query `org`, `bucket`,
 * `precision`; header `Authorization: Token <token>`; a line-protocol body (plain or gzip), and answers
 * 204 on success, 400/401/413/429/503 like the server does.
 */
async function fakeInflux2(answer: (s: Seen) => { status: number; body?: string; headers?: Record<string, string> }): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const raw = Buffer.concat(chunks)
      const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw).toString('utf8') : raw.toString('utf8')
      const u = new URL(req.url ?? '/', 'http://x')
      const s = { method: req.method ?? '', path: u.pathname, query: u.searchParams, headers: req.headers, body }
      seen.push(s)
      const a = answer(s)
      res.writeHead(a.status, { 'content-type': 'application/json', ...(a.headers ?? {}) })
      res.end(a.body ?? '')
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const addr = server.address()
  if (!addr || typeof addr !== 'object') throw new Error('no address')
  return { url: `http://127.0.0.1:${addr.port}`, seen, server }
}

const log = pino({ level: 'silent' })
const lines = ['water_quality,device=wq-1,district=d1,kind=water_quality,protocol=mqtt ph=7.1,gb3838_class=1i 1795000000000', 'water_quality,device=wq-2,district=d1,kind=water_quality,protocol=mqtt ph=6.9 1795000000001']

describe('influx-v2 sink against a local HTTP endpoint that checks the write request as InfluxDB 2 documents it', () => {
  let server: Server | undefined
  afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())))

  it('POSTs line protocol to /api/v2/write with org, bucket, precision=ms and the token header', async () => {
    const f = await fakeInflux2((s) => {
      const ok = s.method === 'POST' && s.path === '/api/v2/write' && s.headers['authorization'] === 'Token s3cret' && s.query.get('org') === 'city-ops' && s.query.get('bucket') === 'district' && s.query.get('precision') === 'ms'
      return ok ? { status: 204 } : { status: 400, body: '{"code":"invalid","message":"bad request shape"}' }
    })
    server = f.server
    const sink = createInfluxV2Sink(InfluxV2SinkConfig.parse({ type: 'influx-v2', url: f.url, org: 'city-ops', bucket: 'district', token: 's3cret' }), log)
    expect(await sink.write(joinLines(lines))).toEqual({ kind: 'accepted' })
    expect(f.seen).toHaveLength(1)
    const s = f.seen[0]!
    expect(s.method).toBe('POST')
    expect(s.path).toBe('/api/v2/write')
    expect(Object.fromEntries(s.query)).toEqual({ org: 'city-ops', bucket: 'district', precision: 'ms' })
    expect(s.headers['authorization']).toBe('Token s3cret')
    expect(String(s.headers['content-type'])).toMatch(/^text\/plain/)
    expect(s.body.split('\n')).toEqual(lines)
    await sink.close()
  })

  it('maps 400 to rejected, 413 to too_large, 429/503 with Retry-After to retry, and never retries by itself', async () => {
    const answers = [
      { status: 400, body: '{"code":"invalid","message":"unable to parse"}' },
      { status: 413, body: '{"code":"request too large"}' },
      { status: 429, headers: { 'retry-after': '7' } },
      { status: 503, headers: { 'retry-after': '2' } },
      { status: 401, body: '{"code":"unauthorized"}' },
    ]
    let n = 0
    const f = await fakeInflux2(() => answers[n++] ?? { status: 204 })
    server = f.server
    const sink = createInfluxV2Sink(InfluxV2SinkConfig.parse({ type: 'influx-v2', url: f.url, org: 'o', bucket: 'b', token: 't' }), log)
    expect(await sink.write(joinLines(lines))).toMatchObject({ kind: 'rejected', status: 400 })
    expect(await sink.write(joinLines(lines))).toMatchObject({ kind: 'too_large' })
    expect(await sink.write(joinLines(lines))).toMatchObject({ kind: 'retry', retryAfterMs: 7000 })
    expect(await sink.write(joinLines(lines))).toMatchObject({ kind: 'retry', retryAfterMs: 2000 })
    expect(await sink.write(joinLines(lines))).toMatchObject({ kind: 'retry' })
    expect(await sink.write(joinLines(lines))).toEqual({ kind: 'accepted' })
    // One request per write: the client's own retry buffer is off.
    expect(f.seen).toHaveLength(6)
    await sink.close()
  })
})
