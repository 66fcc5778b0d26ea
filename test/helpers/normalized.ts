import type { NormalizeContext } from '../../devices/common/kind.ts'
import { normalizeJson, normalizeReading, type Refusal } from '../../devices/common/normalize.ts'
import type { Point } from '../../devices/common/point.ts'
import { deviceKind } from '../../devices/index.ts'
import type { IngestBatch, IngestResult } from '../../gateway/core/types.ts'

/** A batch as a recording context keeps it: with the points the pipeline would make of its readings. */
export type RecordedBatch = IngestBatch & { points: Point[]; refused: Refusal[] }

/**
 * What the pipeline makes of a batch, without I/O (devices/common/normalize.ts): its readings normalized into
 * points, for recording contexts in source tests.
 */
export function normalized(b: IngestBatch, ctx: NormalizeContext): { batch: RecordedBatch; result: IngestResult } {
  const points: Point[] = []
  const refused: Refusal[] = []
  let accepted = 0
  for (const r of b.readings) {
    const kind = deviceKind(r.kind)
    if (!kind) {
      refused.push({ index: -1, reason: 'unknown_kind', detail: r.kind })
      continue
    }
    if ('json' in r) accepted += normalizeJson(kind, r.type, r.json, ctx, points, refused)
    else {
      const n = normalizeReading(kind, r.type, r.value, ctx)
      if (n.ok) {
        accepted++
        points.push(...n.points)
      } else refused.push({ index: -1, reason: n.reason, detail: n.detail })
    }
  }
  return { batch: { ...b, points, refused }, result: { accepted, refused: refused.length } }
}
