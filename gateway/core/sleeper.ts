/**
 * A sleep that can be cut short: a polling loop waits for its next due time, and new work (a write
 * request, a stop) wakes it at once.
 */
export interface Sleeper {
  sleep(ms: number): Promise<void>
  /** End the current sleep now (no effect when nobody sleeps). */
  wake(): void
}

export function createSleeper(): Sleeper {
  let wake: (() => void) | undefined
  return {
    sleep: (ms) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          wake = undefined
          resolve()
        }, ms)
        wake = () => {
          clearTimeout(t)
          wake = undefined
          resolve()
        }
      }),
    wake: () => wake?.(),
  }
}
