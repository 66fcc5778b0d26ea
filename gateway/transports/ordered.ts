/**
 * The one per-connection ordered work queue: frames of one connection (or one bus) are handled one after
 * the other in arrival order, while the socket keeps reading. When `high` jobs are queued the queue calls
 * `pause()` (the stream stops reading, so TCP pushes back on the device); once it is down to `low` it calls
 * `resume()`. A job that throws is reported to `onError` and does not stop the jobs after it.
 * `idle()` resolves when everything queued so far is done: `stop()` waits on it.
 *
 *   const q = createOrdered({ pause: () => socket.pause(), resume: () => socket.resume(), onError: (e) => log.error(e) })
 *   socket.on('data', (c) => { for (const f of framer.push(c)) q.push(() => handle(f)) })
 *   // stop: socket.destroy(); await q.idle()
 */
export interface OrderedOptions {
  /** Queued jobs at which `pause` is called (default 64). */
  high?: number
  /** Queued jobs at which a paused queue calls `resume` (default 8). */
  low?: number
  pause?: () => void
  resume?: () => void
  /** A job threw or rejected (default: ignored). */
  onError?: (err: unknown) => void
}

export interface Ordered {
  /** Queue a job; it starts when every job pushed before it has ended. */
  push(job: () => Promise<void> | void): void
  /** Resolves once every job pushed so far has ended. */
  idle(): Promise<void>
  /** Jobs queued or running. */
  readonly size: number
  /** Whether the queue has paused its stream. */
  readonly paused: boolean
}

export function createOrdered(o: OrderedOptions = {}): Ordered {
  const high = o.high ?? 64
  const low = o.low ?? 8
  if (!(low >= 0 && low < high)) throw new RangeError(`ordered queue needs 0 <= low < high (got ${low}, ${high})`)
  let tail: Promise<void> = Promise.resolve()
  let size = 0
  let paused = false
  return {
    push(job) {
      size++
      if (!paused && size >= high) {
        paused = true
        o.pause?.()
      }
      tail = tail
        .then(job)
        .catch((err: unknown) => o.onError?.(err))
        .then(() => {
          size--
          if (paused && size <= low) {
            paused = false
            o.resume?.()
          }
        })
    },
    idle() {
      return tail
    },
    get size() {
      return size
    },
    get paused() {
      return paused
    },
  }
}
