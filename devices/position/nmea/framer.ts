/** NMEA 0183 line framer: bytes from a serial port -> sentence lines. */
import type { FrameEvent, Framer } from '../../common/result.ts'
import { MAX_SENTENCE_CHARS } from './sentences.ts'


/**
 * Bytes -> sentence lines (without CR LF). Tolerates split and concatenated reads, CR-only or LF-only line
 * ends, and garbage between sentences (reported as `garbage` events). A `$` inside a line starts a new
 * sentence: the truncated one before it is reported as `truncated`.
 */
export function createNmeaFramer(maxChars = MAX_SENTENCE_CHARS): Framer<string> {
  let line: number[] | null = null // bytes of the sentence being collected, from its `$`
  let junk: number[] = []
  const flushJunk = (out: FrameEvent<string>[]) => {
    // whitespace and NULs between sentences are not garbage
    if (junk.some((b) => b !== 0x0d && b !== 0x0a && b !== 0x20 && b !== 0x00)) {
      out.push({ ok: false, reason: 'garbage', raw: Buffer.from(junk) })
    }
    junk = []
  }
  return {
    push(chunk) {
      const out: FrameEvent<string>[] = []
      for (const b of chunk) {
        if (b === 0x24 || b === 0x21) {
          // `$` (or `!` for encapsulated sentences) starts a sentence
          if (line) out.push({ ok: false, reason: 'truncated', raw: Buffer.from(line) })
          flushJunk(out)
          line = [b]
        } else if (line) {
          if (b === 0x0d || b === 0x0a) {
            const raw = Buffer.from(line)
            out.push({ ok: true, frame: raw.toString('latin1'), raw })
            line = null
          } else {
            line.push(b)
            if (line.length > maxChars) {
              out.push({ ok: false, reason: 'line_too_long', raw: Buffer.from(line) })
              line = null
            }
          }
        } else {
          junk.push(b)
          if (junk.length >= 256) flushJunk(out)
        }
      }
      // junk is reported when the next sentence starts (or at 256 bytes), so a split read counts once
      return out
    },
    reset() {
      line = null
      junk = []
    },
  }
}

