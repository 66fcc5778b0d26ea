import { type DecodeResult, fail, ok } from './result.ts'

/** Hex text <-> bytes, tolerant of spaces, `0x` prefixes and separators as field captures have them. */
export function parseHex(text: string): Buffer | undefined {
  const clean = text.replace(/0x/gi, '').replace(/[\s:,-]/g, '')
  if (clean.length === 0 || clean.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(clean)) return undefined
  return Buffer.from(clean, 'hex')
}

/** One line of a `smartcity decode` capture -> its bytes, or `not_hex`: the codecs' `parseLine` for hex formats. */
export function hexLine(line: string): DecodeResult<Buffer> {
  const bytes = parseHex(line)
  return bytes ? ok(bytes) : fail('not_hex', 'the line is not an even number of hex digits')
}

export function toHex(buf: Uint8Array, sep = ' '): string {
  return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('hex').toUpperCase().replace(/(..)(?!$)/g, `$1${sep}`)
}
