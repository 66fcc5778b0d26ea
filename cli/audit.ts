/**
 * `smartcity audit [--since 1h|2d|ISO] [--until ...] [--actor NAME] [--action A|family.*] [--outcome O]
 * [--json] [--config FILE | --data-dir DIR]`: the security audit log (gateway/core/audit-log.ts), oldest
 * first, one line per record for people or the records as JSON lines (`--json`, for jq).
 */
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { loadConfig } from '../gateway/config.ts'
import type { AuditOutcome } from '../gateway/core/audit.ts'
import { type AuditLine, type AuditQuery, readAuditRecords } from '../gateway/core/audit-log.ts'
import { parseWhen } from '../gateway/core/when.ts'

export const AUDIT_USAGE = `usage: smartcity audit [--since 1h|2d|ISO] [flags]

print the security audit log (operator actions, authentication failures), oldest first

flags:
  --since WHEN           records from this long ago (30m, 12h, 7d) or this time (ISO 8601)
  --until WHEN           records up to then (same forms)
  --actor NAME           one token, device or user (anonymous, system)
  --action ACTION        one action (alarm.ack, device.write, config.reload, http.auth, ...) or a family (mqtt.*)
  --outcome OUTCOME      ok, denied or failed
  --json                 the records as JSON lines
  --config FILE          the gateway configuration (its audit.dir or dataDir)
  --data-dir DIR         the gateway's dataDir (default ./data): the log is in DIR/audit
`

/**
 * Control characters as `\u001b`: a topic or a client id is the peer's text, and a terminal must not take
 * an escape sequence from it (an audit log that rewrites the screen it is read on).
 */
const safe = (v: string) => v.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)

/** One record for people: time, outcome, action, who, from where, on what, why. */
export function formatAuditLine(r: AuditLine): string {
  const parts = [r.time, r.outcome.padEnd(6), r.action.padEnd(14), r.actorType === 'anonymous' ? r.actor : `${r.actor} (${r.actorType})`, r.address ?? '-', r.target ?? '-']
  if (r.reason) parts.push(r.reason)
  let line = safe(parts.join('  '))
  if (r.detail) line += `  "${safe(r.detail)}"`
  if (r.repeated) line += `  (${r.repeated} more since ${r.since})`
  return line
}

const OUTCOMES: readonly AuditOutcome[] = ['ok', 'denied', 'failed']

export async function runAudit(argv: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream, now = Date.now()): Promise<number> {
  let values: Record<string, string | boolean | undefined>
  try {
    ;({ values } = parseArgs({
      args: argv,
      options: {
        since: { type: 'string' },
        until: { type: 'string' },
        actor: { type: 'string' },
        action: { type: 'string' },
        outcome: { type: 'string' },
        json: { type: 'boolean' },
        config: { type: 'string', short: 'c' },
        'data-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }))
  } catch (e) {
    err.write(`${(e as Error).message}\n${AUDIT_USAGE}`)
    return 2
  }
  if (values['help']) {
    out.write(AUDIT_USAGE)
    return 0
  }
  const q: AuditQuery = {}
  for (const k of ['since', 'until'] as const) {
    const v = values[k]
    if (typeof v !== 'string') continue
    const t = parseWhen(v, now)
    if (t === undefined) {
      err.write(`--${k}: not a time: ${v} (write e.g. 30m, 12h, 7d or 2026-12-01T08:00:00+08:00)\n`)
      return 2
    }
    q[k] = t
  }
  if (typeof values['actor'] === 'string') q.actor = values['actor']
  if (typeof values['action'] === 'string') q.action = values['action']
  const outcome = values['outcome']
  if (typeof outcome === 'string') {
    if (!OUTCOMES.includes(outcome as AuditOutcome)) {
      err.write(`--outcome: one of ${OUTCOMES.join(', ')}\n`)
      return 2
    }
    q.outcome = outcome as AuditOutcome
  }
  let dir: string
  const dataDir = typeof values['data-dir'] === 'string' ? values['data-dir'] : undefined
  if (typeof values['config'] === 'string') {
    const r = await loadConfig(values['config'], dataDir === undefined ? {} : { dataDir })
    if (!r.ok) {
      err.write(`configuration has ${r.problems.length} problem(s):\n${r.problems.map((p) => `  ${p}`).join('\n')}\n`)
      return 1
    }
    dir = r.config.audit.dir ?? join(r.config.dataDir, 'audit')
  } else dir = join(dataDir ?? './data', 'audit')
  const records = readAuditRecords(dir, q)
  for (const r of records) out.write(`${values['json'] ? JSON.stringify(r) : formatAuditLine(r)}\n`)
  if (records.length === 0 && !values['json']) err.write(`no audit records in ${dir}${q.since !== undefined ? ` since ${new Date(q.since).toISOString()}` : ''}\n`)
  return 0
}
