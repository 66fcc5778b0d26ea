import { createServer, type Server } from 'node:http'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDeadLetterLog } from '../../gateway/core/deadletter.ts'
import { createDrain } from '../../gateway/core/drain.ts'
import { createMetrics } from '../../gateway/core/metrics.ts'
import { createSpool, joinLines } from '../../gateway/core/spool.ts'
import type { Sink } from '../../gateway/core/types.ts'
import { InfluxV1SinkConfig, InfluxV2SinkConfig } from '../../gateway/sinks/config.ts'
import { createInfluxV1Sink } from '../../gateway/sinks/influx-v1.ts'
import { createInfluxV2Sink } from '../../gateway/sinks/influx-v2.ts'
import { have, tempDir } from '../helpers/env.ts'
import { type InfluxServer, startInflux } from '../helpers/influx.ts'
import { freePort, waitFor } from '../helpers/net.ts'

const log = pino({ level: 'silent' })

/**
 * A minimal InfluxDB 2 write endpoint for the contract (no 2.x server on this machine): it checks the
 * documented request shape and refuses lines the way InfluxDB does (400 for a type conflict on a field).
 */
async function v2Endpoint(): Promise<{ url: string; server: Server; stored: string[] }> {
  const stored: string[] = []
  const types = new Map<string, string>()
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const raw = Buffer.concat(chunks)
      // InfluxDB 2 accepts `Content-Encoding: gzip`; the client compresses larger bodies.
      const body = (req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8')
      const u = new URL(req.url ?? '/', 'http://x')
      if (u.pathname !== '/api/v2/write' || req.headers['authorization'] !== 'Token t' || u.searchParams.get('precision') !== 'ms') {
        res.writeHead(401).end('{"code":"unauthorized"}')
        return
      }
      const lines = body.split('\n').filter(Boolean)
      for (const l of lines) {
        const fields = l.split(' ')[1] ?? ''
        for (const f of fields.split(',')) {
          const [k, v = ''] = f.split('=')
          const t = v.endsWith('i') ? 'int' : v.startsWith('"') ? 'string' : 'float'
          const prev = types.get(k!)
          if (prev && prev !== t) {
            res.writeHead(400, { 'content-type': 'application/json' }).end(`{"code":"invalid","message":"partial write: field type conflict: ${k}"}`)
            return
          }
        }
      }
      for (const l of lines) {
        for (const f of (l.split(' ')[1] ?? '').split(',')) {
          const [k, v = ''] = f.split('=')
          types.set(k!, v.endsWith('i') ? 'int' : v.startsWith('"') ? 'string' : 'float')
        }
        stored.push(l)
      }
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const a = server.address()
  return { url: `http://127.0.0.1:${a && typeof a === 'object' ? a.port : 0}`, server, stored }
}

interface Harness {
  sink: Sink
  count(): Promise<number>
  close(): Promise<void>
}

const suites: [string, () => Promise<Harness>, boolean][] = [
  [
    'influx-v1 against Debian influxd',
    async () => {
      const t = tempDir()
      const influx: InfluxServer = await startInflux(t.dir)
      const sink = createInfluxV1Sink(InfluxV1SinkConfig.parse({ type: 'influx-v1', url: influx.url, database: 'contract' }), log)
      return {
        sink,
        count: () => influx.count('contract', 'm', 'v'),
        async close() {
          await sink.close()
          await influx.stop()
          t.cleanup()
        },
      }
    },
    have('influxd'),
  ],
  [
    'influx-v2 against a local endpoint that checks the request as InfluxDB 2 documents it',
    async () => {
      const e = await v2Endpoint()
      const sink = createInfluxV2Sink(InfluxV2SinkConfig.parse({ type: 'influx-v2', url: e.url, org: 'o', bucket: 'b', token: 't' }), log)
      return {
        sink,
        count: async () => e.stored.length,
        async close() {
          await sink.close()
          await new Promise<void>((r) => e.server.close(() => r()))
        },
      }
    },
    true,
  ],
]

for (const [name, make, available] of suites) {
  describe.skipIf(!available)(`sink contract: ${name}`, () => {
    let h: Harness
    beforeAll(async () => {
      h = await make()
      await h.sink.start()
    })
    afterAll(() => h?.close())

    it('accepts a batch and stores every line', async () => {
      const lines = Array.from({ length: 100 }, (_, i) => `m,device=d${i % 3} v=${i} ${1_790_000_000_000 + i}`)
      expect(await h.sink.write(joinLines(lines))).toEqual({ kind: 'accepted' })
      await waitFor(async () => (await h.count()) === 100, 5_000, '100 points')
    })

    it('answers rejected (not retry) for a line that can never be accepted', async () => {
      const r = await h.sink.write(joinLines([`m,device=d0 v="text" ${1_790_000_000_500}`]))
      expect(r.kind).toBe('rejected')
    })

    it('through a drain: bisects a rejected batch so only the refused line is dead-lettered', async () => {
      const t = tempDir()
      const metrics = createMetrics()
      const spool = createSpool({ dir: join(t.dir, 'spool'), maxBytes: 1 << 26, segmentBytes: 1 << 20, fsync: false, sinks: [h.sink.id], log })
      const dlq = createDeadLetterLog({ dir: join(t.dir, 'deadletter'), maxBytes: 1 << 26, log })
      spool.open()
      dlq.open()
      const before = await h.count()
      for (let i = 0; i < 64; i++) spool.stage(i === 37 ? `m,device=bad v="oops" ${1_790_000_001_000 + i}` : `m,device=ok v=${i} ${1_790_000_001_000 + i}`)
      await spool.committed()
      const drain = createDrain(h.sink, spool, dlq, metrics, log, { batchSize: 64, flushIntervalMs: 20, minBackoffMs: 10, maxBackoffMs: 50 })
      drain.start()
      await waitFor(() => spool.pending(h.sink.id) === 0, 10_000, 'spool drained')
      await drain.stop()
      dlq.close()
      spool.close()
      expect(await h.count()).toBe(before + 63)
      const dead = readFileSync(join(t.dir, 'deadletter', 'deadletter.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { raw: string; reason: string })
      expect(dead).toHaveLength(1)
      expect(dead[0]!.raw).toContain('v="oops"')
      expect(dead[0]!.reason).toBe('sink_rejected_400')
      t.cleanup()
    })
  })
}

describe('sink contract: an unreachable server means retry, never rejected', () => {
  it('influx-v1 and influx-v2 both answer retry when nothing listens', async () => {
    const port = await freePort()
    const v1 = createInfluxV1Sink(InfluxV1SinkConfig.parse({ type: 'influx-v1', url: `http://127.0.0.1:${port}`, createDatabase: false, timeoutMs: 1000 }), log)
    const v2 = createInfluxV2Sink(InfluxV2SinkConfig.parse({ type: 'influx-v2', url: `http://127.0.0.1:${port}`, org: 'o', bucket: 'b', token: 't', timeoutMs: 1000 }), log)
    expect((await v1.write(joinLines(['m v=1 1']))).kind).toBe('retry')
    expect((await v2.write(joinLines(['m v=1 1']))).kind).toBe('retry')
    expect((await v1.health()).status).toBe('down')
    await v1.close()
    await v2.close()
  })
})
