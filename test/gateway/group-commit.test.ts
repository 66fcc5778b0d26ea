import { closeSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { createDeadLetterLog } from '../../gateway/core/deadletter.ts'
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
  it('takes bounded memory under a flood of refusals in one turn, and keeps every entry', async () => {
    const t = tempDir('dlq-cap-')
    try {
      const dlq = createDeadLetterLog({ dir: t.dir, maxBytes: 1 << 30, log, maxStagedBytes: 16 * 1024 })
      dlq.open()
      const waits: Promise<void>[] = []
      for (let i = 0; i < 2000; i++) waits.push(dlq.write({ source: 'mqtt', address: `city/d1/water_quality/wq-${i}/telemetry`, reason: 'invalid_json', raw: '{"ph":' }))
      // Before the turn ends most of the flood is already in the file: staging did not grow with it.
      const written = readFileSync(dlq.file, 'utf8').split('\n').length - 1
      expect(written).toBeGreaterThan(1500)
      await Promise.all(waits)
      const lines = readFileSync(dlq.file, 'utf8').trim().split('\n')
      expect(lines).toHaveLength(2000)
      expect((JSON.parse(lines[1999]!) as { address: string }).address).toBe('city/d1/water_quality/wq-1999/telemetry')
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
