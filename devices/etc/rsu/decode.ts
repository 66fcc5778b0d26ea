/**
 * DATA -> fields by a profile's layout, and telling the layout from the frame (`auto`). Never throws.
 */
import { isBcd } from '../../common/bcd.ts'
import { hexLine } from '../../common/hex.ts'
import { type DecodeResult, fail, ok } from '../../common/result.ts'
import { hex2, type RsuRawFrame, rsctlSender, unframeRsu } from './framing.ts'
import { fieldSize, type RsuFieldValue, type RsuFrame, type RsuProfile, restBytes } from './layout.ts'
import { CLASSIC_PROFILE, PROFILE_2019, RSU_PROFILES, type RsuProfileChoice } from './profiles.ts'

const gbkDecoder = new TextDecoder('gbk', { fatal: true })

/** GBK bytes -> text (the WHATWG decoder in Node's ICU); undefined when the bytes are not GBK. */
export function decodeGbk(bytes: Uint8Array): string | undefined {
  try {
    return gbkDecoder.decode(bytes)
  } catch {
    return undefined
  }
}

/** DATA (type byte first) -> fields, by the profile's layout. Never throws. */
export function decodeRsuFrame(raw: RsuRawFrame, profile: RsuProfile = CLASSIC_PROFILE): DecodeResult<RsuFrame> {
  const sender = rsctlSender(raw.rsctl)
  if (sender === undefined) return fail('bad_rsctl', `RSCTL ${hex2(raw.rsctl)} is neither X8 nor 8X`)
  const data = raw.data
  if (data.length === 0) return ok({ rsctl: raw.rsctl, type: 'ACK', fields: {} })
  const type = hex2(data[0]!)
  const layout = profile.frames[type]
  if (!layout) return fail('unknown_frame_type', `frame type ${type} is not in profile ${profile.name}`)
  if (sender !== 'either' && layout.from !== sender) return fail('bad_rsctl', `frame ${type} comes from the ${layout.from} but RSCTL ${hex2(raw.rsctl)} says ${sender}`)
  const fields: Record<string, RsuFieldValue> = {}
  let pos = 1
  for (const spec of layout.fields) {
    if (spec.type === 'rest') {
      fields[spec.name] = data.subarray(pos).toString('hex').toUpperCase()
      pos = data.length
      break
    }
    if (pos === data.length && spec.optional) break
    const size = fieldSize(spec)
    if (pos + size > data.length) return fail('truncated', `frame ${type} ends inside ${spec.name} (${data.length} bytes)`)
    const slice = data.subarray(pos, pos + size)
    switch (spec.type) {
      case 'u8':
        fields[spec.name] = slice[0]!
        break
      case 'u16':
        fields[spec.name] = slice.readUInt16BE(0)
        break
      case 'u32':
        fields[spec.name] = slice.readUInt32BE(0)
        break
      case 'hex':
        fields[spec.name] = slice.toString('hex').toUpperCase()
        break
      case 'bcd':
        if (!isBcd(slice)) return fail('bad_bcd', `${spec.name} is not BCD: ${slice.toString('hex')}`)
        fields[spec.name] = slice.toString('hex')
        break
      case 'gbk': {
        let end = slice.length
        while (end > 0 && slice[end - 1] === 0) end--
        const text = decodeGbk(slice.subarray(0, end))
        if (text === undefined) return fail('bad_text', `${spec.name} is not GBK: ${slice.toString('hex')}`)
        if (text.includes('\u0000')) return fail('bad_text', `${spec.name} has a NUL inside the text`)
        fields[spec.name] = text
        break
      }
    }
    pos += size
  }
  if (pos !== data.length) return fail('trailing_bytes', `frame ${type} has ${data.length - pos} bytes after its last field`)
  return ok({ rsctl: raw.rsctl, type, fields })
}

/** One complete frame on the wire -> decoded frame. Never throws. */
export function decodeRsu(bytes: Uint8Array, profile: RsuProfile = CLASSIC_PROFILE): DecodeResult<RsuFrame> {
  const r = unframeRsu(bytes)
  return r.ok ? decodeRsuFrame(r.value, profile) : r
}

/** A hex line (as `smartcity decode etc-rsu` reads it) -> decoded frame. */
export function decodeRsuHex(line: string, profile: RsuProfile = CLASSIC_PROFILE): DecodeResult<RsuFrame> {
  const b = hexLine(line)
  return b.ok ? decodeRsu(b.value, profile) : b
}

// ---------------------------------------------------------------------------------------------------------
// Which layout: `auto`

/** A frame read by a reader: the profile it was read with, and whether another profile reads it otherwise. */
export interface RsuRead {
  frame: RsuFrame
  profile: RsuProfile
  /** Another candidate profile reads the same bytes into different fields (see `createRsuReader`). */
  ambiguous: boolean
}

