import { appendFileSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { createDeadLetterLog } from '../../gateway/core/deadletter.ts'
import { createSpool, type Spool, type SpoolOptions, splitLines } from '../../gateway/core/spool.ts'
import { tempDir } from '../helpers/env.ts'

const log = pino({ level: 'silent' })

function open(dir: string, o: Partial<SpoolOptions> = {}): Spool {
  const s = createSpool({ dir, maxBytes: 1 << 30, segmentBytes: 1 << 20, fsync: false, sinks: ['a'], log, ...o })
  s.open()
  return s
}

function drainAll(s: Spool, sink = 'a', batch = 1000): string[] {
  const out: string[] = []
  for (;;) {
    const b = s.read(sink, batch)
    if (!b) return out
    out.push(...splitLines(b.body))
    s.ack(sink, b.end, b.count)
  }
}

describe('spool', () => {
  const tmps: (() => void)[] = []
  const dir = () => {
    const t = tempDir('spool-')
    tmps.push(t.cleanup)
    return t.dir
  }
  afterEach(() => {
    for (const c of tmps.splice(0)) c()
  })

  it('resolves append only once the line is in the file, and drains in order', async () => {
    const d = dir()
    const s = open(d)
    s.stage('m v=1 1')
    const p = s.committed()
    expect(readdirSync(d).filter((f) => f.endsWith('.lp'))).toHaveLength(0)
    await p
    const seg = readdirSync(d).find((f) => f.endsWith('.lp'))!
    expect(readFileSync(join(d, seg), 'utf8')).toBe('m v=1 1\n')
    for (let i = 2; i <= 100; i++) s.stage(`m v=${i} ${i}`)
    await s.committed()
    expect(s.pending('a')).toBe(100)
    expect(drainAll(s, 'a', 7).map((l) => Number(l.split(' ')[2]))).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
    expect(s.pending('a')).toBe(0)
    s.close()
  })

  it('survives a restart: a sink resumes after what it acknowledged, nothing twice, nothing lost', async () => {
    const d = dir()
    let s = open(d, { segmentBytes: 256 })
    for (let i = 0; i < 200; i++) s.stage(`m v=${i} ${i}`)
    await s.committed()
    const b = s.read('a', 50)!
    s.ack('a', b.end, 50)
    s.close()
    s = open(d, { segmentBytes: 256 })
    expect(s.pending('a')).toBe(150)
    expect(drainAll(s).map((l) => Number(l.split(' ')[2]))).toEqual(Array.from({ length: 150 }, (_, i) => i + 50))
    s.close()
  })

  it('cuts a torn last line left by a crash inside a write', async () => {
    const d = dir()
    let s = open(d)
    s.stage('m v=1 1')
    await s.committed()
    s.close()
    const seg = readdirSync(d).find((f) => f.endsWith('.lp'))!
    appendFileSync(join(d, seg), 'm v=2 ')
    s = open(d)
    expect(drainAll(s)).toEqual(['m v=1 1'])
    s.stage('m v=3 3')
    await s.committed()
    expect(drainAll(s)).toEqual(['m v=3 3'])
    s.close()
  })

  it('deletes segments once every sink has passed them, keeps them for a slower sink', async () => {
    const d = dir()
    const s = open(d, { segmentBytes: 100, sinks: ['fast', 'slow'] })
    for (let i = 0; i < 100; i++) {
      s.stage(`m v=${i} ${i}`)
      await s.committed()
    }
    const before = readdirSync(d).filter((f) => f.endsWith('.lp')).length
    expect(before).toBeGreaterThan(5)
    drainAll(s, 'fast')
    expect(readdirSync(d).filter((f) => f.endsWith('.lp')).length).toBe(before)
    drainAll(s, 'slow')
    expect(readdirSync(d).filter((f) => f.endsWith('.lp')).length).toBe(1)
    s.close()
  })

  it('when full, moves the oldest segment to the dead-letter directory and says so', async () => {
    const root = dir()
    const d = join(root, 'spool')
    const overflows: { file: string; lines: number }[] = []
    // The dead-letter log owns its directory: the spool hands it the segment (as gateway.ts wires it).
    const dlq = createDeadLetterLog({ dir: join(root, 'deadletter'), maxBytes: 1 << 30, log })
    const onOverflow = (segment: string, lines: number) => {
      const file = dlq.adoptSpoolSegment(segment)
      overflows.push({ file, lines })
      return file
    }
    const s = open(d, { segmentBytes: 1000, maxBytes: 64 * 1024, onOverflow })
    for (let i = 0; i < 5000; i++) {
      s.stage(`water_quality,device=wq-${i % 10} ph=7.${i % 10} ${i}`)
      if (i % 50 === 49) await s.committed()
    }
    const total = readdirSync(d).filter((f) => f.endsWith('.lp')).reduce((n, f) => n + statSync(join(d, f)).size, 0)
    expect(total).toBeLessThanOrEqual(64 * 1024 + 1000 + 4096)
    expect(overflows.length).toBeGreaterThan(0)
    const moved = overflows.reduce((n, o) => n + o.lines, 0)
    const kept = drainAll(s, 'a', 10_000)
    // Every line is either still in the spool or in a moved segment: none vanished.
    expect(moved + kept.length).toBe(5000)
    const dlqFiles = readdirSync(join(root, 'deadletter'))
    expect(dlqFiles.length).toBe(overflows.length)
    const movedLines = dlqFiles.flatMap((f) => readFileSync(join(root, 'deadletter', f), 'utf8').trim().split('\n'))
    expect(movedLines.length).toBe(moved)
    // The oldest went first.
    expect(movedLines[0]).toContain(' 0')
    s.close()
  })

  it('keeps everything when no sink is configured (readings wait for an InfluxDB)', async () => {
    const d = dir()
    const s = open(d, { sinks: [] })
    for (let i = 0; i < 10; i++) s.stage(`m v=${i} ${i}`)
    await s.committed()
    expect(s.stats().pendingMax).toBe(10)
    s.close()
    const s2 = open(d, { sinks: ['late'] })
    expect(drainAll(s2, 'late')).toHaveLength(10)
    s2.close()
  })

  it('wait() resolves at batch size at once, and after the flush interval for a partial batch', async () => {
    const d = dir()
    const s = open(d)
    for (let i = 0; i < 10; i++) s.stage(`m v=${i} ${i}`)
    await s.committed()
    const t0 = Date.now()
    await s.wait('a', 10, 5_000)
    expect(Date.now() - t0).toBeLessThan(1_000)
    const t1 = Date.now()
    await s.wait('a', 1_000, 300)
    expect(Date.now() - t1).toBeGreaterThanOrEqual(250)
    s.close()
  })
  it('reads into a buffer it is given, grows it when needed, and reads ahead from a position', async () => {
    const d = dir()
    // Small segments, so batches span several of them.
    const s = open(d, { segmentBytes: 4096 })
    const lines = Array.from({ length: 3000 }, (_, i) => `m,device=d${i % 5} v=${i} ${1_790_000_000_000 + i}`)
    for (const l of lines) s.stage(l)
    await s.committed()
    const small = Buffer.alloc(16)
    const first = s.read('a', 1000, undefined, undefined, small)!
    expect(first.count).toBe(1000)
    expect(first.buffer).not.toBe(small)
    expect(first.buffer.length).toBeGreaterThanOrEqual(first.body.length)
    expect(splitLines(first.body)).toEqual(lines.slice(0, 1000))
    // The next batch, read before the first is acknowledged, into the first one's buffer.
    const big = Buffer.alloc(1 << 20)
    const second = s.read('a', 1000, undefined, first.end, big)!
    expect(second.buffer).toBe(big)
    expect(second.body.buffer).toBe(big.buffer)
    expect(splitLines(second.body)).toEqual(lines.slice(1000, 2000))
    // The sink's cursor has not moved: reading without a position starts over.
    expect(splitLines(s.read('a', 10)!.body)).toEqual(lines.slice(0, 10))
    s.ack('a', first.end, first.count)
    s.ack('a', second.end, second.count)
    expect(drainAll(s)).toEqual(lines.slice(2000))
    s.close()
  })
})
