/**
 * The security audit log (issue 13 section 5), the file behind `Audit` (gateway/core/audit.ts): JSON lines in
 * `<dir>/audit-YYYY-MM-DD.jsonl` (the UTC date), rotated at midnight UTC and when a file reaches
 * `maxFileBytes` (`audit-YYYY-MM-DD.1.jsonl`, `.2`, ...), files whose date is older than `retentionDays`
 * removed (at open and every hour). `smartcity audit` reads them (`readAuditRecords`).
 *
 * `record` never throws and never waits: it stages the line in the house's group-commit writer
 * (gateway/core/group-commit.ts, a capped buffer written with one write on the next turn of the event loop), so
 * an operator action or a refused login costs the ingest path one `JSON.stringify`. A flood of the same
 * event (a device publishing under another's topic a thousand times a second, one address guessing tokens)
 * is coalesced: the first record of a kind (same actor, action, target, address without port, outcome and
 * reason) is written at once, the repeats within `coalesceMs` become one record with `repeated: N` and
 * `since` when the window closes, so the log keeps every distinct event and how often it happened at a
 * bounded cost in disk and time. A record that cannot be written (disk full, directory not writable) is
 * counted (`onDropped`) and logged, and the gateway goes on.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { z } from 'zod'
import type { Audit, AuditOutcome, AuditRecord } from './audit.ts'
import { createGroupCommit } from './group-commit.ts'

/** `audit:` in the gateway file. */
export const AuditConfig = z.strictObject({
  enabled: z.boolean().default(true),
  /** Where the files go (default `<dataDir>/audit`). */
  dir: z.string().min(1).optional(),
  /** Days a file is kept (by the date in its name); the Cybersecurity Law asks for at least six months. */
  retentionDays: z.number().int().min(1).default(180),
  /** Size at which a day's file continues in the next (`.1`, `.2`, ...). */
  maxFileBytes: z.number().int().min(64 * 1024).default(64 * 1024 * 1024),
})
export type AuditConfig = z.infer<typeof AuditConfig>

/** One line of the audit log: the record as given, its time filled in, and the repeat count when coalesced. */
export interface AuditLine extends AuditRecord {
  time: string
  /** How many more records like this one arrived from `since` to `time` (coalesced). */
  repeated?: number
  since?: string
}

export interface AuditLogOptions {
  dir: string
  /** Files whose date is more than this many days before today are removed (default 180). */
  retentionDays?: number
  /** A file is continued in the next (`.1`, `.2`, ...) once it reaches this size (default 64 MiB). */
  maxFileBytes?: number
  /** Repeats of one record within this window are written as one record with a count (default 1000 ms). */
  coalesceMs?: number
  log: Logger
  /** Records lost (a write failed, the directory is not writable). */
  onDropped?(records: number): void
  now?: () => number
}

export interface AuditLog extends Audit {
  open(): void
  /** Write what is staged and the pending repeat counts now. */
  flush(): void
  close(): void
  readonly dir: string
  /** For /healthz: degraded while records cannot be written (they are counted as dropped). */
  health(): { status: 'ok' | 'degraded'; detail: string }
}

const DAY_MS = 86_400_000
const FILE_RE = /^audit-(\d{4}-\d{2}-\d{2})(?:\.(\d+))?\.jsonl$/
/** Longest text kept in one field (a target, a detail): the log's lines stay bounded whatever a peer sends. */
const MAX_FIELD = 1024
/** Distinct kinds of record tracked for coalescing at once; past it records are written without tracking. */
const MAX_TRACKED = 10_000

const utcDate = (ms: number) => new Date(ms).toISOString().slice(0, 10)

/** The audit files of a directory, oldest first: date, then index. */
export function auditFiles(dir: string): { file: string; date: string; index: number }[] {
  if (!existsSync(dir)) return []
  const out: { file: string; date: string; index: number }[] = []
  for (const f of readdirSync(dir)) {
    const m = FILE_RE.exec(f)
    if (m) out.push({ file: join(dir, f), date: m[1]!, index: m[2] === undefined ? 0 : Number(m[2]) })
  }
  return out.sort((a, b) => (a.date === b.date ? a.index - b.index : a.date < b.date ? -1 : 1))
}

