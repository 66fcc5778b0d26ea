/**
 * The spool owns durability (docs/style.md section 5). Accepted points, as line-protocol lines, are appended to
 * segment files on disk before they count as accepted; each sink drains them in order from its own cursor.
 *
 * - Group commit (gateway/core/group-commit.ts): `stage` puts lines in one staging buffer, written with one
 *   `writeSync` on the next turn of the event loop, when the buffer is full, or at once by `commitNow`;
 *   `committed()`, the promise of the group, resolves after that write. A write that returned is in the
 *   kernel: it survives `kill -9`. With `fsync: true` the group is also fdatasync'ed, which survives power
 *   loss at a cost in throughput.
 * - Recovery: a torn last line (the process died inside a write) is cut at the last newline on open.
 * - Cursors: `cursor-<sink>.json` holds the position a sink has acknowledged up to, written by rename, so a
 *   restart resumes where each sink stopped. A batch that was written but not yet acknowledged is sent
 *   again after a crash; InfluxDB keeps one point per series and timestamp, so that cannot double a point.
 * - Cap: when the segments exceed `maxBytes`, the oldest segment is handed to `onOverflow`, whose owner (the
 *   dead-letter log, wired in gateway.ts) moves it into its own directory and counts it; the spool logs it.
 *   Never dropped silently, and the spool never writes outside its own directory.
 */
import { closeSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { createGroupCommit } from './group-commit.ts'

export interface SpoolOptions {
  dir: string
  maxBytes: number
  segmentBytes: number
  fsync: boolean
  /** The sinks that drain the spool; segments are deleted once all of them have passed. */
  sinks: readonly string[]
  log: Logger
  /**
   * The spool is full: `segmentFile`, its oldest segment (`lines` of them not yet sent by some sink, `bytes`
   * long), is no longer the spool's. The owner must take the file out of the spool's directory before
   * returning, and returns where it went (for the log line); throwing leaves the file where it is. Without
   * an owner the segment is deleted, and logged as an error.
   */
  onOverflow?(segmentFile: string, lines: number, bytes: number): string
}

export interface Position {
  segment: number
  offset: number
}

export interface SpoolBatch {
  /** The lines as stored, each ended by a newline: sent as is, never split into strings on the way. */
  body: Buffer
  count: number
  end: Position
  /** The buffer `body` lies in: give it back to `read` as `into` once the batch is written, to reuse it. */
  buffer: Buffer
}

/** The lines of a batch as strings (only needed to bisect a refused batch). */
export function splitLines(body: Buffer): string[] {
  const out: string[] = []
  let start = 0
  for (;;) {
    const nl = body.indexOf(NL, start)
    if (nl < 0) break
    out.push(body.toString('utf8', start, nl))
    start = nl + 1
  }
  if (start < body.length) out.push(body.toString('utf8', start))
  return out
}

/** A batch from strings. */
export function joinLines(lines: readonly string[]): { body: Buffer; count: number } {
  return { body: Buffer.from(lines.length > 0 ? `${lines.join('\n')}\n` : '', 'utf8'), count: lines.length }
}

interface Segment {
  id: number
  path: string
  size: number
  lines: number
}

interface Waiter {
  min: number
  resolve: () => void
}

const SEG_RE = /^(\d{12})\.lp$/
const segName = (id: number) => `${String(id).padStart(12, '0')}.lp`
const NL = 0x0a

function countLines(path: string, from = 0, to = Number.POSITIVE_INFINITY): number {
  const fd = openSync(path, 'r')
  try {
    const buf = Buffer.allocUnsafe(1 << 20)
    let pos = from
    let n = 0
    for (;;) {
      const want = Math.min(buf.length, to - pos)
      if (want <= 0) break
      const got = readSync(fd, buf, 0, want, pos)
      if (got <= 0) break
      for (let i = 0; i < got; i++) if (buf[i] === NL) n++
      pos += got
    }
    return n
  } finally {
    closeSync(fd)
  }
}

export interface Spool {
  open(): void
  /** Stage one line (no newline) without waiting; `committed()` gives the promise of its group. */
  stage(line: string): void
  committed(): Promise<void>
  /** Write the staged group now. */
  commitNow(): void
  /**
   * Read up to `maxLines` lines after the sink's cursor (or after `from`, a batch still in flight), into
   * `into` when given (grown if it is too small): a drain reuses its buffers instead of allocating a
   * megabyte per batch, which would pile up outside the JavaScript heap until a full collection.
   */
  read(sink: string, maxLines: number, maxBytes?: number, from?: Position, into?: Buffer): SpoolBatch | undefined
  /** Acknowledge a sink's progress up to `end`. */
  ack(sink: string, end: Position, lines: number): void
  /** Lines not yet acknowledged by `sink`. */
  pending(sink: string): number
  /** Resolves once `sink` has at least `min` pending lines, or after `maxWaitMs` if it has any. */
  wait(sink: string, min: number, maxWaitMs: number, signal?: AbortSignal): Promise<void>
  stats(): { bytes: number; segments: number; pendingMax: number; lines: number }
  close(): void
}

export function createSpool(opts: SpoolOptions): Spool {
  const { dir, log } = opts
  const segments: Segment[] = []
  const cursors = new Map<string, Position>()
  const pendingLines = new Map<string, number>()
  const waiters = new Map<string, Waiter[]>()
  let fd = -1
  let active: Segment | undefined
  let totalBytes = 0
  let closed = false

  const cursorPath = (sink: string) => join(dir, `cursor-${sink.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`)

  function openSegment(id: number): void {
    if (fd >= 0) closeSync(fd)
    const path = join(dir, segName(id))
    fd = openSync(path, 'a')
    active = { id, path, size: 0, lines: 0 }
    segments.push(active)
  }

  function saveCursor(sink: string, pos: Position): void {
    const p = cursorPath(sink)
    writeFileSync(`${p}.tmp`, JSON.stringify(pos))
    renameSync(`${p}.tmp`, p)
  }

  function firstPosition(): Position {
    const s = segments[0]
    return s ? { segment: s.id, offset: 0 } : { segment: active?.id ?? 1, offset: 0 }
  }

  function notify(): void {
    for (const [sink, list] of waiters) {
      const p = pendingLines.get(sink) ?? 0
      if (list.length === 0) continue
      const keep: Waiter[] = []
      for (const w of list) (p >= w.min ? w.resolve() : keep.push(w))
      waiters.set(sink, keep)
    }
  }

  function dropFullyAcked(): void {
    // Delete segments every sink has passed (never the active one). Without sinks nothing drains:
    // readings stay until the cap moves them to the dead-letter directory.
    if (opts.sinks.length === 0) return
    let minSeg = Number.POSITIVE_INFINITY
    for (const s of opts.sinks) minSeg = Math.min(minSeg, cursors.get(s)?.segment ?? 0)
    while (segments.length > 1 && segments[0]!.id < minSeg) {
      const s = segments.shift()!
      totalBytes -= s.size
      try {
        unlinkSync(s.path)
      } catch (err) {
        log.warn({ err, file: s.path }, 'could not delete a drained spool segment')
      }
    }
  }

  function enforceCap(): void {
    while (totalBytes > opts.maxBytes && segments.length > 1) {
      const s = segments.shift()!
      totalBytes -= s.size
      // Lines of this segment that some sink has not sent yet.
      let unsent = 0
      for (const sink of opts.sinks) {
        const c = cursors.get(sink)
        if (!c || c.segment <= s.id) {
          const from = c && c.segment === s.id ? c.offset : 0
          unsent = Math.max(unsent, from === 0 ? s.lines : countLines(s.path, from))
          pendingLines.set(sink, Math.max(0, (pendingLines.get(sink) ?? 0) - (from === 0 ? s.lines : countLines(s.path, from))))
          const next = segments[0]!
          cursors.set(sink, { segment: next.id, offset: 0 })
          saveCursor(sink, { segment: next.id, offset: 0 })
        }
      }
      if (opts.sinks.length === 0) unsent = s.lines
      if (!opts.onOverflow) {
        try {
          unlinkSync(s.path)
        } catch (err) {
          log.error({ err, file: s.path }, 'could not delete an overflowing spool segment')
          continue
        }
        log.error({ file: s.path, lines: unsent, bytes: s.size, maxBytes: opts.maxBytes }, 'spool full and no dead-letter log: oldest segment deleted')
        continue
      }
      let target: string
      try {
        target = opts.onOverflow(s.path, unsent, s.size)
      } catch (err) {
        log.error({ err, file: s.path }, 'could not move an overflowing spool segment')
        continue
      }
      log.warn({ file: target, lines: unsent, bytes: s.size, maxBytes: opts.maxBytes }, 'spool full: oldest segment moved to the dead-letter directory')
    }
  }

  const group = createGroupCommit({
    fsync: opts.fsync,
    target(size) {
      if (!active || (active.size > 0 && active.size + size > opts.segmentBytes)) openSegment((active?.id ?? 0) + 1)
      return fd
    },
    written(size, lines) {
      const seg = active!
      seg.size += size
      seg.lines += lines
      totalBytes += size
      for (const s of opts.sinks) pendingLines.set(s, (pendingLines.get(s) ?? 0) + lines)
      if (totalBytes > opts.maxBytes) enforceCap()
      notify()
    },
    failed(err) {
      log.error({ err }, 'spool write failed')
    },
  })

  function stage(line: string): void {
    if (closed) throw new Error('spool is closed')
    group.stage(line)
  }

  return {
    open() {
      mkdirSync(dir, { recursive: true })
      const ids = readdirSync(dir)
        .map((f) => SEG_RE.exec(f))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => Number(m[1]))
        .sort((a, b) => a - b)
      for (const id of ids) {
        const path = join(dir, segName(id))
        let size = statSync(path).size
        if (id === ids[ids.length - 1] && size > 0) {
          // Cut a torn last line left by a crash in the middle of a write.
          const tailFd = openSync(path, 'r+')
          try {
            const buf = Buffer.alloc(Math.min(size, 1 << 20))
            readSync(tailFd, buf, 0, buf.length, size - buf.length)
            const lastNl = buf.lastIndexOf(NL)
            const keep = lastNl < 0 ? size - buf.length : size - buf.length + lastNl + 1
            if (keep !== size) {
              log.warn({ file: path, cut: size - keep }, 'spool: cut a torn last line left by a crash')
              ftruncateSync(tailFd, keep)
              size = keep
            }
          } finally {
            closeSync(tailFd)
          }
        }
        segments.push({ id, path, size, lines: countLines(path) })
        totalBytes += size
      }
      const last = segments[segments.length - 1]
      if (last) {
        fd = openSync(last.path, 'a')
        active = last
      }
      for (const sink of opts.sinks) {
        let pos: Position | undefined
        try {
          const c = JSON.parse(readFileSync(cursorPath(sink), 'utf8')) as Position
          if (Number.isInteger(c.segment) && Number.isInteger(c.offset)) pos = c
        } catch {
          // no cursor yet: this sink starts at the oldest segment
        }
        if (!pos || (segments.length > 0 && pos.segment < segments[0]!.id)) pos = firstPosition()
        const seg = segments.find((s) => s.id === pos!.segment)
        if (seg && pos.offset > seg.size) pos = { segment: seg.id, offset: seg.size }
        cursors.set(sink, pos)
        let pending = 0
        for (const s of segments) {
          if (s.id > pos.segment) pending += s.lines
          else if (s.id === pos.segment) pending += pos.offset === 0 ? s.lines : countLines(s.path, pos.offset)
        }
        pendingLines.set(sink, pending)
      }
      dropFullyAcked()
    },

    stage,
    committed: group.committed,
    commitNow: group.commitNow,

    read(sink, maxLines, maxBytes = 16 << 20, from, into) {
      const pos = from ?? cursors.get(sink)
      if (!pos) return undefined
      let { segment, offset } = pos
      let out = into
      let len = 0
      let count = 0
      for (const seg of segments) {
        if (seg.id < segment) continue
        if (seg.id > segment) {
          segment = seg.id
          offset = 0
        }
        // Read what the wanted lines should take (from the segment's mean line length, with a margin), not
        // the whole backlog: a sink that is behind must not pull megabytes per batch to use one.
        const mean = seg.lines > 0 ? seg.size / seg.lines : 256
        let chunk = Math.max(64 << 10, Math.ceil(mean * (maxLines - count) * 1.1) + 4096)
        const rfd = offset < seg.size ? openSync(seg.path, 'r') : -1
        try {
          while (offset < seg.size && count < maxLines && len < maxBytes) {
            const want = Math.min(seg.size - offset, maxBytes - len, chunk)
            if (!out || out.length - len < want) {
              const bigger = Buffer.allocUnsafe(Math.max(len + want, out ? out.length * 2 : 0))
              if (out && len > 0) out.copy(bigger, 0, 0, len)
              out = bigger
            }
            let got = 0
            while (got < want) {
              const n = readSync(rfd, out, len + got, want - got, offset + got)
              if (n <= 0) break
              got += n
            }
            if (got === 0) break
            // Whole lines only, at most maxLines in all; a partial line is read again next time.
            let end = len
            const stop = len + got
            while (count < maxLines) {
              const nl = out.indexOf(NL, end)
              if (nl < 0 || nl >= stop) break
              end = nl + 1
              count++
            }
            if (end === len) {
              // One line longer than the chunk: read again with room for it (up to maxBytes).
              if (want >= maxBytes - len || got < want) break
              chunk *= 2
              continue
            }
            offset += end - len
            len = end
          }
        } finally {
          if (rfd >= 0) closeSync(rfd)
        }
        if (count >= maxLines || len >= maxBytes || offset < seg.size) break
      }
      if (count === 0 || !out) return undefined
      return { body: out.subarray(0, len), count, end: { segment, offset }, buffer: out }
    },

    ack(sink, end, lines) {
      cursors.set(sink, end)
      pendingLines.set(sink, Math.max(0, (pendingLines.get(sink) ?? 0) - lines))
      saveCursor(sink, end)
      dropFullyAcked()
    },

    pending(sink) {
      return pendingLines.get(sink) ?? 0
    },

    wait(sink, min, maxWaitMs, signal) {
      if ((pendingLines.get(sink) ?? 0) >= min) return Promise.resolve()
      return new Promise<void>((resolve) => {
        let timer: NodeJS.Timeout | undefined
        const done = () => {
          if (timer) clearTimeout(timer)
          signal?.removeEventListener('abort', done)
          const list = waiters.get(sink)
          if (list) waiters.set(sink, list.filter((w) => w !== waiter))
          resolve()
        }
        const waiter: Waiter = { min, resolve: done }
        const list = waiters.get(sink) ?? []
        list.push(waiter)
        waiters.set(sink, list)
        signal?.addEventListener('abort', done, { once: true })
        // After maxWaitMs a partial batch goes out; with nothing pending keep waiting for the first line.
        const arm = () => {
          timer = setTimeout(() => ((pendingLines.get(sink) ?? 0) > 0 ? done() : arm()), maxWaitMs)
        }
        arm()
      })
    },

    stats() {
      let pendingMax = 0
      for (const s of opts.sinks) pendingMax = Math.max(pendingMax, pendingLines.get(s) ?? 0)
      if (opts.sinks.length === 0) pendingMax = segments.reduce((n, s) => n + s.lines, 0)
      return { bytes: totalBytes, segments: segments.length, pendingMax, lines: segments.reduce((n, s) => n + s.lines, 0) }
    },

    close() {
      group.commitNow()
      closed = true
      if (fd >= 0) closeSync(fd)
      fd = -1
      for (const list of waiters.values()) for (const w of list) w.resolve()
      waiters.clear()
    },
  }
}
