import { z } from 'zod'

const MIN_MS = Date.UTC(2000, 0, 1)
const MAX_MS = Date.UTC(2100, 0, 1)

/**
 * A reading's own timestamp: epoch milliseconds, or an ISO-8601 string with an explicit offset
 * (`2026-11-22T10:00:00+08:00`). A string without offset is refused: its zone would be a guess.
 */
export const Timestamp = z.union([
  z.number().int().min(MIN_MS).max(MAX_MS),
  z.iso.datetime({ offset: true }).refine((s) => {
    const t = Date.parse(s)
    return t >= MIN_MS && t <= MAX_MS
  }, 'timestamp outside 2000..2100'),
])
export type Timestamp = z.infer<typeof Timestamp>

export function timestampMs(ts: Timestamp | undefined, fallback: number): number {
  if (ts === undefined) return fallback
  return typeof ts === 'number' ? ts : Date.parse(ts)
}

/** Beijing time (UTC+8, no daylight saving) wall-clock parts to epoch ms: HJ 212 and JT/T 808 times. */
export function beijingToUtcMs(y: number, mo: number, d: number, h: number, mi: number, s: number, ms = 0): number {
  return Date.UTC(y, mo - 1, d, h, mi, s, ms) - 8 * 3_600_000
}

/** Epoch ms to Beijing wall-clock parts (for encoders). */
export function utcMsToBeijing(t: number): { y: number; mo: number; d: number; h: number; mi: number; s: number; ms: number } {
  const b = new Date(t + 8 * 3_600_000)
  return {
    y: b.getUTCFullYear(),
    mo: b.getUTCMonth() + 1,
    d: b.getUTCDate(),
    h: b.getUTCHours(),
    mi: b.getUTCMinutes(),
    s: b.getUTCSeconds(),
    ms: b.getUTCMilliseconds(),
  }
}
