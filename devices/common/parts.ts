/**
 * Bookkeeping for split messages waiting for their other parts (JT/T 808 subpackages, HJ 212 PNUM/PNO):
 * a Map keyed by message, in arrival order, bounded in count and age so a peer cannot hold memory forever.
 */

/** Make room for one more entry: drop the oldest when `m` already holds `max`. */
export function evictOldest<K, V>(m: Map<K, V>, max: number): void {
  if (m.size < max) return
  const oldest = m.keys().next()
  if (!oldest.done) m.delete(oldest.value)
}

/** Drop entries whose first part arrived more than `maxAgeMs` before `now`; returns how many. */
export function expireOlder<K, V extends { first: number }>(m: Map<K, V>, now: number, maxAgeMs: number): number {
  let n = 0
  for (const [k, e] of m) {
    if (now - e.first > maxAgeMs) {
      m.delete(k)
      n++
    }
  }
  return n
}
