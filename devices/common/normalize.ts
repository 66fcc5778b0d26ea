/**
 * The one step from a reading to points (issue 11 decision 3), pure: the kind's schema validates the value
 * (a failure becomes a catalogued reason through zodReason), then the reading type's `toPoints` turns it
 * into points. The gateway pipeline and `smartcity decode` both call it, so both give the same points.
 */
import { itemRaw, JSON_LIMITS, type JsonLimits, jsonItems } from './json-readings.ts'
import type { DeviceKind, NormalizeContext } from './kind.ts'
import type { Point } from './point.ts'
import { type Reason, zodReason } from './reasons.ts'

export type NormalizeResult = { ok: true; points: Point[] } | { ok: false; reason: Reason; detail: string }

/**
 * `type` names one of `kind.readings` (`telemetry`, `event`, ...); `value` is the reading, unvalidated.
 * Never throws on input: a `toPoints` that throws on a value its schema accepted is a bug, reported as
 * `invalid` with the error's message rather than taking the gateway down.
 */
export function normalizeReading(kind: DeviceKind, type: string, value: unknown, ctx: NormalizeContext): NormalizeResult {
  const rt = kind.readings[type]
  if (rt === undefined) return { ok: false, reason: 'unknown_reading_type', detail: `kind ${kind.kind} has no ${type} readings` }
  const r = rt.schema.safeParse(value)
  if (!r.success) return { ok: false, ...zodReason(r.error) }
  try {
    return { ok: true, points: rt.toPoints(r.data, ctx) }
  } catch (err) {
    return { ok: false, reason: 'invalid', detail: `${kind.kind} ${type}: ${(err as Error).message}` }
  }
}

/**
 * A reading of a frame or message refused on its own. `index` is its position (-1: the payload as a whole,
 * e.g. `malformed_json`); `raw` is the item's own JSON text (bounded) when it was one item of an array, absent
 * when the refused thing is the payload itself.
 */
export interface Refusal {
  index: number
  reason: Reason
  detail: string
  raw?: string
}

/**
 * A JSON payload (MQTT `telemetry`, `event`) -> points, item by item: the kind's `fastTelemetry` first for
 * telemetry (the same point the schema path gives, a fraction of the cost), else devices/common/json-readings.ts
 * and `normalizeReading` per item. Points are pushed onto `points` and refusals onto `refused` (the caller's
 * arrays: no result object per message); returns how many readings were accepted. Never throws. Of an
 * array's refused items, the first `keep` come with their detail and text, the others with their reason
 * only (`detail` and `raw` empty): the gateway keeps five in a dead letter; `smartcity decode` keeps all.
 */
export function normalizeJson(kind: DeviceKind, type: string, payload: Buffer, ctx: NormalizeContext, points: Point[], refused: Refusal[], limits: JsonLimits = JSON_LIMITS, keep = Number.POSITIVE_INFINITY): number {
  if (type === 'telemetry' && kind.fastTelemetry !== undefined) {
    const p = kind.fastTelemetry(payload, ctx)
    if (p !== undefined) {
      points.push(p)
      return 1
    }
  }
  if (kind.readings[type] === undefined) {
    refused.push({ index: -1, reason: 'unknown_reading_type', detail: `kind ${kind.kind} has no ${type} readings` })
    return 0
  }
  const j = jsonItems(payload.toString('utf8'), limits)
  if (!j.ok) {
    refused.push({ index: -1, reason: j.reason, detail: j.detail })
    return 0
  }
  let accepted = 0
  let kept = 0
  for (let i = 0; i < j.items.length; i++) {
    const r = normalizeReading(kind, type, j.items[i], ctx)
    if (r.ok) {
      accepted++
      for (const p of r.points) points.push(p)
    } else if (!j.array) refused.push({ index: 0, reason: r.reason, detail: r.detail })
    else if (kept++ < keep) refused.push({ index: i, reason: r.reason, detail: r.detail, raw: itemRaw(j.items[i], limits.maxRawChars) })
    // Past `keep`: the reason is all the caller keeps (issue 13: 5,000 refused items' texts, alive until
    // the message is done, made every young-generation collection copy them).
    else refused.push({ index: i, reason: r.reason, detail: '', raw: '' })
  }
  return accepted
}
