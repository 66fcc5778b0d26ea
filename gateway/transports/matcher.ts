/**
 * The one request/response matcher: a request registers what its answer looks like, the reader hands every
 * incoming message to `settle`, and the request's promise resolves with its answer, or rejects after a
 * timeout, on its AbortSignal, or when the link drops (`failAll`).
 *
 * Two ways to say what the answer is, both served by one matcher:
 * - by key (many in flight: a JT/T 808 serial number, an HJ 212 QN, a Modbus TCP transaction id):
 *   `wait(qn, ...)`, and the matcher's `keyOf(value)` tells which key an incoming value answers;
 * - by predicate (one in flight on a half-duplex bus: Modbus RTU, DL/T 645): `wait((m) => m.address === a)`.
 *   Predicates are tried in the order they were registered. `maxPending: 1` makes a second concurrent
 *   wait a programming error (rejected with `busy`) instead of a silent cross-talk.
 *
 * `settle(value)` returns whether somebody took it, so a source can count or dead-letter answers nobody
 * waited for (late, foreign). Keys must not be functions (a function is taken for a predicate).
 *
 *   const m = createMatcher<string, Hj212Message>({ keyOf: (x) => x.qn })
 *   send(request); const answer = await m.wait(qn, { timeoutMs: 10_000, signal, what: `9012 for QN ${qn}` })
 *   // reader: if (!m.settle(msg)) reject('unexpected_reply', ...); on close: m.failAll(new Error('closed'))
 */

/** Why a wait ended without an answer (other than `failAll`, which rejects with the caller's error). */
export class MatchError extends Error {
  constructor(
    readonly code: 'timeout' | 'aborted' | 'busy',
    message: string,
  ) {
    super(message)
    this.name = 'MatchError'
  }
}

export interface WaitOptions {
  /** Reject with `MatchError('timeout')` after this long. */
  timeoutMs: number
  /** Reject with `MatchError('aborted')` when this aborts (a stop). */
  signal?: AbortSignal | undefined
  /** What is awaited, for the error message (`reply from 000000001234`). */
  what?: string | undefined
}

export interface Matcher<K, V> {
  /** Resolve with the value answering `key` (or accepted by `predicate`). */
  wait(match: K | ((value: V) => boolean), opts: WaitOptions): Promise<V>
  /** Hand an incoming value to its waiter; false when nobody waited for it. */
  settle(value: V): boolean
  /** Reject every wait with `err` (the link closed). */
  failAll(err: Error): void
  /** Waits not yet settled. */
  readonly pending: number
}

export interface MatcherOptions<K, V> {
  /** The key an incoming value answers; without it only predicate waits can match. */
  keyOf?: (value: V) => K | undefined
  /** At most this many waits at once (1: a half-duplex bus); more are rejected with `busy`. */
  maxPending?: number
}

interface Waiter<V> {
  accept?: (value: V) => boolean
  ok(value: V): void
  fail(err: Error): void
}

export function createMatcher<K, V>(o: MatcherOptions<K, V> = {}): Matcher<K, V> {
  const byKey = new Map<K, Waiter<V>>()
  const byPredicate: Waiter<V>[] = []
  const max = o.maxPending ?? Number.POSITIVE_INFINITY

  function wait(match: K | ((value: V) => boolean), opts: WaitOptions): Promise<V> {
    const what = opts.what ?? 'an answer'
    if (byKey.size + byPredicate.length >= max) return Promise.reject(new MatchError('busy', `already waiting for ${max} answer(s); not waiting for ${what}`))
    if (opts.signal?.aborted) return Promise.reject(new MatchError('aborted', `stopped before ${what}`))
    const isPredicate = typeof match === 'function'
    if (!isPredicate && byKey.has(match)) return Promise.reject(new MatchError('busy', `already waiting for key ${String(match)}; not waiting for ${what}`))
    return new Promise<V>((resolve, reject) => {
      const end = () => {
        clearTimeout(timer)
        opts.signal?.removeEventListener('abort', onAbort)
        if (isPredicate) {
          const i = byPredicate.indexOf(w)
          if (i >= 0) byPredicate.splice(i, 1)
        } else if (byKey.get(match) === w) byKey.delete(match)
      }
      const w: Waiter<V> = {
        ok(v) {
          end()
          resolve(v)
        },
        fail(e) {
          end()
          reject(e)
        },
      }
      if (isPredicate) w.accept = match as (value: V) => boolean
      const timer = setTimeout(() => w.fail(new MatchError('timeout', `no ${what} within ${opts.timeoutMs} ms`)), opts.timeoutMs)
      const onAbort = () => w.fail(new MatchError('aborted', `stopped while waiting for ${what}`))
      opts.signal?.addEventListener('abort', onAbort, { once: true })
      if (isPredicate) byPredicate.push(w)
      else byKey.set(match, w)
    })
  }

  return {
    wait,
    settle(value) {
      if (o.keyOf && byKey.size > 0) {
        const k = o.keyOf(value)
        const w = k === undefined ? undefined : byKey.get(k)
        if (w) {
          w.ok(value)
          return true
        }
      }
      for (const w of byPredicate) {
        if (w.accept?.(value)) {
          w.ok(value)
          return true
        }
      }
      return false
    },
    failAll(err) {
      for (const w of [...byKey.values(), ...byPredicate]) w.fail(err)
    },
    get pending() {
      return byKey.size + byPredicate.length
    },
  }
}
