import { closeSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { createDeadLetterLog, recordLine } from '../../gateway/core/deadletter.ts'
import { createGroupCommit } from '../../gateway/core/group-commit.ts'
import { createSpool } from '../../gateway/core/spool.ts'
import { tempDir } from '../helpers/env.ts'

const log = pino({ level: 'silent' })

describe('group commit', () => {
  const cleanups: (() => void)[] = []
  const dir = () => {
    const t = tempDir('group-commit-')
    cleanups.push(t.cleanup)
    return t.dir
  }
  const fds: number[] = []
  afterEach(() => {
    for (const fd of fds.splice(0)) closeSync(fd)
    for (const c of cleanups.splice(0)) c()
  })

  function writer(file: string, o: { maxStagedBytes?: number } = {}) {
    const fd = openSync(file, 'a')
    fds.push(fd)
    const writes: { bytes: number; lines: number }[] = []
    const g = createGroupCommit({ fsync: false, ...o, target: () => fd, written: (bytes, lines) => writes.push({ bytes, lines }) })
    return { g, writes }
  }

  it('joins the lines staged in one turn of the event loop into one write, and resolves them together', async () => {
    const file = join(dir(), 'out')
    const { g, writes } = writer(file)
    for (let i = 0; i < 100; i++) g.stage(`line ${i}`)
    const first = g.committed()
    // Nothing is written before the turn ends.
    expect(readFileSync(file, 'utf8')).toBe('')
    expect(g.stagedBytes).toBeGreaterThan(0)
    await first
    expect(writes).toEqual([{ bytes: readFileSync(file).length, lines: 100 }])
    g.stage('next turn')
    expect(g.committed()).not.toBe(first)
    await g.committed()
    expect(writes).toHaveLength(2)
    expect(readFileSync(file, 'utf8').split('\n')).toEqual([...Array.from({ length: 100 }, (_, i) => `line ${i}`), 'next turn', ''])
    // Nothing staged: committed() is already resolved.
    await expect(g.committed()).resolves.toBeUndefined()
  })

  it('caps the staging: a full buffer is written at once, in order, nothing dropped; a long line goes alone', async () => {
    const file = join(dir(), 'out')
    const { g, writes } = writer(file, { maxStagedBytes: 1024 })
    const lines = Array.from({ length: 200 }, (_, i) => `m,device=d${i % 7} v=${i} ${1_790_000_000_000 + i}`)
    let most = 0
    for (const l of lines) {
      g.stage(l)
      most = Math.max(most, g.stagedBytes)
    }
    // Written during the turn, never more than the cap held in memory.
    expect(writes.length).toBeGreaterThan(5)
    expect(most).toBeLessThanOrEqual(1024)
    const long = 'x'.repeat(5000)
    g.stage(long)
    g.stage('after')
    await g.committed()
    expect(readFileSync(file, 'utf8')).toBe(`${[...lines, long, 'after'].join('\n')}\n`)
    expect(writes.reduce((n, w) => n + w.lines, 0)).toBe(202)
    // Long lines in later turns, shorter and longer than the grown buffer, then short ones: all whole.
    const more = ['y'.repeat(3000), 'short', 'z'.repeat(9000), 'w'.repeat(700), 'end']
    for (const l of more) {
      g.stage(l)
      await g.committed()
    }
    expect(readFileSync(file, 'utf8')).toBe(`${[...lines, long, 'after', ...more].join('\n')}\n`)
  })

  it('fails the waiters of a group whose write fails, and tells the owner; the next group is written', async () => {
    const file = join(dir(), 'out')
    writeFileSync(file, '')
    const readOnly = openSync(file, 'r')
    fds.push(readOnly)
    const good = openSync(file, 'a')
    fds.push(good)
    let fd = readOnly
    const failures: { code: string; bytes: number; lines: number }[] = []
    const g = createGroupCommit({ fsync: false, target: () => fd, failed: (err, bytes, lines) => failures.push({ code: (err as NodeJS.ErrnoException).code ?? '', bytes, lines }) })
    g.stage('a')
    g.stage('b')
    await expect(g.committed()).rejects.toMatchObject({ code: 'EBADF' })
    expect(failures).toEqual([{ code: 'EBADF', bytes: 4, lines: 2 }])
    fd = good
    g.stage('c')
    await g.committed()
    expect(readFileSync(file, 'utf8')).toBe('c\n')
  })

  it('fdatasyncs each group only with fsync: true', async () => {
    // /dev/null takes writes but refuses fdatasync (EINVAL): a failure shows the sync was asked for.
    const fd = openSync('/dev/null', 'w')
    fds.push(fd)
    const noSync = createGroupCommit({ fsync: false, target: () => fd })
    noSync.stage('x')
    await expect(noSync.committed()).resolves.toBeUndefined()
    const sync = createGroupCommit({ fsync: true, target: () => fd })
    sync.stage('x')
    await expect(sync.committed()).rejects.toMatchObject({ code: 'EINVAL' })
  })
})

describe('dead-letter log staging', () => {
  it('stages at most its cap in one write; the rest of a flood is one counted deadletter_overflow record (issue 13)', async () => {
    const t = tempDir('dlq-cap-')
    try {
      const coalesced: Record<string, number>[] = []
      const dlq = createDeadLetterLog({ dir: t.dir, maxBytes: 1 << 30, log, maxStagedBytes: 16 * 1024, onCoalesced: (r) => coalesced.push({ ...r }) })
      dlq.open()
      const waits: Promise<void>[] = []
      for (let i = 0; i < 2000; i++) waits.push(dlq.write({ source: 'mqtt', address: `city/d1/water_quality/wq-${i}/telemetry`, device: `wq-${i}`, reason: 'malformed_json', raw: '{"ph":' }))
      // A coalesced record (a message of 3 refusals) past the cap counts as its 3.
      waits.push(dlq.write({ source: 'mqtt', address: 'a', device: 'wq-x', reason: 'out_of_range', extra: { count: 3, reasons: { out_of_range: 2, wrong_type: 1 } } }))
      // Nothing is written before the turn ends: the staging holds at most its cap.
      expect(readFileSync(dlq.file, 'utf8')).toBe('')
      await Promise.all(waits)
      const lines = readFileSync(dlq.file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
      const kept = lines.filter((l) => l['reason'] === 'malformed_json')
      expect(kept.length).toBeGreaterThan(50)
      expect(Buffer.byteLength(kept.map((l) => JSON.stringify(l)).join('\n'))).toBeLessThanOrEqual(16 * 1024)
      const over = lines.at(-1)!
      expect(lines.filter((l) => l['reason'] === 'deadletter_overflow')).toEqual([over])
      expect(over).toMatchObject({ source: 'deadletter', reason: 'deadletter_overflow', count: 2000 - kept.length + 3, reasons: { malformed_json: 2000 - kept.length, out_of_range: 2, wrong_type: 1 }, sources: { mqtt: 2000 - kept.length + 1 } })
      // The devices it names are bounded; the others are counted.
      expect(Object.keys(over['devices'] as object)).toHaveLength(20)
      expect(over['others']).toBe(2000 - kept.length + 1 - 20)
      expect(coalesced).toEqual([{ malformed_json: 2000 - kept.length, out_of_range: 2, wrong_type: 1 }])
      // The next turn starts a fresh group and a fresh tally.
      await dlq.write({ source: 'mqtt', address: 'b', reason: 'malformed_json' })
      expect(readFileSync(dlq.file, 'utf8').trim().split('\n')).toHaveLength(lines.length + 1)
      dlq.close()
    } finally {
      t.cleanup()
    }
  })

  it('never fails to make a record: extra facts JSON cannot carry are noted, the record is kept (issue 13)', async () => {
    const t = tempDir('dlq-safe-')
    try {
      const dlq = createDeadLetterLog({ dir: t.dir, maxBytes: 1 << 30, log })
      dlq.open()
      const cyclic: Record<string, unknown> = {}
      cyclic['self'] = cyclic
      let deep: unknown[] = []
      for (let i = 0; i < 20_000; i++) deep = [deep]
      const bad = { toJSON: () => { throw new Error('no') } }
      for (const extra of [{ cyclic }, { n: 10n }, { deep }, { bad }]) expect(() => dlq.write({ source: 's', address: 'a', reason: 'invalid', extra })).not.toThrow()
      await dlq.write({ source: 's', address: 'a', reason: 'invalid', detail: 'ok', extra: { points: 3 } })
      const lines = readFileSync(dlq.file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
      expect(lines).toHaveLength(5)
      for (const l of lines.slice(0, 4)) expect(l).toMatchObject({ source: 's', reason: 'invalid', extra_unserializable: expect.any(String) })
      expect(lines[4]).toMatchObject({ detail: 'ok', points: 3 })
      expect(recordLine({ source: 's', address: 'a', reason: 'invalid', raw: 'x'.repeat(70_000) })).toContain('"raw_truncated":true')
      dlq.close()
    } finally {
      t.cleanup()
    }
  })

  it('counts the bytes of a group it could not write as dropped, and fails its waiters', async () => {
    const t = tempDir('dlq-fail-')
    try {
      const dropped: number[] = []
      const dlq = createDeadLetterLog({ dir: t.dir, maxBytes: 1 << 30, log, onDropped: (b) => dropped.push(b) })
      // Never opened: the write has nowhere to go.
      const p = dlq.write({ source: 'mqtt', address: 'x', reason: 'invalid_json' })
      await expect(p).rejects.toThrow(/not open/)
      expect(dropped).toHaveLength(1)
      expect(dropped[0]).toBeGreaterThan(20)
    } finally {
      t.cleanup()
    }
  })
})

describe('spool overflow hand-off', () => {
  it('hands the oldest segment to the dead-letter log: the spool folder never holds dead letters, the dead-letter folder gets the segment', async () => {
    const t = tempDir('overflow-')
    try {
      // The two folders are not siblings: the spool cannot guess the dead-letter folder from its own.
      const spoolDir = join(t.dir, 'a', 'spool')
      const dlqDir = join(t.dir, 'b', 'dead')
      const dlq = createDeadLetterLog({ dir: dlqDir, maxBytes: 1 << 30, log })
      dlq.open()
      const handed: { segment: string; lines: number; bytes: number }[] = []
      const spool = createSpool({
        dir: spoolDir,
        maxBytes: 8 * 1024,
        segmentBytes: 1000,
        fsync: false,
        sinks: ['a'],
        log,
        onOverflow: (segment, lines, bytes) => {
          handed.push({ segment, lines, bytes })
          return dlq.adoptSpoolSegment(segment)
        },
      })
      spool.open()
      for (let i = 0; i < 1000; i++) {
        spool.stage(`water_quality,device=wq-${i % 10} ph=7.${i % 10} ${i}`)
        if (i % 20 === 19) await spool.committed()
      }
      await spool.committed()
      expect(handed.length).toBeGreaterThan(0)
      expect(handed[0]!.segment.startsWith(spoolDir)).toBe(true)
      // The spool's folder holds only its segments and cursors; nothing was written next to it.
      expect(readdirSync(spoolDir).every((f) => /^\d{12}\.lp$/.test(f) || f.startsWith('cursor-'))).toBe(true)
      expect(readdirSync(join(t.dir, 'a'))).toEqual(['spool'])
      const moved = readdirSync(dlqDir).filter((f) => f.startsWith('spool-overflow-'))
      expect(moved).toHaveLength(handed.length)
      const movedLines = moved.sort().flatMap((f) => readFileSync(join(dlqDir, f), 'utf8').trim().split('\n'))
      expect(movedLines.length).toBe(handed.reduce((n, h) => n + h.lines, 0))
      expect(movedLines[0]).toBe('water_quality,device=wq-0 ph=7.0 0')
      spool.close()
      dlq.close()
    } finally {
      t.cleanup()
    }
  })

  it('without an owner, deletes the overflowing segment (logged) and writes nowhere else', async () => {
    const t = tempDir('overflow-none-')
    try {
      const spoolDir = join(t.dir, 'spool')
      const spool = createSpool({ dir: spoolDir, maxBytes: 4 * 1024, segmentBytes: 1000, fsync: false, sinks: ['a'], log })
      spool.open()
      for (let i = 0; i < 500; i++) {
        spool.stage(`m v=${i} ${i}`)
        if (i % 20 === 19) await spool.committed()
      }
      expect(spool.stats().bytes).toBeLessThanOrEqual(4 * 1024 + 1000)
      expect(readdirSync(t.dir)).toEqual(['spool'])
      spool.close()
    } finally {
      t.cleanup()
    }
  })
})