export interface RsuReader {
  read(raw: RsuRawFrame): DecodeResult<RsuRead>
  /** The fixed profile, or (auto) the profile of the last frame only one candidate could read. */
  detected(): RsuProfile | undefined
  /** The profile to write frames in: the detected one, else the fallback. */
  current(): RsuProfile
  /** Forget what was detected (a new connection may be another RSU). */
  reset(): void
  readonly auto: boolean
}

export interface RsuReaderOptions {
  /** The layouts auto tells apart (default classic and 2019). */
  candidates?: readonly RsuProfile[]
  /** Used for ambiguous frames before anything was detected, and for writing until then (default classic). */
  fallback?: RsuProfile
}

/** The fields that carry something: an empty catch-all (`extra: ''`) says nothing about the layout. */
function telling(frame: RsuFrame, profile: RsuProfile): [string, RsuFieldValue][] {
  const rest = new Set(profile.frames[frame.type]?.fields.filter((s) => s.type === 'rest').map((s) => s.name))
  return Object.entries(frame.fields).filter(([k, v]) => !(rest.has(k) && v === ''))
}

function sameFields(a: { p: RsuProfile; frame: RsuFrame }, b: { p: RsuProfile; frame: RsuFrame }): boolean {
  const ea = telling(a.frame, a.p)
  const eb = new Map(telling(b.frame, b.p))
  return ea.length === eb.size && ea.every(([k, v]) => eb.get(k) === v)
}

export function resolveRsuProfile(choice: Exclude<RsuProfileChoice, 'auto'>): RsuProfile {
  return typeof choice === 'string' ? RSU_PROFILES[choice] : choice
}

/**
 * Reads frames with a fixed profile, or with `auto` tells the layout from the frame's length:
 * 1. only one candidate reads the frame: that one, and it becomes the detected profile;
 * 2. several read it into the same fields, empty catch-alls aside (B3, C1, C2, every short or error form,
 *    a C0 without EF04 fields): not ambiguous; read with the detected profile, else the fallback;
 * 3. several read it into different fields (ambiguous): the detected profile if there is one, else the
 *    reading that leaves the fewest bytes to catch-all `rest` fields (a 23-byte B0 is a whole 2019 B0
 *    rather than a classic one with 8 reserved bytes), else the fallback. Ambiguous frames never change
 *    the detected profile.
 */
export function createRsuReader(choice: RsuProfileChoice = 'auto', opts: RsuReaderOptions = {}): RsuReader {
  if (choice !== 'auto') {
    const profile = resolveRsuProfile(choice)
    return {
      auto: false,
      read(raw) {
        const r = decodeRsuFrame(raw, profile)
        return r.ok ? ok({ frame: r.value, profile, ambiguous: false }) : r
      },
      detected: () => profile,
      current: () => profile,
      reset() {},
    }
  }
  const candidates = opts.candidates ?? [CLASSIC_PROFILE, PROFILE_2019]
  const fallback = opts.fallback ?? candidates[0] ?? CLASSIC_PROFILE
  let locked: RsuProfile | undefined
  return {
    auto: true,
    read(raw) {
      const tries = candidates.map((p) => ({ p, r: decodeRsuFrame(raw, p) }))
      const oks: { p: RsuProfile; frame: RsuFrame }[] = []
      for (const t of tries) if (t.r.ok) oks.push({ p: t.p, frame: t.r.value })
      if (oks.length === 0) {
        const pref = tries.find((t) => t.p === (locked ?? fallback)) ?? tries[0]
        if (!pref || pref.r.ok) return fail('unknown_frame_type', 'no candidate profile')
        return pref.r
      }
      const first = oks[0]!
      if (oks.length === 1) {
        if (raw.data.length > 0) locked = first.p
        return ok({ frame: first.frame, profile: first.p, ambiguous: false })
      }
      const prefer = (list: typeof oks) => list.find((o) => o.p === locked) ?? list.find((o) => o.p === fallback) ?? list[0]!
      if (oks.every((o) => sameFields(o, first))) {
        const pick = prefer(oks)
        return ok({ frame: pick.frame, profile: pick.p, ambiguous: false })
      }
      const known = oks.find((o) => o.p === locked)
      if (known) return ok({ frame: known.frame, profile: known.p, ambiguous: true })
      const least = Math.min(...oks.map((o) => restBytes(o.frame, o.p)))
      const pick = prefer(oks.filter((o) => restBytes(o.frame, o.p) === least))
      return ok({ frame: pick.frame, profile: pick.p, ambiguous: true })
    },
    detected: () => locked,
    current: () => locked ?? fallback,
    reset() {
      locked = undefined
    },
  }
}