const clip = (s: string | undefined) => (s === undefined ? undefined : s.length > MAX_FIELD ? `${s.slice(0, MAX_FIELD)}…` : s)

/** The host part of `ip:port`, `[v6]:port` or a bare address: repeats from one host coalesce whatever the port. */
function host(address: string | undefined): string {
  if (!address) return ''
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(address)
  if (v6) return v6[1]!
  const i = address.lastIndexOf(':')
  return i > 0 && address.indexOf(':') === i && /^\d+$/.test(address.slice(i + 1)) ? address.slice(0, i) : address
}

/** The line for a record: only the contract's fields, strings clipped, so stringify cannot throw or grow unbounded. */
function lineOf(r: AuditRecord, time: string, extra?: { repeated: number; since: string }): string {
  const o: Record<string, string | number> = { time, actor: clip(String(r.actor)) ?? '', actorType: r.actorType, action: clip(String(r.action)) ?? '' }
  if (r.target !== undefined) o['target'] = clip(String(r.target))!
  if (r.address !== undefined) o['address'] = clip(String(r.address))!
  o['outcome'] = r.outcome
  if (r.reason !== undefined) o['reason'] = clip(String(r.reason))!
  if (r.detail !== undefined) o['detail'] = clip(String(r.detail))!
  if (extra) {
    o['repeated'] = extra.repeated
    o['since'] = extra.since
  }
  return JSON.stringify(o)
}

export function createAuditLog(opts: AuditLogOptions): AuditLog {
  const now = opts.now ?? Date.now
  const retentionDays = opts.retentionDays ?? 180
  const maxFileBytes = opts.maxFileBytes ?? 64 * 1024 * 1024
  const coalesceMs = opts.coalesceMs ?? 1000
  let fd = -1
  let date = ''
  let index = 0
  let size = 0
  let opened = false
  let broken = false
  let sweep: NodeJS.Timeout | undefined
  let prune: NodeJS.Timeout | undefined
  /** Kinds of record seen within the window: the first record (written) and the repeats since. */
  const recent = new Map<string, { first: AuditRecord; at: number; repeats: number }>()

  function openFile(d: string, i: number): void {
    if (fd >= 0) closeSync(fd)
    fd = -1
    const file = join(opts.dir, `audit-${d}${i === 0 ? '' : `.${i}`}.jsonl`)
    fd = openSync(file, 'a', 0o600)
    date = d
    index = i
    size = statSync(file).size
  }

  function removeExpired(): void {
    const oldest = utcDate(now() - retentionDays * DAY_MS)
    for (const f of auditFiles(opts.dir)) {
      if (f.date >= oldest) continue
      try {
        unlinkSync(f.file)
        opts.log.info({ file: f.file, retentionDays }, 'audit file past its retention removed')
      } catch (err) {
        opts.log.warn({ err, file: f.file }, 'could not remove an expired audit file')
      }
    }
  }

  const group = createGroupCommit({
    fsync: false,
    maxStagedBytes: 256 * 1024,
    target(bytes) {
      if (!opened) throw new Error('audit log is not open')
      const today = utcDate(now())
      if (today !== date) {
        openFile(today, 0)
        // A new day: the oldest day may now be past its retention.
        removeExpired()
      }
      if (size > 0 && size + bytes > maxFileBytes) openFile(date, index + 1)
      return fd
    },
    written(bytes) {
      size += bytes
      broken = false
    },
    failed(err, _bytes, lines) {
      // Once per failing spell, not once per group: a full disk must not flood the log either.
      if (!broken) opts.log.error({ err, records: lines, dir: opts.dir }, 'audit records could not be written')
      broken = true
      opts.onDropped?.(lines)
    },
  })

  function stage(line: string): void {
    if (!opened) {
      opts.onDropped?.(1)
      return
    }
    group.stage(line)
  }

  /** Close the windows that ended: one record with the count of repeats for each kind that had any. */
  function closeWindows(all: boolean): void {
    const t = now()
    for (const [key, e] of recent) {
      if (!all && t - e.at < coalesceMs) continue
      recent.delete(key)
      if (e.repeats > 0) stage(lineOf(e.first, new Date(t).toISOString(), { repeated: e.repeats, since: new Date(e.at).toISOString() }))
    }
  }

  return {
    dir: opts.dir,
    health: () =>
      !opened ? { status: 'degraded', detail: `not open: records are dropped (${opts.dir})` } : broken ? { status: 'degraded', detail: `writes failing in ${opts.dir}: records are dropped` } : { status: 'ok', detail: opts.dir },
    record(r) {
      try {
        const t = now()
        const key = `${r.actor}\u0000${r.actorType}\u0000${r.action}\u0000${r.target ?? ''}\u0000${host(r.address)}\u0000${r.outcome}\u0000${r.reason ?? ''}`
        const seen = recent.get(key)
        if (seen && t - seen.at < coalesceMs) {
          seen.repeats++
          return
        }
        if (seen) {
          // Its window has ended: its repeats first, then this record starts a new one.
          recent.delete(key)
          if (seen.repeats > 0) stage(lineOf(seen.first, new Date(t).toISOString(), { repeated: seen.repeats, since: new Date(seen.at).toISOString() }))
        }
        if (recent.size < MAX_TRACKED) recent.set(key, { first: r, at: t, repeats: 0 })
        stage(lineOf(r, r.time ?? new Date(t).toISOString()))
      } catch (err) {
        // The contract: recording never throws into an HTTP handler or the broker.
        opts.log.error({ err }, 'audit record failed')
        opts.onDropped?.(1)
      }
    },
    open() {
      try {
        mkdirSync(opts.dir, { recursive: true, mode: 0o700 })
        // Continue today's last file.
        const today = utcDate(now())
        const last = auditFiles(opts.dir)
          .filter((f) => f.date === today)
          .pop()
        openFile(today, last?.index ?? 0)
        opened = true
        removeExpired()
      } catch (err) {
        opts.log.error({ err, dir: opts.dir }, 'audit log cannot be opened: audit records will be counted as dropped')
      }
      sweep = setInterval(() => closeWindows(false), coalesceMs)
      sweep.unref()
      prune = setInterval(() => {
        try {
          removeExpired()
        } catch (err) {
          opts.log.warn({ err }, 'audit retention sweep failed')
        }
      }, 3_600_000)
      prune.unref()
    },
    flush() {
      closeWindows(true)
      group.commitNow()
    },
    close() {
      if (sweep) clearInterval(sweep)
      if (prune) clearInterval(prune)
      closeWindows(true)
      group.commitNow()
      opened = false
      if (fd >= 0) closeSync(fd)
      fd = -1
    },
  }
}

