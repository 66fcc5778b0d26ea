/** Binary-coded decimal helpers (DL/T 645, JT/T 808 phone numbers and times, ETC dates). */

/** True when both nibbles of every byte are 0..9. */
export function isBcd(buf: Uint8Array, start = 0, end = buf.length): boolean {
  for (let i = start; i < end; i++) {
    const b = buf[i]!
    if ((b & 0x0f) > 9 || b >> 4 > 9) return false
  }
  return true
}

/** Decimal digits of BCD bytes, most significant byte first: [0x12, 0x34] -> "1234". */
export function bcdToString(buf: Uint8Array, start = 0, end = buf.length): string {
  let s = ''
  for (let i = start; i < end; i++) {
    const b = buf[i]!
    s += String.fromCharCode(48 + (b >> 4), 48 + (b & 0x0f))
  }
  return s
}

/** Encode a string of decimal digits as BCD, left-padded with '0' to `bytes` bytes. */
export function stringToBcd(digits: string, bytes: number): Buffer {
  if (!/^\d*$/.test(digits)) throw new RangeError(`not decimal digits: ${digits}`)
  const padded = digits.padStart(bytes * 2, '0')
  if (padded.length > bytes * 2) throw new RangeError(`${digits} does not fit in ${bytes} BCD bytes`)
  const out = Buffer.alloc(bytes)
  for (let i = 0; i < bytes; i++) out[i] = (Number(padded[2 * i]) << 4) | Number(padded[2 * i + 1])
  return out
}

export function byteToBcd(n: number): number {
  return ((Math.floor(n / 10) % 10) << 4) | n % 10
}

export function bcdToByte(b: number): number {
  return (b >> 4) * 10 + (b & 0x0f)
}
