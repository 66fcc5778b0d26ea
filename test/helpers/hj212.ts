/**
 * An HJ 212 upload -> its point the way the gateway does it (issue 11): the codec's `hj212` reading,
 * validated and normalized by devices/common/normalize.ts. For tests that used the codec's old `hj212Point`,
 * which is gone with the second path; an upload with no factor values gives no reading (`empty_reading` here).
 */
import { normalizeReading } from '../../devices/common/normalize.ts'
import type { Point } from '../../devices/common/point.ts'
import type { Reason } from '../../devices/common/reasons.ts'
import type { WaterBody } from '../../devices/water-quality/gb3838.ts'
import { type Hj212Data, type Hj212Message, hj212Reading } from '../../devices/water-quality/hj212/index.ts'
import { waterQuality } from '../../devices/water-quality/index.ts'

export function hj212Point(m: Hj212Message, data: Hj212Data, opts: { receivedAt: number; waterBody?: WaterBody }): { ok: true; value: Point } | { ok: false; reason: Reason; detail: string } {
  const value = hj212Reading(m, data, opts.waterBody)
  if (value === undefined) return { ok: false, reason: 'empty_reading', detail: `CN ${m.cn} carries no factor values` }
  const n = normalizeReading(waterQuality, 'hj212', value, { receivedAt: opts.receivedAt })
  return n.ok ? { ok: true, value: n.points[0]! } : n
}
