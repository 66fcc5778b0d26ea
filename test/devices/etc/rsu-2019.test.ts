/**
 * The 2019 RSU layout and telling it from the classic one (`auto`).
 *
 * Layout source: the public STM32 RSU firmware github.com/leizi163163/test, USER/CommandProcess.h: structs
 * RSU_StatusDef (B0), RSU_ObuInfoDef (B2), RSU_IccInfoDef (B4), RSU_TransInfoDef (B5), PC_InitDef (C0),
 * PC_PurchaseDef (C6), and RSU_TRANS_INFO_LEN = 34 (the 2019 B5 DATA). The classic B0 with 5 reserved
 * bytes is 金溢's lane library github.com/ansend/ebox_svc lib/libetc.rb (BZFrameB0). No public capture of
 * a 2019 frame exists: the frames below (test/fixtures/etc-rsu/passage-2019.hex) are built from that
 * layout, and their bytes are checked here by hand, not by our encoder.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseHex } from '../../../devices/common/hex.ts'
import {
  CLASSIC_PROFILE,
  createRsuReader,
  decodeRsu,
  encodeRsu,
  frameRsu,
  isHeartbeat,
  PROFILE_2019,
  type RsuFrame,
  type RsuProfile,
  rsctlSender,
  unframeRsu,
} from '../../../devices/etc/rsu/index.ts'
import { anyFrameOf, fullFrameOf } from './rsu-arb.ts'

const FIXTURE = readFileSync(join(import.meta.dirname, '..', '..', 'fixtures', 'etc-rsu', 'passage-2019.hex'), 'utf8')
const LINES = FIXTURE.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'))
const wire = (i: number) => parseHex(LINES[i]!)!
const dec2019 = (i: number) => decodeRsu(wire(i), PROFILE_2019)
const raw = (b: Uint8Array) => {
  const u = unframeRsu(b)
  if (!u.ok) throw new Error(u.reason)
  return u.value
}

describe('etc-rsu 2019 layout, frame by frame', () => {
  it('B0: PSAM channel, version and authorisation before the terminal id (23 bytes of DATA)', () => {
    // FF FF | 98 | B0 | 00 status | 01 channel | 05 version | 01 authorised | 610100000001 terminal | 00 alg | 11 manu | 000001 id | 0100 version | 00*5 | 5D | FF
    expect(LINES[1]).toBe('FF FF 98 B0 00 01 05 01 61 01 00 00 00 01 00 11 00 00 01 01 00 00 00 00 00 00 5D FF')
    expect(dec2019(1)).toEqual({
      ok: true,
      value: {
        rsctl: 0x98,
        type: 'B0',
        fields: { rsuStatus: 0, psamChannel: 1, psamVersion: 5, psamAuth: 1, psamTerminalId: '610100000001', rsuAlgId: 0, rsuManuId: 0x11, rsuId: '000001', rsuVersion: '0100', reserved: '0000000000' },
      },
    })
  })
  it('B2: the 10-byte CPU card id between the expiry date and the equipment status (45 bytes)', () => {
    const r = dec2019(4)
    expect(r.ok && r.value.fields).toEqual({
      obuId: 'A1B2C3D4',
      errorCode: 0,
      contractProvider: 'C9C2CEF7C9C2CEF7',
      contractType: 1,
      contractVersion: 0x50,
      applicationSerial: '0000000012345678',
      signedDate: '20240101',
      expiredDate: '20301231',
      cpuCardId: '61011234567890123456',
      equipmentStatus: 0,
      obuStatus: 0x2000,
    })
    expect(raw(wire(4)).data.length).toBe(45)
  })
  it('B4: the EF04 read status, then the EF04 offset, length and data the C0 asked for', () => {
    const r = dec2019(8)
    expect(r.ok && r.value.fields).toMatchObject({ balanceFen: 12345, ef04ReadStatus: 0, ef04Offset: 0, ef04Length: 8, ef04Data: '0102030405060708' })
    // 1 type + 4 + 1 + 1 + 4 + 43 + 43 + 1 status + 2 + 2 + 8 data
    expect(raw(wire(8)).data.length).toBe(110)
    // The C0 before it asked: ef04Option 01, offset 0000, length 0008 after the PLL channel.
    expect(LINES[0]).toBe('FF FF 80 C0 6B 03 A1 40 20 26 11 24 08 53 20 03 0A 0A 00 01 00 00 00 08 8B FF')
    expect(dec2019(0)).toMatchObject({ ok: true, value: { fields: { pllChannel: 0, ef04Option: 1, ef04Offset: 0, ef04Length: 8 } } })
  })
  it('C6: a 40-byte station field (57 bytes without EF04 data)', () => {
    const r = dec2019(9)
    expect(r.ok && r.value.fields).toEqual({ obuId: 'A1B2C3D4', tradeMode: 0, feeFen: 500, stationFile: '00'.repeat(40), transTime: '20261124085321' })
    expect(raw(wire(9)).data.length).toBe(57)
  })
  it('B5: the 4-byte write time before the key type and the EF04 write status after it (34 bytes)', () => {
    // ... | A1B2C3D4 tac | 6B03A141 write time (UNIX s) | 00 key type | 00 EF04 write status | 5E | FF
    expect(LINES[10]).toBe('FF FF 48 B5 A1 B2 C3 D4 00 20 26 11 24 08 53 21 00 00 00 01 00 01 09 00 00 2E 45 A1 B2 C3 D4 6B 03 A1 41 00 00 5E FF')
    const r = dec2019(10)
    expect(r.ok && r.value.fields).toEqual({
      obuId: 'A1B2C3D4',
      errorCode: 0,
      transTime: '20261124085321',
      psamSerial: 1,
      cardSerial: 1,
      transType: 9,
      balanceFen: 11845,
      tac: 'A1B2C3D4',
      writeTime: 0x6b03a141,
      keyType: 0,
      ef04WriteStatus: 0,
    })
    expect(raw(wire(10)).data.length).toBe(34)
  })
  it('the classic profile refuses the 2019 B2, B4 and B5 (trailing bytes), so a wrong fixed profile is loud', () => {
    for (const i of [4, 8, 10]) expect(decodeRsu(wire(i), CLASSIC_PROFILE)).toMatchObject({ ok: false, reason: 'trailing_bytes' })
  })
})

describe('etc-rsu RSCTL 88', () => {
  it('reads a heartbeat with RSCTL 88 (BCC 88^B2^80 = BA), which the classic rule refused', () => {
    expect(LINES[3]).toBe('FF FF 88 B2 00 00 00 00 80 BA FF')
    for (const p of [CLASSIC_PROFILE, PROFILE_2019]) {
      const r = decodeRsu(wire(3), p)
      expect(r).toEqual({ ok: true, value: { rsctl: 0x88, type: 'B2', fields: { obuId: '00000000', errorCode: 0x80 } } })
      expect(r.ok && isHeartbeat(r.value)).toBe(true)
    }
    expect(rsctlSender(0x88)).toBe('either')
  })
  it('still refuses RSCTLs that are neither X8 nor 8X', () => {
    for (const rsctl of [0x8a, 0xa8, 0x00, 0x99, 0x33]) expect(decodeRsu(frameRsu(rsctl, Buffer.from([0xb2, 0, 0, 0, 0, 0x80])))).toMatchObject({ ok: false, reason: 'bad_rsctl' })
  })
})

describe('etc-rsu auto: the layout from the frame length', () => {
  for (const profile of [CLASSIC_PROFILE, PROFILE_2019]) {
    it(`reads every full-form ${profile.name} frame as the frame that was sent (fast-check)`, () => {
      fc.assert(
        fc.property(fullFrameOf(profile), (fr) => {
          const r = createRsuReader('auto').read(raw(encodeRsu(fr, profile)))
          expect(r.ok && r.value.frame).toEqual(fr)
        }),
        { numRuns: 1500 },
      )
    })
    it(`reads any ${profile.name} frame as sent, or says it is ambiguous (fast-check)`, () => {
      fc.assert(
        fc.property(anyFrameOf(profile), (fr) => {
          const r = createRsuReader('auto').read(raw(encodeRsu(fr, profile)))
          expect(r.ok).toBe(true)
          if (r.ok && !r.value.ambiguous) {
            // Not ambiguous: the same telling fields (an empty catch-all aside).
            const drop = (f: RsuFrame, p: RsuProfile) =>
              Object.fromEntries(Object.entries(f.fields).filter(([k, v]) => !(v === '' && p.frames[f.type]?.fields.find((s) => s.name === k)?.type === 'rest')))
            expect(drop(r.value.frame, r.value.profile)).toEqual(drop(fr, profile))
          }
        }),
        { numRuns: 1500 },
      )
    })
  }

  it('detects the layout from a frame only one profile reads, and keeps it for ambiguous ones', () => {
    const classicB0With8Reserved = frameRsu(0x98, Buffer.from('B0' + '00610100000001' + '0011000001' + '0100' + '00'.repeat(8), 'hex'))
    const reader = createRsuReader('auto')
    // 23 bytes: a whole 2019 B0, or a classic one with 8 reserved bytes; fewest catch-all bytes wins.
    let r = reader.read(raw(classicB0With8Reserved))
    expect(r.ok && [r.value.profile.name, r.value.ambiguous]).toEqual(['2019', true])
    expect(reader.detected()).toBeUndefined()
    expect(reader.current()).toBe(CLASSIC_PROFILE)
    // A classic 35-byte B2 only the classic profile reads: detected.
    const b2 = encodeRsu(
      { rsctl: 0x18, type: 'B2', fields: { obuId: '01020304', errorCode: 0, contractProvider: '00'.repeat(8), contractType: 1, contractVersion: 1, applicationSerial: '00'.repeat(8), signedDate: '20240101', expiredDate: '20301231', equipmentStatus: 0, obuStatus: 0 } },
      CLASSIC_PROFILE,
    )
    r = reader.read(raw(b2))
    expect(r.ok && [r.value.profile.name, r.value.ambiguous]).toEqual(['classic', false])
    expect(reader.detected()).toBe(CLASSIC_PROFILE)
    // Now the same ambiguous B0 reads as classic.
    r = reader.read(raw(classicB0With8Reserved))
    expect(r.ok && [r.value.profile.name, r.value.ambiguous, r.value.frame.fields['reserved']]).toEqual(['classic', true, '00'.repeat(8)])
    // A 2019 B5 switches it.
    reader.read(raw(wire(10)))
    expect(reader.detected()).toBe(PROFILE_2019)
    reader.reset()
    expect(reader.detected()).toBeUndefined()
  })

  it('the documented ambiguous lengths: B0 of 18 or 23 bytes, C6 of 61 or more, C0 of 21 or more', () => {
    const b0 = (reserved: number) => frameRsu(0x08, Buffer.from('B0' + '00610100000001' + '0011000001' + '0100' + '00'.repeat(reserved), 'hex'))
    const c6 = (extra: number) => frameRsu(0x80, Buffer.concat([Buffer.from('C6' + '01020304' + '00' + '000001F4', 'hex'), Buffer.alloc(43), Buffer.from('20261124085321', 'hex'), Buffer.alloc(extra)]))
    const c0 = (extra: number) => frameRsu(0x80, Buffer.concat([Buffer.from('C0' + '6B03A140' + '20261124085320' + '030A0A00', 'hex'), Buffer.alloc(extra)]))
    const read = (b: Buffer) => {
      const r = createRsuReader('auto').read(raw(b))
      return r.ok ? `${r.value.profile.name}${r.value.ambiguous ? '?' : ''}` : r.reason
    }
    expect([0, 3, 5, 8].map((n) => read(b0(n)))).toEqual(['classic', '2019?', 'classic', '2019?'])
    expect([0, 1, 4, 10].map((n) => read(c6(n)))).toEqual(['classic', '2019?', '2019?', '2019?'])
    expect([0, 5, 6].map((n) => read(c0(n)))).toEqual(['classic', '2019?', 'classic'])
  })

  it('reads a B4 of 97 bytes (classic, or 2019 without the EF04 status) the same either way, not ambiguous', () => {
    const issuer = '00'.repeat(43)
    const b4 = encodeRsu({ rsctl: 0x38, type: 'B4', fields: { obuId: '01020304', errorCode: 0, cardType: 0x16, balanceFen: 1, issuerFile: issuer, lastStationFile: issuer } }, CLASSIC_PROFILE)
    const r = createRsuReader('auto').read(raw(b4))
    expect(r.ok && r.value.ambiguous).toBe(false)
    expect(r.ok && r.value.frame.fields['balanceFen']).toBe(1)
  })
})
