/**
 * Sleeps that a stop (or new work) can cut short, on `node:timers/promises` and `AbortSignal`.
 *
 * `sleep(ms, signal)` resolves `true` when the time passed and `false` when `signal` aborted first (or was
 * already aborted): a loop writes `if (!(await sleep(ms, stop.signal))) return` instead of catching an
 * AbortError. To wake a sleeping loop early without stopping it (a polling master that just got a write
 * request), give each sleep its own controller and abort that one: see `createNap`.
 */
import { setTimeout as delay } from 'node:timers/promises'

export async function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return false
  try {
    await delay(Math.max(0, ms), undefined, signal ? { signal } : undefined)
    return true
  } catch (err) {
    if (signal?.aborted) return false
    throw err
  }
}

/**
 * A sleep that `wake()` ends at once (the next sleep is not affected). `signal` (optional) ends every sleep,
 * for good: a stopped loop stays awake. Replaces the old hand-written `Sleeper`.
 */
export interface Nap {
  /** Resolves true when `ms` passed, false when woken or stopped. */
  sleep(ms: number): Promise<boolean>
  /** End the current sleep now (no effect when nobody sleeps). */
  wake(): void
}

export function createNap(signal?: AbortSignal): Nap {
  let current: AbortController | undefined
  return {
    async sleep(ms) {
      const c = new AbortController()
      current = c
      try {
        return await sleep(ms, signal ? AbortSignal.any([c.signal, signal]) : c.signal)
      } finally {
        if (current === c) current = undefined
      }
    },
    wake() {
      current?.abort()
    },
  }
}
