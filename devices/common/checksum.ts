/** Checksums shared by several protocols. Pure functions over bytes. */

/** CRC-16/MODBUS: init 0xFFFF, reflected polynomial 0xA001 (sent low byte first on the wire). */
export function crc16Modbus(buf: Uint8Array, start = 0, end = buf.length): number {
  let crc = 0xffff
  for (let i = start; i < end; i++) {
    crc ^= buf[i]!
    for (let b = 0; b < 8; b++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1
  }
  return crc
}

/** XOR of bytes [start, end): JT/T 808 check code, ETC BCC. */
export function xor8(buf: Uint8Array, start = 0, end = buf.length): number {
  let x = 0
  for (let i = start; i < end; i++) x ^= buf[i]!
  return x
}

/** Arithmetic sum mod 256 of bytes [start, end): DL/T 645 CS. */
export function sum8(buf: Uint8Array, start = 0, end = buf.length): number {
  let s = 0
  for (let i = start; i < end; i++) s = (s + buf[i]!) & 0xff
  return s
}

/** XOR of the characters of a string (NMEA 0183 checksum between `$` and `*`). */
export function xorString(s: string, start = 0, end = s.length): number {
  let x = 0
  for (let i = start; i < end; i++) x ^= s.charCodeAt(i) & 0xff
  return x
}
