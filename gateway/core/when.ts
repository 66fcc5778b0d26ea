/**
 * Times as people ask for stored records: a span back from now (`30m`, `12h`, `7d`) or an ISO 8601 time with
 * its date. One grammar for every question about the past: the history API (`/api/history?since=`), the
 * audit log (`smartcity audit --since`).
 */

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `500ms`, `30s`, `5m`, `6h`, `7d` -> milliseconds (positive integers with a unit only). */
export function parseDurationMs(v: string): number | undefined {
  const m = /^(\d{1,9})(ms|s|m|h|d)$/.exec(v.trim())
  if (!m) return undefined
  const ms = Number(m[1]) * UNITS[m[2]!]!
  return ms > 0 ? ms : undefined
}

/** `30m`, `12h`, `7d` ago, or an ISO 8601 time (with its date; a zone or UTC), as epoch ms. */
export function parseWhen(v: string, now: number): number | undefined {
  const ago = parseDurationMs(v)
  if (ago !== undefined) return now - ago
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(v.trim())) return undefined
  const t = Date.parse(v)
  return Number.isNaN(t) ? undefined : t
}
