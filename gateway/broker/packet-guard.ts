import type { Readable } from 'node:stream'

/**
 * Watch the MQTT fixed headers (a type byte, then the remaining length in 1-4 bytes of 7 bits) of what
 * aedes reads from `conn`, and close it when a packet states more than `max()` bytes: the parser would
 * otherwise buffer up to 256 MB before any hook sees the packet. Wraps `read`, which aedes calls on
 * 'readable' (no extra stream in the path, a few comparisons per packet).
 */
export function guardPacketSize(conn: Readable, max: () => number, refuse: (size: number, max: number) => void): void {
  const read = conn.read.bind(conn)
  let skip = 0
  // -1: the next byte is a packet's type byte; 0..3: remaining-length bytes read so far.
  let lenBytes = -1
  let len = 0
  let mul = 1
  let closed = false
  const fail = (size: number) => {
    closed = true
    refuse(size, max())
    conn.destroy()
    return null
  }
  conn.read = (n?: number) => {
    const buf: unknown = read(n)
    if (closed) return null
    if (!Buffer.isBuffer(buf)) return buf
    let i = 0
    while (i < buf.length) {
      if (skip > 0) {
        const k = Math.min(skip, buf.length - i)
        skip -= k
        i += k
        continue
      }
      if (lenBytes < 0) {
        lenBytes = 0
        len = 0
        mul = 1
        i++
        continue
      }
      const b = buf[i++]!
      len += (b & 0x7f) * mul
      mul *= 128
      lenBytes++
      if (b & 0x80) {
        if (lenBytes >= 4) return fail(len)
        continue
      }
      if (len > max()) return fail(len)
      skip = len
      lenBytes = -1
    }
    return buf
  }
}
