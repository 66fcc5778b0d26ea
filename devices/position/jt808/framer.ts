/** JT/T 808 framer: a byte stream -> escaped frames between 7E flags (split and concatenated reads, garbage). Pure. */
import type { FrameEvent, Framer } from '../../common/result.ts'

export interface Jt808FramerOptions {
  /** Escaped bytes between the flags above which a frame is refused as `frame_too_long`. */
  maxFrameBytes?: number
}

/**
 * Bytes -> frames. A frame event's `frame` is the escaped content between two 7E flags and `raw` includes
 * the flags. Bytes outside flags come back as one `garbage` event per run. `7E 7E` between frames is the end
 * flag of one and the start flag of the next.
 */
export function createJt808Framer(opts: Jt808FramerOptions = {}): Framer<Buffer> {
  const max = opts.maxFrameBytes ?? 2048
  let inFrame = false
  let skipping = false
  let parts: Buffer[] = []
  let size = 0
  const reset = () => {
    inFrame = false
    skipping = false
    parts = []
    size = 0
  }
  return {
    reset,
    push(chunk: Buffer): FrameEvent<Buffer>[] {
      const events: FrameEvent<Buffer>[] = []
      let i = 0
      while (i < chunk.length) {
        if (!inFrame) {
          const start = chunk.indexOf(0x7e, i)
          if (start < 0) {
            events.push({ ok: false, reason: 'garbage', raw: Buffer.from(chunk.subarray(i)) })
            break
          }
          if (start > i) events.push({ ok: false, reason: 'garbage', raw: Buffer.from(chunk.subarray(i, start)) })
          inFrame = true
          skipping = false
          parts = []
          size = 0
          i = start + 1
          continue
        }
        const end = chunk.indexOf(0x7e, i)
        const stop = end < 0 ? chunk.length : end
        if (!skipping) {
          const piece = chunk.subarray(i, stop)
          size += piece.length
          if (size > max) {
            skipping = true
            const head = Buffer.concat([Buffer.from([0x7e]), ...parts, piece]).subarray(0, 64)
            events.push({ ok: false, reason: 'frame_too_long', raw: Buffer.from(head), detail: `more than ${max} bytes between flags` })
            parts = []
          } else if (piece.length > 0) parts.push(Buffer.from(piece))
        }
        if (end < 0) break
        i = end + 1
        if (skipping) {
          // The flag that ends an oversized frame: start looking for a fresh one.
          inFrame = false
          skipping = false
          parts = []
          size = 0
          continue
        }
        if (size === 0) continue // 7E 7E: this flag starts the next frame
        const frame = Buffer.concat(parts, size)
        events.push({ ok: true, frame, raw: Buffer.concat([Buffer.from([0x7e]), frame, Buffer.from([0x7e])]) })
        inFrame = false
        parts = []
        size = 0
      }
      return events
    },
  }
}
