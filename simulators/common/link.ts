/**
 * What the simulators that dial in share: a TCP link that frames what the platform sends back, and a table
 * of requests waiting for their answers (by serial number or QN), failed all at once when the link drops.
 */
import { connect, type Socket } from 'node:net'
import type { Framer } from '../../devices/common/result.ts'

export interface Answers<K, V> {
  /** Register `key` and resolve with its answer, or reject after `timeoutMs` or when the link drops. */
  wait(key: K, timeoutMs: number, what: string): Promise<V>
  /** Hand an answer to whoever waits for `key` (ignored when nobody does). */
  settle(key: K, value: V): void
  failAll(err: Error): void
}

export function answers<K, V>(): Answers<K, V> {
  const waiting = new Map<K, { ok: (v: V) => void; fail: (e: Error) => void }>()
  return {
    wait(key, timeoutMs, what) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => {
          waiting.delete(key)
          reject(new Error(`no answer to ${what}`))
        }, timeoutMs)
        waiting.set(key, {
          ok: (v) => {
            clearTimeout(t)
            resolve(v)
          },
          fail: (e) => {
            clearTimeout(t)
            reject(e)
          },
        })
      })
    },
    settle(key, value) {
      const w = waiting.get(key)
      if (w) {
        waiting.delete(key)
        w.ok(value)
      }
    },
    failAll(err) {
      for (const [k, w] of waiting) {
        waiting.delete(k)
        w.fail(err)
      }
    },
  }
}

/** Connect to `host:port`; every frame the platform sends goes to `onFrame`, the close to `onClose`. */
export function dialFramed(o: {
  host: string
  port: number
  framer: Framer<Buffer>
  onFrame(frame: Buffer): void
  onClose(): void
  onError?: ((err: Error) => void) | undefined
}): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: o.host, port: o.port })
    s.setNoDelay(true)
    s.once('connect', () => resolve(s))
    s.once('error', reject)
    s.on('error', (e) => o.onError?.(e))
    s.on('data', (chunk: Buffer) => {
      for (const e of o.framer.push(chunk)) if (e.ok) o.onFrame(e.frame)
    })
    s.on('close', () => o.onClose())
  })
}

/** End the link and wait for it to close (destroyed after a second if the peer does not answer the FIN). */
export async function hangUp(s: Socket | undefined): Promise<void> {
  if (!s || s.destroyed) return
  await new Promise<void>((r) => {
    s.once('close', () => r())
    s.end()
    setTimeout(() => s.destroy(), 1000).unref()
  })
}
