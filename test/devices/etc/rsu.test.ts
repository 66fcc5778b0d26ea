import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { codecLineDecoder } from '../../../devices/common/codec-lines.ts'
import { etcRsuCodec } from '../../../devices/etc/rsu/index.ts'
import { deviceKind } from '../../../devices/index.ts'
import {
  bcdTimeToMs,
  CLASSIC_PROFILE,
  createRsuFramer,
  PROFILE_2019,
  decodeGbk,
  decodeRsu,
  decodeRsuFrame,
  encodeGbk,
  encodeRsu,
  frameRsu,
  isHeartbeat,
  msToBcdTime,
  obuStatusFlags,
  type RsuFrame,
  RsuFrameLayout,
  RsuProfile,
  stuff,
  unframeRsu,
  unstuff,
} from '../../../devices/etc/rsu/index.ts'
import { parseHex, toHex } from '../../../devices/common/hex.ts'
import { anyFrameOf, PLATES } from './rsu-arb.ts'

const _TYPES = Object.keys(CLASSIC_PROFILE.frames)
const anyFrame = anyFrameOf(CLASSIC_PROFILE)

describe('etc-rsu byte stuffing', () => {
  it('escapes FF as FE 01 and FE as FE 00, and nothing else', () => {
    expect(toHex(stuff(Buffer.from([0x01, 0xff, 0xfe, 0x02])))).toBe('01 FE 01 FE 00 02')
  })
  it('refuses FE followed by anything but 00 or 01, a trailing FE and a raw FF', () => {
    for (let b = 2; b < 0xff; b++) {
      const r = unstuff(Buffer.from([0x10, 0xfe, b]))
      expect(r.ok).toBe(false)
      if (!r.ok) expect(r.reason).toBe('bad_escape')
    }
    expect(unstuff(Buffer.from([0x10, 0xfe]))).toMatchObject({ ok: false, reason: 'bad_escape' })
    expect(unstuff(Buffer.from([0x10, 0xff]))).toMatchObject({ ok: false, reason: 'unexpected_ff' })
  })
  it('round-trips any bytes (fast-check), and the stuffed form holds no FF', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        const s = stuff(b)
        expect(s.includes(0xff)).toBe(false)
        const u = unstuff(s)
        expect(u.ok && Buffer.compare(u.value, Buffer.from(b)) === 0).toBe(true)
      }),
    )
  })
})

describe('etc-rsu BCC and envelope', () => {
  it('decodes a B2 heartbeat frame field by field (BCC = 08^B2^80 = 3A)', () => {
    const r = decodeRsu(parseHex('FF FF 08 B2 00 00 00 00 80 3A FF')!)
    expect(r).toEqual({ ok: true, value: { rsctl: 0x08, type: 'B2', fields: { obuId: '00000000', errorCode: 0x80 } } })
    expect(r.ok && isHeartbeat(r.value)).toBe(true)
  })
  it('computes the BCC over RSCTL and DATA before stuffing and stuffs the BCC too', () => {
    // RSCTL 08, DATA FE 01 -> BCC = 08^FE^01 = F7; FE is stuffed.
    expect(toHex(frameRsu(0x08, Buffer.from([0xfe, 0x01])))).toBe('FF FF 08 FE 00 01 F7 FF')
    // DATA F7 -> BCC = 08^F7 = FF, which is stuffed as FE 01.
    expect(toHex(frameRsu(0x08, Buffer.from([0xf7])))).toBe('FF FF 08 F7 FE 01 FF')
    expect(unframeRsu(frameRsu(0x08, Buffer.from([0xf7])))).toEqual({ ok: true, value: { rsctl: 0x08, data: Buffer.from([0xf7]) } })
  })
  it('treats an empty answer as ACK', () => {
    const wire = frameRsu(0x80, Buffer.alloc(0))
    expect(toHex(wire)).toBe('FF FF 80 80 FF')
    expect(decodeRsu(wire)).toEqual({ ok: true, value: { rsctl: 0x80, type: 'ACK', fields: {} } })
  })
  it('refuses a frame corrupted at any single byte, with a reason', () => {
    const frames: RsuFrame[] = fc.sample(anyFrame, { numRuns: 60, seed: 42 })
    let checked = 0
    for (const fr of frames) {
      const wire = encodeRsu(fr)
      for (let i = 0; i < wire.length; i++) {
        for (const mask of [0x01, 0x80, 0xff, 0x5a]) {
          const bad = Buffer.from(wire)
          bad[i] = bad[i]! ^ mask
          const r = decodeRsu(bad)
          expect(r.ok, `${toHex(wire)} with byte ${i} ^ ${mask}`).toBe(false)
          if (!r.ok) expect(r.reason).toMatch(/^[a-z_]+$/)
          checked++
        }
      }
    }
    expect(checked).toBeGreaterThan(1000)
  })
})

