import type { Reason } from './reasons.ts'

/**
 * What every codec returns: decoding never throws on input (docs/style.md section 3). `reason` is a catalogued
 * snake_case code (devices/common/reasons.ts) (it becomes a metric label and the dead-letter reason); `detail` is for people.
 */
export type DecodeResult<T> = { ok: true; value: T } | { ok: false; reason: Reason; detail?: string }

export function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value }
}

export function fail(reason: Reason, detail?: string): { ok: false; reason: Reason; detail?: string } {
  return detail === undefined ? { ok: false, reason } : { ok: false, reason, detail }
}

/**
 * A framer turns a byte stream into frames, handling split and concatenated reads and garbage between
 * frames. `push` never throws; bytes that cannot be part of a frame come back as a `garbage` event so the
 * caller can count and dead-letter them.
 */
export type FrameEvent<F> =
  | { ok: true; frame: F; raw: Buffer }
  | { ok: false; reason: Reason; raw: Buffer; detail?: string }

export interface Framer<F = Buffer> {
  push(chunk: Buffer): FrameEvent<F>[]
  /** Forget any partial frame (after a reconnect). */
  reset(): void
}
