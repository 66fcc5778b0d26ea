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
 *
 * The hooks are called as methods of the options object (`o.pause()`), so an object with them on its
 * prototype (the TCP server's connection) needs no closures: a queue per connection of 50,000 terminals
 * is one small object (issue 15 item 6).
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

const RESOLVED: Promise<void> = Promise.resolve()

class OrderedQueue implements Ordered {
  private tail = RESOLVED
  size = 0
  paused = false
  private readonly high: number
  private readonly low: number
  constructor(private readonly o: OrderedOptions) {
    this.high = o.high ?? 64
    this.low = o.low ?? 8
    if (!(this.low >= 0 && this.low < this.high)) throw new RangeError(`ordered queue needs 0 <= low < high (got ${this.low}, ${this.high})`)
  }
  push(job: () => Promise<void> | void): void {
    this.size++
    if (!this.paused && this.size >= this.high) {
      this.paused = true
      this.o.pause?.()
    }
    this.tail = this.tail
      .then(job)
      .catch((err: unknown) => this.o.onError?.(err))
      .then(() => {
        this.size--
        if (this.paused && this.size <= this.low) {
          this.paused = false
          this.o.resume?.()
        }
        // Nothing queued: drop the chain, so an idle queue holds no promise of its last job.
        if (this.size === 0) this.tail = RESOLVED
      })
  }
  idle(): Promise<void> {
    return this.tail
  }
}

export function createOrdered(o: OrderedOptions = {}): Ordered {
  return new OrderedQueue(o)
}
