/**
 * The dead-letter log: JSON lines in `<dataDir>/deadletter/deadletter.jsonl`, one per refused input or
 * point (time, source, topic or address, raw payload, reason), so an operator can see and replay it. Entries
 * are group-committed by the spool's writer (gateway/core/group-commit.ts): `write` resolves once the entry
 * is on disk, so a QoS 1 message that was refused is acknowledged only when its dead letter is kept, and the
 * staging is capped like the spool's (written at once when full), so a flood of refusals takes bounded
 * memory. A group whose write fails is logged and its bytes counted as dropped. The log rotates by size;
 * the directory also takes the spool's overflowing segments (`adoptSpoolSegment`); the oldest files go when
 * the directory exceeds its cap (logged and counted).
 */
import { closeSync, mkdirSync, openSync, readdirSync, renameSync, statSync, unlinkSync } from 'node:fs'
import { basename, join } from 'node:path'
import type { Logger } from 'pino'
import { createGroupCommit, STAGE_BYTES } from './group-commit.ts'

/** Raw payloads larger than this are kept truncated (with their full size noted). */
export const MAX_RAW_KEPT = 64 * 1024

export interface DeadLetterEntry {
  source: string
  address: string
  reason: string
  detail?: string
  device?: string
  raw?: string | Uint8Array
  /** Extra facts (e.g. `points` for a moved spool segment). */
  extra?: Record<string, unknown>
}

export interface DeadLetterLog {
  open(): void
  write(e: DeadLetterEntry): Promise<void>
  /**
   * Take an overflowing spool segment (the spool's `onOverflow`): move it into this directory, keep the
   * directory under its cap, and return its new path. Throws when the file cannot be moved.
   */
  adoptSpoolSegment(segmentFile: string): string
  readonly file: string
  close(): void
}

export interface DeadLetterOptions {
  dir: string
  maxBytes: number
  log: Logger
  /** Bytes of dead letters lost: files deleted over the cap, or a group whose write failed. */
  onDropped?(bytes: number): void
  /** The staging cap (default: the spool's, STAGE_BYTES); a group is written at once when it is reached. */
  maxStagedBytes?: number
  fsync?: boolean
}

export function createDeadLetterLog(opts: DeadLetterOptions): DeadLetterLog {
  const file = join(opts.dir, 'deadletter.jsonl')
  const rotateAt = Math.max(64 * 1024, Math.floor(opts.maxBytes / 4))
  let fd = -1
  let size = 0

  function rotate(): void {
    closeSync(fd)
    renameSync(file, join(opts.dir, `deadletter-${Date.now()}.jsonl`))
    fd = openSync(file, 'a')
    size = 0
    enforceCap()
  }

  function enforceCap(): void {
    // Keep the directory (rotated logs and moved spool segments) under its cap, oldest first.
    const files = readdirSync(opts.dir)
      .filter((f) => f !== 'deadletter.jsonl')
      .map((f) => ({ f, st: statSync(join(opts.dir, f)) }))
      .sort((a, b) => a.st.mtimeMs - b.st.mtimeMs)
    let total = files.reduce((n, x) => n + x.st.size, 0)
    for (const x of files) {
      if (total <= opts.maxBytes) break
      unlinkSync(join(opts.dir, x.f))
      total -= x.st.size
      opts.log.error({ file: x.f, bytes: x.st.size }, 'dead-letter directory over its cap: oldest file deleted')
      opts.onDropped?.(x.st.size)
    }
  }

  const group = createGroupCommit({
    fsync: opts.fsync ?? false,
    maxStagedBytes: opts.maxStagedBytes ?? STAGE_BYTES,
    target: () => {
      if (fd < 0) throw new Error('dead-letter log is not open')
      return fd
    },
    written(bytes) {
      size += bytes
      if (size < rotateAt) return
      // The group is on disk: a failed rotation is logged, it does not fail the group's waiters.
      try {
        rotate()
      } catch (err) {
        opts.log.error({ err }, 'could not rotate the dead-letter log')
      }
    },
    failed(err, bytes, lines) {
      opts.log.error({ err, entries: lines, bytes }, 'dead-letter write failed: entries lost')
      opts.onDropped?.(bytes)
    },
  })

  return {
    file,
    adoptSpoolSegment(segmentFile) {
      mkdirSync(opts.dir, { recursive: true })
      const target = join(opts.dir, `spool-overflow-${Date.now()}-${basename(segmentFile)}`)
      renameSync(segmentFile, target)
      enforceCap()
      return target
    },
    open() {
      mkdirSync(opts.dir, { recursive: true })
      fd = openSync(file, 'a')
      size = statSync(file).size
    },
    write(e) {
      const rec: Record<string, unknown> = { time: new Date().toISOString(), source: e.source, address: e.address, reason: e.reason }
      if (e.detail !== undefined) rec['detail'] = e.detail
      if (e.device !== undefined) rec['device'] = e.device
      if (e.raw !== undefined) {
        const isText = typeof e.raw === 'string'
        const len = isText ? Buffer.byteLength(e.raw as string) : (e.raw as Uint8Array).length
        if (isText) {
          rec['raw'] = len > MAX_RAW_KEPT ? Buffer.from(e.raw as string).subarray(0, MAX_RAW_KEPT).toString('utf8') : e.raw
        } else {
          const b = e.raw as Uint8Array
          rec['raw_hex'] = Buffer.from(b.buffer, b.byteOffset, Math.min(b.length, MAX_RAW_KEPT)).toString('hex')
        }
        if (len > MAX_RAW_KEPT) {
          rec['raw_truncated'] = true
          rec['raw_bytes'] = len
        }
      }
      if (e.extra) Object.assign(rec, e.extra)
      group.stage(JSON.stringify(rec))
      return group.committed()
    },
    close() {
      group.commitNow()
      if (fd >= 0) closeSync(fd)
      fd = -1
    },
  }
}
