/** fast-check arbitraries for RSU frames, built from a profile's layout table (shared by the etc-rsu tests). */
import fc from 'fast-check'
import { answerRsctl, type RsuFieldSpec, type RsuFrame, type RsuProfile, rsuRsctl } from '../../../devices/etc/rsu/index.ts'

export const PLATES = ['陕A12345', '京N8Y2B6', '粤B·D12345', '沪AD12345', '川A0001警', '']

/** An arbitrary frame built from the layout table itself, so every frame of every profile is covered. */
/** `full`: every field present (no short form). */
export function frameArb(profile: RsuProfile, type: string, full = false): fc.Arbitrary<RsuFrame> {
  const layout = profile.frames[type]!
  const valueArb = (s: RsuFieldSpec): fc.Arbitrary<string | number> => {
    switch (s.type) {
      case 'u8':
        return fc.integer({ min: 0, max: 0xff })
      case 'u16':
        return fc.integer({ min: 0, max: 0xffff })
      case 'u32':
        return fc.integer({ min: 0, max: 0xffffffff })
      case 'hex':
        return fc.uint8Array({ minLength: s.length!, maxLength: s.length! }).map((b) => Buffer.from(b).toString('hex').toUpperCase())
      case 'bcd':
        return fc.array(fc.integer({ min: 0, max: 9 }), { minLength: s.length! * 2, maxLength: s.length! * 2 }).map((d) => d.join(''))
      case 'gbk':
        return fc.constantFrom(...PLATES)
      case 'rest':
        return fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b).toString('hex').toUpperCase())
    }
  }
  const firstOptional = layout.fields.findIndex((s) => s.optional)
  const cut = full ? fc.constant(layout.fields.length) : fc.integer({ min: firstOptional < 0 ? layout.fields.length : firstOptional, max: layout.fields.length })
  const values = fc.tuple(...layout.fields.map(valueArb))
  const seq = fc.integer({ min: 0, max: 7 })
  return fc.tuple(values, cut, seq).map(([vals, n, q]) => {
    const fields: Record<string, string | number> = {}
    layout.fields.forEach((s, i) => {
      // A catch-all is there (maybe empty) whenever every field before it is: that is how it decodes.
      if (i < n || (s.type === 'rest' && n >= i)) fields[s.name] = vals[i]!
    })
    const rsctl = layout.from === 'rsu' ? rsuRsctl(q) : answerRsctl(rsuRsctl(q))
    return { rsctl, type, fields }
  })
}

/** Any frame of any type of the profile, in any of its forms (short, full, with catch-all bytes). */
export function anyFrameOf(profile: RsuProfile): fc.Arbitrary<RsuFrame> {
  return fc.constantFrom(...Object.keys(profile.frames)).chain((t) => frameArb(profile, t))
}

/** A frame in its full form as firmware sends it: every field, catch-alls empty. */
export function fullFrameOf(profile: RsuProfile): fc.Arbitrary<RsuFrame> {
  return fc.constantFrom(...Object.keys(profile.frames)).chain((type) => {
    const layout = profile.frames[type]!
    return frameArb(profile, type, true).map((fr) => {
      for (const s of layout.fields) if (s.type === 'rest') fr.fields[s.name] = ''
      return fr
    })
  })
}
