/**
 * End-to-end latency in the gateway: every point written gets its age (write acknowledged - its time) in
 * smartcity_reading_age_seconds by measurement, through the real drain and influx-v1 sink against a local
 * /write endpoint that takes 300 ms to answer; the line scanner keeps escaped measurement names whole.
 */
import { createServer } from 'node:http'
import { join } from 'node:path'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { createDeadLetterLog } from '../../gateway/core/deadletter.ts'
import { createDrain } from '../../gateway/core/drain.ts'
import { parseAgeHistograms } from '../../cli/simulate/expect.ts'
import { eachLineTime } from '../../gateway/core/line-protocol.ts'
import { createMetrics } from '../../gateway/core/metrics.ts'
import { createSpool } from '../../gateway/core/spool.ts'
import { InfluxV1SinkConfig } from '../../gateway/sinks/config.ts'
import { createInfluxV1Sink } from '../../gateway/sinks/influx-v1.ts'
import { tempDir } from '../helpers/env.ts'
import { waitFor } from '../helpers/net.ts'

const log = pino({ level: 'silent' })

describe('reading age (smartcity_reading_age_seconds)', () => {
  it('scans each line for its measurement and time, escapes and all', () => {
    const seen: [string, string, number][] = []
    const lines = [
      'water_quality,device=a ph=7 1790000000000',
      'odd\\ name\\,x,device=b v=1 42',
      'no_time v=1',
      'water_quality,device=a,interval=minute ph=7 1790000000000',
      'm,site=a\\ b v="x,interval=day" 5',
      'water_quality,interval=realtime,device=a ph=7 6',
    ]
    eachLineTime(Buffer.from(`${lines.join('\n')}\n`), (m, iv, t) => seen.push([m, iv, t]))
    expect(seen).toEqual([
      ['water_quality', '', 1_790_000_000_000],
      ['odd\\ name\\,x', '', 42],
      ['no_time', '', Number.NaN],
      ['water_quality', 'minute', 1_790_000_000_000],
      // A field that looks like the tag is not the tag.
      ['m', '', 5],
      ['water_quality', 'realtime', 6],
    ])
  })

  it('observes each written point once its write is acknowledged, by measurement, in Prometheus histogram form', { timeout: 20_000 }, async () => {
    const server = createServer((req, res) => {
      req.resume()
      req.on('end', () => setTimeout(() => res.writeHead(204).end(), 300))
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
    const a = server.address()
    const url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`
    const t = tempDir()
    const metrics = createMetrics()
    const sink = createInfluxV1Sink(InfluxV1SinkConfig.parse({ type: 'influx-v1', url, createDatabase: false }), log)
    const spool = createSpool({ dir: join(t.dir, 'spool'), maxBytes: 1 << 26, segmentBytes: 1 << 20, fsync: false, sinks: [sink.id], log })
    const dlq = createDeadLetterLog({ dir: join(t.dir, 'deadletter'), maxBytes: 1 << 26, log })
    spool.open()
    dlq.open()
    const now = Date.now()
    for (let i = 0; i < 50; i++) spool.stage(`water_quality,device=d v=${i} ${now}`)
    for (let i = 0; i < 10; i++) spool.stage(`position,device=p v=${i} ${now - 60_000}`)
    spool.stage(`water_quality,device=d,interval=minute v=1 ${now - 30_000}`)
    await spool.committed()
    const drain = createDrain(sink, spool, dlq, metrics, log, { batchSize: 100, flushIntervalMs: 20, minBackoffMs: 10, maxBackoffMs: 50 })
    drain.start()
    try {
      await waitFor(() => spool.pending(sink.id) === 0, 10_000, 'spool drained')
      const wq = metrics.readingAge.series.get('water_quality\u0000')
      const pos = metrics.readingAge.series.get('position\u0000')
      expect(wq?.count).toBe(50)
      expect(pos?.count).toBe(10)
      expect(metrics.readingAge.series.get('water_quality\u0000minute')?.count).toBe(1)
      // Written about 300 ms after their time (the endpoint's delay): none under 0.3 s, none over 5 s.
      expect(wq!.sum / wq!.count).toBeGreaterThanOrEqual(0.3)
      expect(wq!.sum / wq!.count).toBeLessThan(5)
      expect(pos!.sum / pos!.count).toBeGreaterThanOrEqual(60)
      const text = await metrics.registry.metrics()
      expect(text).toContain('# TYPE smartcity_reading_age_seconds histogram')
      expect(text).toContain('smartcity_reading_age_seconds_bucket{measurement="water_quality",interval="",le="0.2"} 0')
      expect(text).toContain('smartcity_reading_age_seconds_bucket{measurement="water_quality",interval="",le="+Inf"} 50')
      expect(text).toContain('smartcity_reading_age_seconds_bucket{measurement="position",interval="",le="30"} 0')
      expect(text).toContain('smartcity_reading_age_seconds_count{measurement="position",interval=""} 10')
      expect(text).toContain('smartcity_reading_age_seconds_bucket{measurement="water_quality",interval="minute",le="10"} 0')
      // What the runner reads back: readings under their measurement, statistics apart.
      const h = parseAgeHistograms(text)
      expect([...h.keys()].sort()).toEqual(['position', 'water_quality', 'water_quality/minute'])
      expect(h.get('water_quality')?.get(Number.POSITIVE_INFINITY)).toBe(50)
    } finally {
      await drain.stop()
      await sink.close()
      dlq.close()
      spool.close()
      t.cleanup()
      await new Promise<void>((r) => server.close(() => r()))
    }
  })
})
