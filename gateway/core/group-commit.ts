/**
 * The one group-commit writer, used by the spool and the dead-letter log (docs/style.md section 5).
 *
 * Lines staged in the same turn of the event loop are encoded at once into one staging buffer (outside the
 * JavaScript heap, so a burst of staged lines is not copied around by the young-generation collector) and
 * written with one `writeSync` on the next turn (`setImmediate`), at once by `commitNow`, or as soon as the
 * buffer is full: the buffer is the cap, so what a burst can take in memory is bounded by `maxStagedBytes`
 * (or one line longer than it) and nothing staged is ever dropped for lack of room. Every line of a group
 * shares one promise, `committed()`, which resolves after the write (and the fdatasync with `fsync: true`)
 * and after the owner's `written` bookkeeping, or rejects when the write fails: then the group's waiters
 * fail and the owner's `failed` hook counts the loss.
 */
import { fdatasyncSync, writeSync } from 'node:fs'

/** A group is written once it reaches this size, whatever the turn of the event loop. */
export const STAGE_BYTES = 1 << 20
const NL = 0x0a

export interface GroupCommitOptions {
  /** The file descriptor to write a group of `bytes` bytes to (the owner may rotate its file here). */
  target(bytes: number): number
  /** fdatasync every group: survives power loss, at a cost in throughput. */
  fsync: boolean
  /** The staging buffer's size, the most staged before a write (default STAGE_BYTES). */
  maxStagedBytes?: number
  /** After a group is on disk, before its waiters resolve: the owner's bookkeeping (sizes, rotation, cap). */
  written?(bytes: number, lines: number): void
  /** A group could not be written (or `written` threw): its waiters reject with `err`; the owner logs and counts. */
  failed?(err: unknown, bytes: number, lines: number): void
  /**
   * A last line for the group, asked for as it is written (the dead-letter log's count of what it did not
   * stage: gateway/core/deadletter.ts); it is written with the group, past the cap if it must be.
   */
  trailer?(): string | undefined
}

export interface GroupCommit {
  /** Stage one line (without its newline); written on the next turn, or now if the buffer is full. */
  stage(line: string): void
  /** The promise of the group being staged (resolved at once when nothing is staged). */
  committed(): Promise<void>
  /** Write the staged group now. */
  commitNow(): void
  /** Bytes staged and not yet written. */
  readonly stagedBytes: number
}

export function createGroupCommit(opts: GroupCommitOptions): GroupCommit {
  const cap = opts.maxStagedBytes ?? STAGE_BYTES
  // The staged group, UTF-8 encoded, newline-terminated: `stagedBytes` of `buf`, `stagedLines` lines.
  let buf = Buffer.allocUnsafe(cap)
  let stagedBytes = 0
  let stagedLines = 0
  let groupPromise: Promise<void> | undefined
  let groupResolve: (() => void) | undefined
  let groupReject: ((e: unknown) => void) | undefined
  let scheduled = false

  function flush(): void {
    scheduled = false
    if (stagedLines === 0) return
    const last = opts.trailer?.()
    if (last !== undefined) {
      const room = last.length * 3 + 1
      if (stagedBytes + room > buf.length) {
        const bigger = Buffer.allocUnsafe(stagedBytes + room)
        buf.copy(bigger, 0, 0, stagedBytes)
        buf = bigger
      }
      stagedBytes += buf.write(last, stagedBytes)
      buf[stagedBytes++] = NL
      stagedLines++
    }
    const resolve = groupResolve!
    const reject = groupReject!
    const size = stagedBytes
    const lines = stagedLines
    stagedBytes = 0
    stagedLines = 0
    groupPromise = undefined
    groupResolve = undefined
    groupReject = undefined
    try {
      const fd = opts.target(size)
      // A short write to a regular file (disk full) is finished, or the group fails.
      let off = 0
      while (off < size) off += writeSync(fd, buf, off, size - off)
      if (opts.fsync) fdatasyncSync(fd)
      opts.written?.(size, lines)
    } catch (err) {
      opts.failed?.(err, size, lines)
      reject(err)
      return
    }
    resolve()
  }

  function stage(line: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit; the group is written first if the line might not fit.
    const room = line.length * 3 + 1
    // A buffer grown for one long line is given back once that line is written.
    if (stagedBytes === 0 && buf.length > cap && room <= cap) buf = Buffer.allocUnsafe(cap)
    if (stagedBytes + room > buf.length) {
      flush()
      // One line longer than the buffer gets a buffer of its own.
      if (room > buf.length) buf = Buffer.allocUnsafe(room)
    }
    stagedBytes += buf.write(line, stagedBytes)
    buf[stagedBytes++] = NL
    stagedLines++
    if (!groupPromise) {
      groupPromise = new Promise<void>((res, rej) => {
        groupResolve = res
        groupReject = rej
      })
      // Nobody may be waiting on this group (QoS 0); a write error goes to `failed`.
      groupPromise.catch(() => undefined)
    }
    if (!scheduled) {
      scheduled = true
      setImmediate(flush)
    }
  }

  return {
    stage,
    committed: () => groupPromise ?? Promise.resolve(),
    commitNow: flush,
    get stagedBytes() {
      return stagedBytes
    },
  }
}
