/**
 * JT/T 808 locations -> points the way the gateway does it (issue 11): the codec's `location` reading,
 * validated and normalized by devices/common/normalize.ts; alarm points the way the processor derives them.
 * For tests that used the codec's old `locationPoint`/`alarmPoints`, which are gone with the second path.
 */
import { normalizeReading } from '../../devices/common/normalize.ts'
import type { Point } from '../../devices/common/point.ts'
import type { Reason } from '../../devices/common/reasons.ts'
import { position } from '../../devices/position/index.ts'
import { alarmChanges, alarmPoint, type Jt808Location, locationReading } from '../../devices/position/jt808/index.ts'

export function locationPoint(l: Jt808Location, receivedAt: number): { ok: true; value: Point } | { ok: false; reason: Reason; detail: string } {
  const n = normalizeReading(position, 'location', locationReading(l), { receivedAt })
  return n.ok ? { ok: true, value: n.points[0]! } : n
}

export function alarmPoints(prev: number, l: Jt808Location, receivedAt: number): Point[] {
  return alarmChanges(prev, l.alarm).map((c) => alarmPoint(c, l.time ?? receivedAt))
}
