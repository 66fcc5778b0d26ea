/**
 * The dead-letter log: JSON lines in `<dataDir>/deadletter/deadletter.jsonl`, one per refused input or
 * point (time, source, topic or address, raw payload, reason), so an operator can see and replay it. Entries
 * are group-committed like the spool: `write` resolves once the entry is on disk, so a QoS 1 message that
 * was refused is acknowledged only when its dead letter is kept. The log rotates by size and the oldest
 * rotated files go when the directory exceeds its cap (logged and counted).
 */
import { closeSync, mkdirSync, openSync, readdirSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from 'pino'

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
  readonly file: string
  close(): void
}

export function createDeadLetterLog(opts: { dir: string; maxBytes: number; log: Logger; onDropped?(bytes: number): void }): DeadLetterLog {
  const file = join(opts.dir, 'deadletter.jsonl')
  const rotateAt = Math.max(64 * 1024, Math.floor(opts.maxBytes / 4))
  let fd = -1
  let size = 0
  let staged: string[] = []
  let pending: { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } | undefined

  function rotate(): void {
    closeSync(fd)
    renameSync(file, join(opts.dir, `deadletter-${Date.now()}.jsonl`))
    fd = openSync(file, 'a')
    size = 0
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

  function flush(): void {
    const p = pending
    if (!p) return
    pending = undefined
    const data = Buffer.from(staged.join(''), 'utf8')
    staged = []
    try {
      let off = 0
      while (off < data.length) off += writeSync(fd, data, off, data.length - off)
      size += data.length
      if (size >= rotateAt) rotate()
      p.resolve()
    } catch (err) {
      opts.log.error({ err }, 'dead-letter write failed')
      p.reject(err)
    }
  }

  return {
    file,
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
      staged.push(`${JSON.stringify(rec)}\n`)
      if (!pending) {
        let resolve!: () => void
        let reject!: (e: unknown) => void
        const promise = new Promise<void>((res, rej) => {
          resolve = res
          reject = rej
        })
        promise.catch(() => undefined)
        pending = { promise, resolve, reject }
        setImmediate(flush)
      }
      return pending.promise
    },
    close() {
      flush()
      if (fd >= 0) closeSync(fd)
      fd = -1
    },
  }
}
