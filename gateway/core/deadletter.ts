/**
 * The dead-letter log: JSON lines in `<dataDir>/deadletter/deadletter.jsonl`, one per refused input or
 * point (time, source, topic or address, raw payload, reason), so an operator can see and replay it. Entries
 * are group-committed by the spool's writer (gateway/core/group-commit.ts): `write` resolves once the entry
 * is on disk, so a QoS 1 message that was refused is acknowledged only when its dead letter is kept. The
 * staging is capped like the spool's (STAGE_BYTES per write): what does not fit in one group is not staged
 * but counted into that group's one `deadletter_overflow` record (how many, by reason, source and device)
 * and the `onCoalesced` metric, so a flood of refusals takes bounded memory and bounded time per turn and
 * is never lost without a count. A record never fails to serialize (`recordLine`). The refusals of one
 * message arrive here already coalesced into one record (gateway/core/pipeline.ts). A group whose write fails is logged and its bytes counted as dropped. The log rotates by size;
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
  /**
   * The staging cap (default: the spool's, STAGE_BYTES): entries beyond it within one group are not staged
   * in full but counted into the group's `deadletter_overflow` record (reason, source and device counts).
   */
  maxStagedBytes?: number
  /** Refusals kept only as counts in an overflow record, by reason (a metric: never lost silently). */
  onCoalesced?(byReason: Readonly<Record<string, number>>): void
  fsync?: boolean
}

/** A record as one JSON line: raw payloads bounded, and never throwing (a value JSON cannot carry is noted). */
export function recordLine(e: DeadLetterEntry, time = new Date()): string {
  const rec: Record<string, unknown> = { time: time.toISOString(), source: e.source, address: e.address, reason: e.reason }
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
  if (e.extra) {
    // Extra facts are the caller's values: a cycle, a BigInt or a structure too deep for JSON.stringify
    // must not cost the record (issue 13: 6,000 nested arrays overflowed the stack on this path).
    try {
      JSON.stringify(e.extra)
      Object.assign(rec, e.extra)
    } catch (err) {
      rec['extra_unserializable'] = String((err as Error)?.message ?? err).slice(0, 300)
    }
  }
  try {
    return JSON.stringify(rec)
  } catch (err) {
    // Only strings remain above; a getter or a toJSON of a caller's object is all that could still throw.
    return JSON.stringify({ time: rec['time'], source: String(e.source), address: String(e.address), reason: String(e.reason), detail: `record not serializable: ${String((err as Error)?.message ?? err).slice(0, 300)}` })
  }
}

/** What one dead-letter record stands for, by reason: a coalesced or overflow record's `reasons`, else its `reason` once. */
export function refusalCounts(rec: { reason?: unknown; reasons?: unknown }): [string, number][] {
  if (rec.reasons !== null && typeof rec.reasons === 'object') {
    const out: [string, number][] = []
    for (const [k, v] of Object.entries(rec.reasons as Record<string, unknown>)) if (typeof v === 'number' && v > 0) out.push([k, v])
    if (out.length > 0) return out
  }
  return [[typeof rec.reason === 'string' ? rec.reason : '?', 1]]
}

/** How many distinct sources and devices an overflow record names (the rest are counted as `others`). */
const OVERFLOW_NAMES = 20

/** The entries one group could not stage, as counts: turned into the group's `deadletter_overflow` record. */
function overflowTally() {
  let count = 0
  let reasons: Record<string, number> = {}
  let sources: Record<string, number> = {}
  let devices: Record<string, number> = {}
  let others = 0
  const bump = (m: Record<string, number>, k: string): boolean => {
    const n = m[k]
    if (n !== undefined) m[k] = n + 1
    else if (Object.keys(m).length < OVERFLOW_NAMES) m[k] = 1
    else return false
    return true
  }
  return {
    get count() {
      return count
    },
    get reasons(): Readonly<Record<string, number>> {
      return reasons
    },
    add(e: DeadLetterEntry): void {
      // A coalesced record stands for several refusals: its reasons are what is counted.
      for (const [r, n] of refusalCounts({ reason: e.reason, reasons: e.extra?.['reasons'] })) {
        reasons[r] = (reasons[r] ?? 0) + n
        count += n
      }
      const named = bump(sources, e.source)
      if (!(e.device !== undefined ? bump(devices, e.device) && named : named)) others++
    },
    /** The record, and a fresh tally. */
    take(capBytes: number): string {
      const line = JSON.stringify({
        time: new Date().toISOString(),
        source: 'deadletter',
        address: 'staging',
        reason: 'deadletter_overflow',
        detail: `${count} refusals over the dead-letter staging cap (${capBytes} bytes in one write) kept as counts, without their payloads`,
        count,
        reasons,
        sources,
        devices,
        ...(others > 0 ? { others } : {}),
      })
      count = 0
      reasons = {}
      sources = {}
      devices = {}
      others = 0
      return line
    },
  }
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

  const stageCap = opts.maxStagedBytes ?? STAGE_BYTES
  const overflow = overflowTally()
  const group = createGroupCommit({
    fsync: opts.fsync ?? false,
    maxStagedBytes: stageCap,
    trailer: () => {
      const n = overflow.count
      if (n === 0) return undefined
      opts.log.warn({ entries: n, reasons: overflow.reasons }, 'dead-letter staging full: refusals kept as counts in one record')
      opts.onCoalesced?.(overflow.reasons)
      return overflow.take(stageCap)
    },
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
      let line: string
      try {
        line = recordLine(e)
      } catch (err) {
        // recordLine does not throw; should it, the refusal is still kept as what is known of it.
        line = JSON.stringify({ time: new Date().toISOString(), source: String(e.source), address: String(e.address), reason: String(e.reason), detail: `dead-letter record failed: ${String((err as Error)?.message ?? err)}` })
      }
      // Over the staging cap: counted into this group's overflow record instead (one line past the cap is
      // kept when nothing else is staged, as group-commit does).
      if (group.stagedBytes > 0 && group.stagedBytes + line.length * 3 + 1 > stageCap) {
        overflow.add(e)
        return group.committed()
      }
      group.stage(line)
      return group.committed()
    },
    close() {
      group.commitNow()
      if (fd >= 0) closeSync(fd)
      fd = -1
    },
  }
}
