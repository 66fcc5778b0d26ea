/**
 * The generic `smartcity decode <format>` loop over a protocol codec (issue 11 decision 5), pure: per line
 * `parseLine` -> `decode` -> `readings` (one codec state per file) -> `normalizeReading`, the same steps
 * and the same normalize step as the gateway, so decode prints what the gateway stores. A valid frame is
 * `{ ok: true, frame, points, refused? }` (points may be empty); anything else `{ ok: false, error }` with
 * `error` = `reason: detail`.
 */
import type { DecodeLineResult, DecodeSession, DeviceKind, LineDecoder, NormalizeContext, ProtocolCodec, Reading, RefusedItem } from './kind.ts'
import { normalizeReading } from './normalize.ts'
import type { Reason } from './reasons.ts'
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
  const session = (): DecodeSession => {
    const state = codec.newState()
    const d = derive?.()
    const s: DecodeSession = (line, ctx) => decodeWith(codec, state, kinds, line, ctx, d)
    const flush = codec.flush
    if (flush !== undefined) {
      // What the codec still holds at the end of the file, as the gateway's flush would store it.
      s.end = (ctx) => {
        const out = flush(state, ctx)
        if (out.readings.length === 0 && (out.refused ?? []).length === 0) return undefined
        return normalizeAll(out, kinds, ctx, { end: 'flush' }, codec.protocol, d)
      }
    }
    return s
  }
  return {
    format: codec.format,
    protocol: codec.protocol,
    description: codec.description,
    // One line on its own is a one-line capture: what the codec still holds at its end belongs to it.
    decodeLine: (line, ctx) => {
      const s = session()
      const r = s(line, ctx)
      const e = r.ok ? s.end?.(ctx) : undefined
      if (!r.ok || e === undefined || !e.ok) return r
      const refused = [...(r.refused ?? []), ...(e.refused ?? [])]
      return refused.length > 0 ? { ...r, points: [...r.points, ...e.points], refused } : { ...r, points: [...r.points, ...e.points] }
    },
    session,
  }
}

/**
 * One frame the codec's framer gave (a recording's byte stream, `smartcity decode FILE.jsonl`): decode,
 * readings, normalize and derive, as a line of the format would be.
 */
export function decodeFrameWith<F, D, S>(codec: ProtocolCodec<F, D, S>, state: S, kinds: (name: string) => DeviceKind | undefined, frame: F, ctx: NormalizeContext, derive?: DerivePoints): DecodeLineResult {
  const d = codec.decode(frame, state)
  if (!d.ok) return { ok: false, error: errorText(d) }
  return normalizeAll(codec.readings(d.value, state, ctx), kinds, ctx, codec.frameJson ? codec.frameJson(d.value) : d.value, codec.protocol, derive)
}

/** What the codec still holds at the end of a stream (an NMEA epoch), as decode prints it; undefined when nothing. */
export function flushWith<F, D, S>(codec: ProtocolCodec<F, D, S>, state: S, kinds: (name: string) => DeviceKind | undefined, ctx: NormalizeContext, derive?: DerivePoints): DecodeLineResult | undefined {
  if (!codec.flush) return undefined
  const out = codec.flush(state, ctx)
  if (out.readings.length === 0 && (out.refused ?? []).length === 0) return undefined
  return normalizeAll(out, kinds, ctx, { end: 'flush' }, codec.protocol, derive)
}

function decodeWith<F, D, S>(codec: ProtocolCodec<F, D, S>, state: S, kinds: (name: string) => DeviceKind | undefined, line: string, ctx: NormalizeContext, derive?: DerivePoints): DecodeLineResult {
  const f = codec.parseLine(line)
  if (!f.ok) return { ok: false, error: errorText(f) }
  const d = codec.decode(f.value, state)
  if (!d.ok) return { ok: false, error: errorText(d) }
  return normalizeAll(codec.readings(d.value, state, ctx), kinds, ctx, codec.frameJson ? codec.frameJson(d.value) : d.value, codec.protocol, derive)
}

function normalizeAll(out: { readings: Reading[]; refused?: { reason: Reason; detail?: string }[] }, kinds: (name: string) => DeviceKind | undefined, ctx: NormalizeContext, frame: unknown, protocol: string, derive?: DerivePoints): DecodeLineResult {
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
        // Processors derive from the points (as the pipeline runs them, before it adds the batch's tags).
        const more = derive?.(r.device, kind.kind, n.points)
        // The tags the gateway's pipeline puts on every point of a reading (device, kind, protocol).
        for (const p of more === undefined ? n.points : [...n.points, ...more]) points.push({ ...p, tags: { device: r.device, kind: r.kind, protocol, ...p.tags } })
      } else refused.push({ index, reason: n.reason, detail: n.detail })
    }
    index++
  }
  return refused.length > 0 ? { ok: true, frame, points, refused } : { ok: true, frame, points }
}
