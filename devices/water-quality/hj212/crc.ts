/** HJ 212-2017 Appendix A CRC (NOT CRC-16/MODBUS). Pure. */

/** HJ 212-2017 Appendix A CRC: init 0xFFFF, byte XORed into the HIGH byte shifted down, poly 0xA001. */
export function crc212(buf: Uint8Array, start = 0, end = buf.length): number {
  let crc = 0xffff
  for (let i = start; i < end; i++) {
    crc = (crc >> 8) ^ buf[i]!
    for (let b = 0; b < 8; b++) crc = crc & 1 ? (crc >> 1) ^ 0xa001 : crc >> 1
  }
  return crc
}
