/** JT/T 808 subpackage reassembly: parts of a split message, kept per connection until all arrived. Pure (time comes in). */
import { evictOldest, expireOlder } from '../../common/parts.ts'
import type { Jt808Header, Jt808Packet } from './header.ts'

export interface Jt808Reassembler {
  /**
   * Offer a packet. Whole packets come straight back; a subpackage is kept until all its parts arrived,
   * then the joined body comes back under the first part's header (without `subpackage`). `now` drives expiry.
   */
  add(p: Jt808Packet, now: number): { done: true; packet: Jt808Packet } | { done: false }
  /** Drop partial messages older than `maxAgeMs`; returns how many were dropped (count them as rejects). */
  expire(now: number): number
  pending(): number
}

export function createJt808Reassembler(opts: { maxAgeMs?: number; maxPending?: number; maxBytes?: number } = {}): Jt808Reassembler {
  const maxAge = opts.maxAgeMs ?? 60_000
  const maxPending = opts.maxPending ?? 64
  const maxBytes = opts.maxBytes ?? 256 * 1024
  const parts = new Map<string, { first: number; header: Jt808Header; total: number; got: Map<number, Buffer>; bytes: number }>()
  return {
    add(p, now) {
      const sp = p.header.subpackage
      if (!sp) return { done: true, packet: p }
      // Parts of one message carry consecutive serials, so serial - index is the same for all of them.
      const base = (p.header.serial - sp.index + 1 + 0x10000) & 0xffff
      const key = `${p.header.phone}:${p.header.msgId}:${sp.total}:${base}`
      let e = parts.get(key)
      if (!e) {
        evictOldest(parts, maxPending)
        e = { first: now, header: { ...p.header, serial: base }, total: sp.total, got: new Map(), bytes: 0 }
        parts.set(key, e)
      }
      if (!e.got.has(sp.index)) {
        e.got.set(sp.index, p.body)
        e.bytes += p.body.length
      }
      if (e.bytes > maxBytes) {
        parts.delete(key)
        return { done: false }
      }
      if (e.got.size < e.total) return { done: false }
      parts.delete(key)
      const bodies: Buffer[] = []
      for (let i = 1; i <= e.total; i++) bodies.push(e.got.get(i)!)
      const { subpackage: _s, ...header } = e.header
      return { done: true, packet: { header, body: Buffer.concat(bodies) } }
    },
    expire: (now) => expireOlder(parts, now, maxAge),
    pending: () => parts.size,
  }
}
