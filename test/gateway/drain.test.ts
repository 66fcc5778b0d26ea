/**
 * The drain with several batches in flight, through the real influx-v1 sink against a local HTTP
 * endpoint that answers like InfluxDB 1.x's /write and keeps "last write wins" per series and time, as
 * InfluxDB does. It can hold answers back and fail chosen requests.
 */
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { createDeadLetterLog } from '../../gateway/core/deadletter.ts'
import { createDrain } from '../../gateway/core/drain.ts'
import { createMetrics } from '../../gateway/core/metrics.ts'
import { createSpool } from '../../gateway/core/spool.ts'
import { InfluxV1SinkConfig } from '../../gateway/sinks/config.ts'
import { createInfluxV1Sink } from '../../gateway/sinks/influx-v1.ts'
import { tempDir } from '../helpers/env.ts'
import { waitFor } from '../helpers/net.ts'

const log = pino({ level: 'silent' })

interface Endpoint {
  url: string
  /** Series + time -> value, last write wins. */
  stored: Map<string, string>
  /** First line of each request body, in the order requests arrived. */
  requests: string[]
  maxConcurrent: number
  close(): Promise<void>
}

async function endpoint(opts: { delayMs: number; failRequest?: number }): Promise<Endpoint> {
  const stored = new Map<string, string>()
  const requests: string[] = []
  let concurrent = 0
  const e = { stored, requests, maxConcurrent: 0 } as Endpoint
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const lines = Buffer.concat(chunks).toString('utf8').split('\n').filter(Boolean)
      const n = requests.push(lines[0] ?? '')
      concurrent++
      e.maxConcurrent = Math.max(e.maxConcurrent, concurrent)
      setTimeout(() => {
        concurrent--
        if (n === opts.failRequest) {
          res.writeHead(503, { 'retry-after': '0' }).end('{"error":"busy"}')
          return
        }
        for (const l of lines) {
          const [series, fields, time] = l.split(' ')
          stored.set(`${series} ${time}`, fields!)
        }
        res.writeHead(204).end()
      }, opts.delayMs)
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const a = server.address()
  e.url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`
  e.close = () => new Promise<void>((r) => server.close(() => r()))
  return e
}

describe('drain with batches in flight', () => {
  const cleanups: (() => Promise<void> | void)[] = []
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c()
  })

  async function setup(e: Endpoint, lines: string[], concurrency: number) {
    const t = tempDir()
    const sink = createInfluxV1Sink(InfluxV1SinkConfig.parse({ type: 'influx-v1', url: e.url, createDatabase: false, timeoutMs: 5000 }), log)
    const spool = createSpool({ dir: join(t.dir, 'spool'), maxBytes: 1 << 26, segmentBytes: 1 << 20, fsync: false, sinks: [sink.id], log })
    const dlq = createDeadLetterLog({ dir: join(t.dir, 'deadletter'), maxBytes: 1 << 26, log })
    spool.open()
    dlq.open()
    for (const l of lines) spool.stage(l)
    await spool.committed()
    const drain = createDrain(sink, spool, dlq, createMetrics(), log, { batchSize: 100, flushIntervalMs: 20, minBackoffMs: 10, maxBackoffMs: 50, concurrency })
    cleanups.push(async () => {
      await drain.stop()
      await sink.close()
      dlq.close()
      spool.close()
      t.cleanup()
    })
    drain.start()
    return { spool, sink }
  }

  it('keeps several full batches in flight and acknowledges them all in order', async () => {
    const e = await endpoint({ delayMs: 30 })
    cleanups.push(() => e.close())
    const lines = Array.from({ length: 1000 }, (_, i) => `m,device=d${i % 7} v=${i} ${1_790_000_000_000 + i}`)
    const { spool, sink } = await setup(e, lines, 3)
    await waitFor(() => spool.pending(sink.id) === 0, 10_000, 'spool drained')
    expect(e.maxConcurrent).toBe(3)
    expect(e.stored.size).toBe(1000)
    // Ten batches, each sent once, in spool order.
    expect(e.requests).toEqual(Array.from({ length: 10 }, (_, b) => lines[b * 100]))
  })

  it('after a failed batch, sends everything from it on again, so the newer value of a point wins', async () => {
    const e = await endpoint({ delayMs: 30, failRequest: 2 })
    cleanups.push(() => e.close())
    // The same point (series and time) in batch 2 with v=1 and in batch 3 with v=2: v=2 must stay.
    const lines = Array.from({ length: 400 }, (_, i) => `m,device=d${i % 7} v=${i} ${1_790_000_000_000 + i}`)
    lines[150] = 'm,device=same v=1 1790000009999'
    lines[250] = 'm,device=same v=2 1790000009999'
    const { spool, sink } = await setup(e, lines, 2)
    await waitFor(() => spool.pending(sink.id) === 0, 10_000, 'spool drained')
    expect(e.stored.get('m,device=same 1790000009999')).toBe('v=2')
    expect(e.stored.size).toBe(399)
    // Batch 3 went out alongside the failing batch 2, then both again, in order.
    const first = (b: number) => lines[b * 100]
    expect(e.requests.slice(0, 5)).toEqual([first(0), first(1), first(2), first(1), first(2)])
  })

  it('with concurrency 1, one request at a time', async () => {
    const e = await endpoint({ delayMs: 10 })
    cleanups.push(() => e.close())
    const lines = Array.from({ length: 500 }, (_, i) => `m,device=d v=${i} ${1_790_000_000_000 + i}`)
    const { spool, sink } = await setup(e, lines, 1)
    await waitFor(() => spool.pending(sink.id) === 0, 10_000, 'spool drained')
    expect(e.maxConcurrent).toBe(1)
    expect(e.requests).toHaveLength(5)
  })
})