export interface AuditQuery {
  /** Records at or after this time (ms since epoch). */
  since?: number
  until?: number
  actor?: string
  /** An action (`alarm.ack`) or a family (`mqtt.*`, `mqtt.`). */
  action?: string
  outcome?: AuditOutcome
}

/** The records of an audit directory that match, oldest first. Lines that are not audit records are skipped. */
export function readAuditRecords(dir: string, q: AuditQuery = {}): AuditLine[] {
  const fromDate = q.since === undefined ? '' : utcDate(q.since)
  const family = q.action?.endsWith('.*') ? q.action.slice(0, -1) : q.action?.endsWith('.') ? q.action : undefined
  const out: AuditLine[] = []
  for (const f of auditFiles(dir)) {
    // A file holds records of its date (a group written just after midnight may start the next day's file).
    if (f.date < fromDate) continue
    for (const line of readFileSync(f.file, 'utf8').split('\n')) {
      if (!line) continue
      let r: AuditLine
      try {
        r = JSON.parse(line) as AuditLine
      } catch {
        continue // a torn last line after a crash
      }
      if (typeof r?.time !== 'string' || typeof r.action !== 'string') continue
      const t = Date.parse(r.time)
      if (q.since !== undefined && t < q.since) continue
      if (q.until !== undefined && t > q.until) continue
      if (q.actor !== undefined && r.actor !== q.actor) continue
      if (family !== undefined ? !r.action.startsWith(family) : q.action !== undefined && r.action !== q.action) continue
      if (q.outcome !== undefined && r.outcome !== q.outcome) continue
      out.push(r)
    }
  }
  return out.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0))
}