describe('etc-rsu GBK plates', () => {
  it('encodes plates as GBK and decodes them back', () => {
    expect(toHex(encodeGbk('陕A12345'))).toBe('C9 C2 41 31 32 33 34 35')
    for (const p of PLATES) expect(decodeGbk(encodeGbk(p))).toBe(p)
  })
  it('writes the plate NUL-padded to 12 bytes in B3 and reads it back', () => {
    const fr: RsuFrame = { rsctl: 0x18, type: 'B3', fields: { obuId: '0A0B0C0D', errorCode: 0, plate: '陕A12345', plateColor: 0, vehicleClass: 1, userType: 0 } }
    const wire = encodeRsu(fr)
    expect(toHex(wire)).toContain('C9 C2 41 31 32 33 34 35 00 00 00 00')
    expect(decodeRsu(wire)).toEqual({ ok: true, value: fr })
  })
  it('refuses a plate GBK cannot hold, and bytes that are not GBK', () => {
    expect(() => encodeGbk('🚗')).toThrow()
    const fr: RsuFrame = { rsctl: 0x18, type: 'B3', fields: { obuId: '0A0B0C0D', errorCode: 0, plate: 'A', plateColor: 0, vehicleClass: 1, userType: 0 } }
    const data = Buffer.from(encodeRsu(fr).subarray(3, -2))
    data[6] = 0x81 // lead byte followed by 0x00 is not GBK
    data[7] = 0x00
    expect(decodeRsuFrame({ rsctl: 0x18, data })).toMatchObject({ ok: false, reason: 'bad_text' })
  })
})

describe('etc-rsu frames', () => {
  for (const profile of [CLASSIC_PROFILE, PROFILE_2019]) {
    it(`decode(encode(x)) == x for every frame type of the ${profile.name} profile (fast-check)`, () => {
      fc.assert(
        fc.property(anyFrameOf(profile), (fr) => {
          expect(decodeRsu(encodeRsu(fr, profile), profile)).toEqual({ ok: true, value: fr })
        }),
        { numRuns: 2000 },
      )
    })
  }
  it('refuses a truncated frame, trailing bytes, an unknown type and a frame from the wrong side', () => {
    const c2 = (data: number[], rsctl = 0x80) => decodeRsu(frameRsu(rsctl, Buffer.from(data)))
    expect(c2([0xc2, 1, 2, 3, 4])).toMatchObject({ ok: false, reason: 'truncated' })
    expect(c2([0xc2, 1, 2, 3, 4, 1, 9])).toMatchObject({ ok: false, reason: 'trailing_bytes' })
    expect(c2([0xd9, 1])).toMatchObject({ ok: false, reason: 'unknown_frame_type' })
    expect(c2([0xc2, 1, 2, 3, 4, 1], 0x08)).toMatchObject({ ok: false, reason: 'bad_rsctl' })
    expect(c2([0xc2, 1, 2, 3, 4, 1], 0x33)).toMatchObject({ ok: false, reason: 'bad_rsctl' })
    expect(decodeRsu(frameRsu(0x08, Buffer.from([0xb5, 1, 2, 3, 4, 0, 0x20, 0x26, 0x1a, 0, 0, 0, 0])))).toMatchObject({ ok: false, reason: 'bad_bcd' })
  })
  it('reads the OBU status byte and BCD times', () => {
    expect(obuStatusFlags(0x8800)).toMatchObject({ cardAbsent: true, cardError: true, obuLocked: false })
    const t = Date.UTC(2026, 10, 22, 2, 30, 5)
    expect(msToBcdTime(t)).toBe('20261122103005')
    expect(bcdTimeToMs('20261122103005')).toBe(t)
    expect(bcdTimeToMs('20261131103005')).toBeUndefined()
  })
  it('takes a vendor variant as configuration: a longer B3 from a profile given as data', () => {
    const vendor = RsuProfile.parse({
      name: 'vendor-x',
      frames: {
        ...CLASSIC_PROFILE.frames,
        B3: {
          from: 'rsu',
          fields: [
            { name: 'obuId', type: 'hex', length: 4 },
            { name: 'errorCode', type: 'u8' },
            { name: 'plate', type: 'gbk', length: 12, optional: true },
            { name: 'plateColor', type: 'u16', optional: true },
            { name: 'vehicleClass', type: 'u8', optional: true },
            { name: 'userType', type: 'u8', optional: true },
            { name: 'lengthDm', type: 'u16', optional: true },
            { name: 'axles', type: 'u8', optional: true },
          ],
        },
      },
    })
    const fr: RsuFrame = { rsctl: 0x28, type: 'B3', fields: { obuId: '01020304', errorCode: 0, plate: '陕A12345', plateColor: 0, vehicleClass: 3, userType: 0, lengthDm: 120, axles: 3 } }
    const wire = encodeRsu(fr, vendor)
    expect(decodeRsu(wire, vendor)).toEqual({ ok: true, value: fr })
    expect(decodeRsu(wire)).toMatchObject({ ok: false, reason: 'trailing_bytes' })
  })
  it('refuses a bad layout table with the key path', () => {
    const r = RsuFrameLayout.safeParse({ from: 'rsu', fields: [{ name: 'a', type: 'hex' }, { name: 'b', type: 'rest' }, { name: 'c', type: 'u8' }] })
    expect(r.success).toBe(false)
    expect(JSON.stringify(r.error?.issues.map((i) => i.path))).toBe('[["fields",0,"length"],["fields",1,"type"]]')
  })
})

