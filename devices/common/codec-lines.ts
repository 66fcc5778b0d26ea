/**
 * The generic `smartcity decode <format>` loop over a protocol codec (issue 11 decision 5), pure: per line
 * `parseLine` -> `decode` -> `readings` (one codec state per file) -> `normalizeReading`, the same steps
 * and the same normalize step as the gateway, so decode prints what the gateway stores. A valid frame is
 * `{ ok: true, frame, points, refused? }` (points may be empty); anything else `{ ok: false, error }` with
 * `error` = `reason: detail`.
 */
import type { DecodeLineResult, DeviceKind, LineDecoder, NormalizeContext, ProtocolCodec, RefusedItem } from './kind.ts'
import { normalizeReading } from './normalize.ts'
import type { Point } from './point.ts'

/** `reason: detail` (or the reason alone), as decode prints an error. */
export function errorText(r: { reason: string; detail?: string | undefined }): string {
  return r.detail === undefined || r.detail === '' ? r.reason : `${r.reason}: ${r.detail}`
}

/**
 * Points the gateway derives from a reading's points after normalizing (its processors, e.g. JT/T 808 alarm
 * bits): given the device and kind of the reading and its points, the derived points (or undefined). The
 * CLI composes it from the gateway's processor, fresh per file, so decode prints what the gateway stores.
 */
export type DerivePoints = (device: string, kind: DeviceKind['kind'], points: Point[]) => Point[] | undefined

/**
 * A codec as a LineDecoder; `kinds` finds the kind a reading names (devices/index.ts `deviceKind`);
 * `derive` makes the per-file derivation step, when the gateway has one for this protocol.
 */
export function codecLineDecoder<F, D, S>(codec: ProtocolCodec<F, D, S>, kinds: (name: string) => DeviceKind | undefined, derive?: () => DerivePoints): LineDecoder {
  const session = () => {
    const state = codec.newState()
    const d = derive?.()
    return (line: string, ctx: NormalizeContext): DecodeLineResult => decodeWith(codec, state, kinds, line, ctx, d)
  }
  return {
    format: codec.format,
    protocol: codec.protocol,
    description: codec.description,
    decodeLine: (line, ctx) => session()(line, ctx),
    session,
  }
}

function decodeWith<F, D, S>(codec: ProtocolCodec<F, D, S>, state: S, kinds: (name: string) => DeviceKind | undefined, line: string, ctx: NormalizeContext, derive?: DerivePoints): DecodeLineResult {
  const f = codec.parseLine(line)
  if (!f.ok) return { ok: false, error: errorText(f) }
  const d = codec.decode(f.value)
  if (!d.ok) return { ok: false, error: errorText(d) }
  const out = codec.readings(d.value, state, ctx)
  const points: Point[] = []
  const refused: RefusedItem[] = []
  let index = 0
  for (const r of out.refused ?? []) refused.push({ index: -1, reason: r.reason, detail: r.detail ?? '' })
  for (const r of out.readings) {
    const kind = kinds(r.kind)
    if (!kind) refused.push({ index, reason: 'unknown_kind', detail: r.kind })
    else if ('json' in r) refused.push({ index, reason: 'unknown_reading_type', detail: 'a codec hands values, not JSON' })
    else {
      const n = normalizeReading(kind, r.type, r.value, r.receivedAt === undefined ? ctx : { ...ctx, receivedAt: r.receivedAt })
      if (n.ok) {
        points.push(...n.points)
        const more = derive?.(r.device, kind.kind, n.points)
        if (more !== undefined) points.push(...more)
      } else refused.push({ index, reason: n.reason, detail: n.detail })
    }
    index++
  }
  return refused.length > 0 ? { ok: true, frame: d.value, points, refused } : { ok: true, frame: d.value, points }
}
