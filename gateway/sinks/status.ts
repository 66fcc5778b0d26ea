import type { WriteResult } from '../core/types.ts'

/** `Retry-After` as milliseconds: delta-seconds or an HTTP date. */
export function parseRetryAfter(v: string | string[] | undefined | null, now = Date.now()): number | undefined {
  const s = Array.isArray(v) ? v[0] : v
  if (!s) return undefined
  if (/^\d+(\.\d+)?$/.test(s.trim())) return Math.round(Number(s) * 1000)
  const t = Date.parse(s)
  return Number.isNaN(t) ? undefined : Math.max(0, t - now)
}

/**
 * What an InfluxDB status code means for the spool (Telegraf's outputs/influxdb_v2/http.go):
 * 2xx written; 400 and 422 will never be accepted (bad line, type conflict, outside retention) so the
 * offending lines go to the dead-letter log; 413 means split the batch; everything else (401/403 until an
 * operator fixes the credentials, 404 until the database exists, 429, 5xx) is retried with back-off.
 */
export function classifyStatus(status: number, body: string, retryAfter: string | string[] | undefined | null): WriteResult {
  if (status >= 200 && status < 300) return { kind: 'accepted' }
  const reason = `HTTP ${status}: ${body.slice(0, 300).trim()}`
  if (status === 400 || status === 422) return { kind: 'rejected', status, reason }
  if (status === 413) return { kind: 'too_large', reason }
  const after = parseRetryAfter(retryAfter)
  return after === undefined ? { kind: 'retry', reason } : { kind: 'retry', reason, retryAfterMs: after }
}