describe('etc-rsu framer', () => {
  it('finds every frame in split and concatenated reads with garbage between (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(anyFrame, fc.uint8Array({ maxLength: 6 }).map((g) => Buffer.from(g.filter((b) => b !== 0xff)))), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 20 }),
        (items, cuts) => {
          const wire = Buffer.concat(items.flatMap(([fr, g]) => [g, encodeRsu(fr)]))
          const framer = createRsuFramer()
          const got: RsuFrame[] = []
          let garbage = 0
          let pos = 0
          let k = 0
          while (pos < wire.length) {
            const n = cuts[k++ % cuts.length]!
            for (const ev of framer.push(wire.subarray(pos, pos + n))) {
              if (ev.ok) {
                const d = decodeRsuFrame(ev.frame)
                if (d.ok) got.push(d.value)
              } else garbage += ev.raw.length
            }
            pos += n
          }
          expect(got).toEqual(items.map(([fr]) => fr))
          expect(garbage).toBe(items.reduce((s, [, g]) => s + g.length, 0))
        },
      ),
      { numRuns: 500 },
    )
  })
  it('reports an over-long frame and resynchronises on the next STX', () => {
    const framer = createRsuFramer(64)
    const evs = framer.push(Buffer.concat([Buffer.from([0xff, 0xff]), Buffer.alloc(100, 0x11)]))
    expect(evs.map((e) => (e.ok ? 'frame' : e.reason))).toEqual(['frame_too_long'])
    const good = encodeRsu({ rsctl: 0x80, type: 'C2', fields: { obuId: '01020304', stopType: 1 } })
    const next = framer.push(good)
    expect(next.length).toBe(1)
    expect(next[0]!.ok).toBe(true)
  })
  it('never throws on random bytes (fuzz), and accounts for every byte', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 10 }), (chunks) => {
        const framer = createRsuFramer(256)
        let seen = 0
        for (const c of chunks) {
          for (const ev of framer.push(Buffer.from(c))) {
            seen += ev.raw.length
            if (ev.ok) decodeRsuFrame(ev.frame)
          }
          decodeRsu(c)
        }
        expect(seen).toBeLessThanOrEqual(chunks.reduce((s, c) => s + c.length, 0))
      }),
      { numRuns: 3000 },
    )
  })
})

describe('smartcity decode etc-rsu', () => {
  const dec = codecLineDecoder(etcRsuCodec('classic'), deviceKind)
  it('prints a B0 as a frame and an etc_rsu_status point', () => {
    const wire = encodeRsu({
      rsctl: 0x98,
      type: 'B0',
      fields: { rsuStatus: 0x02, psamTerminalId: '610100000001', rsuAlgId: 0, rsuManuId: 0x11, rsuId: '000102', rsuVersion: '0100', reserved: '' },
    })
    const r = dec.decodeLine(toHex(wire), { receivedAt: 1_795_000_000_000 })
    expect(r).toEqual({
      ok: true,
      frame: {
        rsctl: '98',
        type: 'B0',
        heartbeat: false,
        profile: 'classic',
        fields: { rsuStatus: 2, psamTerminalId: '610100000001', rsuAlgId: 0, rsuManuId: 0x11, rsuId: '000102', rsuVersion: '0100', reserved: '' },
      },
      // The tags the pipeline adds from the reading (issue 11: decode prints what the gateway stores).
      points: [{ measurement: 'etc_rsu_status', tags: { device: expect.any(String), kind: 'etc', protocol: 'etc-rsu' }, fields: { online: true, antenna_ok: false, psam_ok: true, rsu_status: 2 }, time: 1_795_000_000_000 }],
    })
  })
  it('prints an error with the reason for a bad line', () => {
    expect(dec.decodeLine('FF FF 08 B2 00 00 00 00 80 3B FF', { receivedAt: 0 })).toEqual({ ok: false, error: 'bcc_mismatch: BCC 3B, computed 3A' })
    expect(dec.decodeLine('zz', { receivedAt: 0 })).toMatchObject({ ok: false, error: expect.stringMatching(/^not_hex/) })
  })
})
