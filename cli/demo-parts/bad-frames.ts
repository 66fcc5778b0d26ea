/**
 * Broken frames for `smartcity simulate`'s `bad_frames` fault, and what the gateway must say of them. The
 * refusals expected are not guessed: the bad bytes, followed by one good frame as on the live link, go
 * through the protocol's own framer and decoder (devices/), the same ones the gateway's sources run, and
 * every refusal on the way (the good frame included, when the bad bytes swallow it) is what the runner
 * allows.
 */
import type { DecodeResult, Framer } from '../../devices/common/result.ts'
import type { BadFrameKind } from './types.ts'

/** Refusals (reason -> count) of `bad` then `good` through a fresh framer and `decode`. */
export function refusalsOf<F>(framer: Framer<F>, decode: (f: F) => DecodeResult<unknown>, bad: Buffer, good: Buffer): Record<string, number> {
  const out: Record<string, number> = {}
  const add = (r: string) => {
    out[r] = (out[r] ?? 0) + 1
  }
  for (const ev of [...framer.push(bad), ...framer.push(good)]) {
    if (!ev.ok) add(ev.reason)
    else {
      const d = decode(ev.frame)
      if (!d.ok) add(d.reason)
    }
  }
  return out
}

/** Merge refusal counts. */
export function addRefusals(into: Record<string, number>, more: Record<string, number> | undefined): Record<string, number> {
  for (const [k, v] of Object.entries(more ?? {})) into[k] = (into[k] ?? 0) + v
  return into
}

/**
 * A frame delimited by a flag byte at both ends (JT/T 808 0x7E, ETC RSU 0xFF ... 0xFF) broken: `crc` flips
 * the check byte (before the end flag, never into a flag or escape byte), `truncated` keeps the start and
 * the first `keep` bytes and closes it, `garbage` is bytes without any flag.
 */
export function breakFlagged(good: Buffer, kind: BadFrameKind, flag: number, esc: number): Buffer {
  if (kind === 'garbage') return Buffer.from('noise on the line \u0001\u0002\u0003', 'latin1').map((b) => (b === flag || b === esc ? 0x20 : b)) as Buffer
  if (kind === 'truncated') return Buffer.concat([good.subarray(0, Math.min(8, good.length - 2)), good.subarray(good.length - 1)])
  const b = Buffer.from(good)
  const i = b.length - 2
  b[i] = b[i]! ^ 0x01
  if (b[i] === flag || b[i] === esc || b[i - 1] === esc) b[i] = b[i]! ^ 0x03
  return b
}

/** An HJ 212 packet (`##dddd...CRCC\r\n`) broken: a wrong CRC, cut after half its data, or text that is no packet. */
export function breakHj212(good: Buffer, kind: BadFrameKind): Buffer {
  if (kind === 'garbage') return Buffer.from('QN=garbage;no packet here\r\n')
  if (kind === 'truncated') return Buffer.concat([good.subarray(0, Math.floor(good.length / 2)), Buffer.from('\r\n')])
  const b = Buffer.from(good)
  // The 4 hex digits of the CRC before CR LF: change one, keep it a hex digit.
  const i = b.length - 3
  b[i] = b[i] === 0x30 ? 0x31 : 0x30
  return b
}

/** An NMEA sentence line broken: a wrong checksum, cut short, or a line that is no sentence. */
export function breakNmea(good: string, kind: BadFrameKind): string {
  const line = good.replace(/\r?\n$/, '')
  if (kind === 'garbage') return 'noise on the line\r\n'
  if (kind === 'truncated') return `${line.slice(0, Math.floor(line.length / 2))}\r\n`
  const star = line.lastIndexOf('*')
  const cs = line.slice(star + 1)
  const wrong = ((Number.parseInt(cs, 16) + 1) & 0xff).toString(16).toUpperCase().padStart(2, '0')
  return `${line.slice(0, star + 1)}${wrong}\r\n`
}
