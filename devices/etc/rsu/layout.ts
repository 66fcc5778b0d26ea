/**
 * Frame layouts as data: a profile maps each frame type to its fields, so a vendor's variant is a profile
 * in the configuration, not a fork of the codec (EdgeX device profiles). Integers are big-endian.
 */
import { z } from 'zod'

export const RSU_FIELD_TYPES = ['u8', 'u16', 'u32', 'hex', 'bcd', 'gbk', 'rest'] as const
export type RsuFieldType = (typeof RSU_FIELD_TYPES)[number]

const FIXED: Partial<Record<RsuFieldType, number>> = { u8: 1, u16: 2, u32: 4 }

/**
 * One field of a frame. `u8/u16/u32` are big-endian numbers; `hex` is `length` bytes as upper-case hex;
 * `bcd` is `length` bytes as 2*length decimal digits; `gbk` is text in `length` bytes, GBK, NUL-padded;
 * `rest` takes whatever remains (upper-case hex, maybe empty) and must be last. A field marked `optional`
 * and every field after it may be missing together (a short form, e.g. a B2 heartbeat or an error answer).
 */
export const RsuFieldSpec = z.strictObject({
  name: z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/),
  type: z.enum(RSU_FIELD_TYPES),
  length: z.number().int().min(1).max(1024).optional(),
  optional: z.boolean().optional(),
})
export type RsuFieldSpec = z.infer<typeof RsuFieldSpec>

export const RsuFrameLayout = z
  .strictObject({
    /** Who sends it: the RSU (`B*`) or the lane controller (`C*`). */
    from: z.enum(['rsu', 'pc']),
    description: z.string().optional(),
    fields: z.array(RsuFieldSpec),
  })
  .superRefine((l, ctx) => {
    let optionalSeen = false
    const names = new Set<string>()
    l.fields.forEach((f, i) => {
      if (names.has(f.name)) ctx.addIssue({ code: 'custom', path: ['fields', i, 'name'], message: `duplicate field ${f.name}` })
      names.add(f.name)
      const needsLength = f.type === 'hex' || f.type === 'bcd' || f.type === 'gbk'
      if (needsLength && f.length === undefined) ctx.addIssue({ code: 'custom', path: ['fields', i, 'length'], message: `${f.type} needs a length` })
      if (!needsLength && f.length !== undefined) ctx.addIssue({ code: 'custom', path: ['fields', i, 'length'], message: `${f.type} takes no length` })
      if (f.type === 'rest' && i !== l.fields.length - 1) ctx.addIssue({ code: 'custom', path: ['fields', i, 'type'], message: 'rest must be the last field' })
      if (f.optional) optionalSeen = true
      else if (optionalSeen && f.type !== 'rest') ctx.addIssue({ code: 'custom', path: ['fields', i, 'optional'], message: 'fields after an optional one must be optional too' })
    })
  })
export type RsuFrameLayout = z.infer<typeof RsuFrameLayout>

/** A protocol variant: frame type (two upper-case hex digits) -> layout. */
export const RsuProfile = z.strictObject({
  name: z.string().min(1),
  frames: z.record(z.string().regex(/^[0-9A-F]{2}$/, 'a frame type as two upper-case hex digits'), RsuFrameLayout),
})
export type RsuProfile = z.infer<typeof RsuProfile>

export type RsuFieldValue = number | string

/** A decoded frame: `type` is the frame type as two hex digits, or `ACK` for the empty answer. */
export interface RsuFrame {
  rsctl: number
  type: string
  fields: Record<string, RsuFieldValue>
}

/** Shorthand for layout tables. */
export const field = (name: string, type: RsuFieldType, length?: number, optional?: boolean): RsuFieldSpec => ({
  name,
  type,
  ...(length === undefined ? {} : { length }),
  ...(optional ? { optional: true } : {}),
})

/** Bytes a field takes on the wire (0 for `rest`, which takes what remains). */
export function fieldSize(spec: RsuFieldSpec): number {
  return FIXED[spec.type] ?? spec.length ?? 0
}

/** Bytes of a decoded frame that went to catch-all `rest` fields (what auto-detection minimises). */
export function restBytes(frame: RsuFrame, profile: RsuProfile): number {
  const layout = profile.frames[frame.type]
  let n = 0
  for (const s of layout?.fields ?? []) {
    const v = frame.fields[s.name]
    if (s.type === 'rest' && typeof v === 'string') n += v.length / 2
  }
  return n
}

/**
 * The subset of `values` that the layout of `type` has, in layout order, stopping at the first field
 * missing from `values`: how the lane controller and the simulator build one frame for any profile from
 * the values they know (a 2019 B5 takes `writeTime`, a classic one drops it). Fields a layout needs and
 * `values` lacks make `encodeRsuData` throw, as before.
 */
export function fieldsForLayout(profile: RsuProfile, type: string, values: Record<string, RsuFieldValue | undefined>): Record<string, RsuFieldValue> {
  const out: Record<string, RsuFieldValue> = {}
  for (const s of profile.frames[type]?.fields ?? []) {
    const v = values[s.name]
    if (v === undefined) {
      if (s.optional || s.type === 'rest') break
      continue
    }
    out[s.name] = v
  }
  return out
}
