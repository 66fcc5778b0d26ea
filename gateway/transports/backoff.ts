/**
 * The one back-off helper: every reconnect and retry loop in the house asks it for its next delay.
 *
 * Delays grow exponentially from `minMs` by `factor` up to `maxMs`; `jitter` (0..1) takes up to that share
 * off each delay at random (so a delay is in `[base * (1 - jitter), base]` and never above `maxMs`), which
 * keeps a hundred devices that lost the same broker from knocking again in the same millisecond.
 * `reset()` after a success starts again from `minMs`. Give `random` (a function returning [0, 1)) to make
 * the sequence deterministic in tests.
 *
 * Configs spell these options `reconnectMinMs` / `reconnectMaxMs` (sources) and pass them as `minMs`/`maxMs`.
 *
 *   const b = createBackoff({ minMs: 250, maxMs: 5_000 })
 *   for (;;) { try { await connect(); b.reset(); break } catch { if (!(await sleep(b.next(), signal))) return } }
 */
export interface BackoffOptions {
  /** First delay (ms). */
  minMs: number
  /** Largest delay (ms). */
  maxMs: number
  /** Growth per failure; default 2. */
  factor?: number
  /** Share of a delay taken off at random, 0 (none) to 1; default 0.5. */
  jitter?: number
  /** A source of [0, 1) numbers; default Math.random. */
  random?: () => number
}

export interface Backoff {
  /** The delay before the next attempt; each call counts one more failure. */
  next(): number
  /** A success: the next delay is `minMs` again. */
  reset(): void
  /** Failures since the last reset (calls to `next`). */
  readonly attempts: number
}

export function createBackoff(o: BackoffOptions): Backoff {
  const factor = o.factor ?? 2
  const jitter = Math.min(1, Math.max(0, o.jitter ?? 0.5))
  const random = o.random ?? Math.random
  if (!(o.minMs >= 0) || !(o.maxMs >= o.minMs)) throw new RangeError(`back-off needs 0 <= minMs <= maxMs (got ${o.minMs}, ${o.maxMs})`)
  if (!(factor >= 1)) throw new RangeError(`back-off factor must be >= 1 (got ${factor})`)
  let attempts = 0
  return {
    next() {
      // Capped exponent: 2 ** 1000 is Infinity, and min(Infinity, max) is fine, but keep it finite anyway.
      const base = Math.min(o.maxMs, o.minMs * factor ** Math.min(attempts, 64))
      attempts++
      return Math.round(base * (1 - jitter * random()))
    },
    reset() {
      attempts = 0
    },
    get attempts() {
      return attempts
    },
  }
}
