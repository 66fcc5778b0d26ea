/** Hex text <-> bytes, tolerant of spaces, `0x` prefixes and separators as field captures have them. */
export function parseHex(text: string): Buffer | undefined {
  const clean = text.replace(/0x/gi, '').replace(/[\s:,-]/g, '')
  if (clean.length === 0 || clean.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(clean)) return undefined
  return Buffer.from(clean, 'hex')
}

export function toHex(buf: Uint8Array, sep = ' '): string {
  return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('hex').toUpperCase().replace(/(..)(?!$)/g, `$1${sep}`)
}
