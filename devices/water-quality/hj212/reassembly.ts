/** HJ 212 split packets (PNUM/PNO): parts kept per connection until all arrived, and the splitter simulators use. Pure. */
import { evictOldest, expireOlder } from '../../common/parts.ts'
import type { Hj212Cp, Hj212Message } from './segment.ts'

export interface Hj212Reassembler {
  /** A whole message comes straight back; a PNUM/PNO part is kept until all parts arrived, then joined. */
  add(m: Hj212Message, now: number): { done: true; message: Hj212Message } | { done: false }
  expire(now: number): number
  pending(): number
}

/** Parts of one upload share MN, CN and QN; their CP groups are joined in PNO order. */
export function createHj212Reassembler(opts: { maxAgeMs?: number; maxPending?: number } = {}): Hj212Reassembler {
  const maxAge = opts.maxAgeMs ?? 120_000
  const maxPending = opts.maxPending ?? 64
  const parts = new Map<string, { first: number; total: number; got: Map<number, Hj212Message> }>()
  return {
    add(m, now) {
      if (m.pnum === undefined || m.pno === undefined || m.pnum <= 1) {
        if (m.pnum === undefined) return { done: true, message: m }
        const { pnum: _a, pno: _b, ...whole } = m
        return { done: true, message: { ...whole, ...(whole.flag !== undefined ? { flag: whole.flag & ~2 } : {}) } }
      }
      const key = `${m.mn}:${m.cn}:${m.qn ?? ''}:${m.pnum}`
      let e = parts.get(key)
      if (!e) {
        evictOldest(parts, maxPending)
        e = { first: now, total: m.pnum, got: new Map() }
        parts.set(key, e)
      }
      e.got.set(m.pno, m)
      if (e.got.size < e.total) return { done: false }
      parts.delete(key)
      const first = e.got.get(1)!
      const cp: Hj212Cp = []
      for (let i = 1; i <= e.total; i++) {
        const g = e.got.get(i)!.cp
        // Every part repeats DataTime; keep it once.
        for (const group of g) {
          if (i > 1 && group.length === 1 && group[0]![0] === 'DataTime') continue
          cp.push(group)
        }
      }
      const { pnum: _a, pno: _b, ...whole } = first
      return { done: true, message: { ...whole, ...(whole.flag !== undefined ? { flag: whole.flag & ~2 } : {}), cp } }
    },
    expire: (now) => expireOlder(parts, now, maxAge),
    pending: () => parts.size,
  }
}

/** Split a message into PNUM/PNO parts of at most `groupsPerPart` CP groups each (DataTime repeated). */
export function splitHj212(m: Hj212Message, groupsPerPart: number): Hj212Message[] {
  const dt = m.cp.find((g) => g.length === 1 && g[0]![0] === 'DataTime')
  const rest = m.cp.filter((g) => g !== dt)
  const n = Math.max(1, Math.ceil(rest.length / groupsPerPart))
  const out: Hj212Message[] = []
  for (let i = 0; i < n; i++) {
    const cp = rest.slice(i * groupsPerPart, (i + 1) * groupsPerPart)
    out.push({ ...m, flag: (m.flag ?? 4) | 2, pnum: n, pno: i + 1, cp: dt ? [dt, ...cp] : cp })
  }
  return out
}
