import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { codecLineDecoder } from '../../../devices/common/codec-lines.ts'
import { deviceKind } from '../../../devices/index.ts'
import { epochToPoints } from '../../../devices/position/index.ts'
import { createEpochAssembler, createNmeaFramer, decodeSentence, encodeSentence, gnsQuality, type NmeaSentence, nmeaCodec, type PositionEpoch, withChecksum } from '../../../devices/position/nmea/index.ts'

// `smartcity decode nmea`'s decoder: the codec through the generic runner.
const nmea = codecLineDecoder(nmeaCodec, deviceKind)

function run(lines: string[], receivedAt = Date.UTC(2026, 10, 22, 12)): PositionEpoch[] {
  const asm = createEpochAssembler()
  const out: PositionEpoch[] = []
  for (const l of lines) {
    const r = decodeSentence(l)
    if (!r.ok) throw new Error(`${l}: ${r.reason}`)
    out.push(...asm.push(r.value, receivedAt))
  }
  return [...out, ...asm.flush()]
}

describe('NMEA sentences', () => {
  it('verifies the checksum', () => {
    expect(decodeSentence('$GPGGA,212406.000,0000.0000000,N,00000.0000000,E,0,00,0.0,0.000,M,0.000,M,,0000*6E').ok).toBe(true)
    expect(decodeSentence('$GPGGA,212406.000,0000.0000000,N,00000.0000000,E,0,00,0.0,0.000,M,0.000,M,,0000*6F')).toMatchObject({ ok: false, reason: 'bad_checksum' })
    expect(decodeSentence('$GPGGA,212406.000,0000.0000000,N')).toMatchObject({ ok: false, reason: 'missing_checksum' })
    expect(decodeSentence(withChecksum('XXGGA,1'))).toMatchObject({ ok: false, reason: 'unknown_talker' })
  })

  it('accepts every talker: GP GL GA BD GB GN GQ', () => {
    for (const t of ['GP', 'GL', 'GA', 'BD', 'GB', 'GN', 'GQ']) {
      const r = decodeSentence(withChecksum(`${t}GLL,3959.9000,N,11623.4000,E,120000.00,A,A`))
      expect(r.ok && r.value.type === 'GLL' && r.value.talker).toBe(t)
    }
  })

  it('GSA with the NMEA 4.11 system id, GSV with a signal id and with an empty one (u-blox F9P)', () => {
    const gsa = decodeSentence(withChecksum('GNGSA,A,3,01,02,03,,,,,,,,,,1.2,0.8,0.9,4'))
    expect(gsa.ok && gsa.value).toMatchObject({ type: 'GSA', systemId: 4, svids: [1, 2, 3], fix: 3 })
    const gsv = decodeSentence(withChecksum('GBGSV,1,1,02,01,45,120,40,02,30,200,35,1'))
    expect(gsv.ok && gsv.value).toMatchObject({ type: 'GSV', signalId: 1, satellites: [{ prn: 1, snrDb: 40 }, { prn: 2 }] })
    const empty = decodeSentence(withChecksum('GPGSV,1,1,01,05,10,100,,'))
    expect(empty.ok && empty.value).toMatchObject({ type: 'GSV', signalId: null, satellites: [{ prn: 5, elevationDeg: 10, azimuthDeg: 100 }] })
    const none = decodeSentence(withChecksum('GPGSV,1,1,00,'))
    expect(none.ok && none.value).toMatchObject({ type: 'GSV', inView: 0, satellites: [], signalId: null })
  })

  it('skips proprietary $P sentences as their own type', () => {
    const r = decodeSentence('$PSTI,030,213121.000,A,4404.1295864,N,12118.8685453,W,1102.537,-0.01,0.01,0.03,070416,D,0.0,0.0*13')
    expect(r).toEqual({ ok: true, value: { type: 'proprietary', address: 'PSTI' } })
  })

  it('decode(encode(s)) == s for GGA, GNS, RMC, GLL, GSA, GSV, VTG and ZDA', () => {
    const talker = fc.constantFrom('GP', 'GL', 'GA', 'BD', 'GB', 'GN', 'GQ' as const)
    const time = fc.nat(86_399_99).map((n) => n * 10)
    // coordinates on the encoder's grid (1e-5 minute) so the text is exact
    const lat = fc.integer({ min: -89 * 6_000_000, max: 89 * 6_000_000 }).map((n) => Math.trunc(n / 6_000_000) + ((Math.abs(n) % 6_000_000) / 100_000 / 60) * Math.sign(n || 1))
    const lon = fc.integer({ min: -179 * 6_000_000, max: 179 * 6_000_000 }).map((n) => Math.trunc(n / 6_000_000) + ((Math.abs(n) % 6_000_000) / 100_000 / 60) * Math.sign(n || 1))
    const d1 = (max: number) => fc.nat(max * 10).map((n) => n / 10)
    const s: fc.Arbitrary<NmeaSentence> = fc.oneof(
      fc.record({ type: fc.constant('GGA' as const), talker, time, lat, lon, quality: fc.nat(6), satellites: fc.nat(40), hdop: d1(50), altM: d1(3000) }),
      fc
        .record({ type: fc.constant('GNS' as const), talker, time, lat, lon, mode: fc.stringMatching(/^[NADPRFEMS]{1,6}$/), satellites: fc.nat(60), hdop: d1(50), altM: d1(3000), geoidSepM: d1(100), navStatus: fc.constantFrom('S', 'C', 'U', 'V') })
        .map((g) => ({ ...g, quality: gnsQuality(g.mode) })),
      fc.record({ type: fc.constant('RMC' as const), talker, time, status: fc.constantFrom('A' as const, 'V' as const), lat, lon, speedKnots: fc.nat(99_999).map((n) => n / 1000), courseDeg: fc.nat(35_999).map((n) => n / 100), date: fc.record({ year: fc.integer({ min: 2000, max: 2079 }), month: fc.integer({ min: 1, max: 12 }), day: fc.integer({ min: 1, max: 28 }) }), mode: fc.constantFrom('A', 'D', 'N') }),
      fc.record({ type: fc.constant('GLL' as const), talker, lat, lon, time, status: fc.constantFrom('A' as const, 'V' as const), mode: fc.constantFrom('A', 'N') }),
      fc.record({ type: fc.constant('GSA' as const), talker, selection: fc.constantFrom('A' as const, 'M' as const), fix: fc.integer({ min: 1, max: 3 }), svids: fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 12 }), pdop: d1(20), hdop: d1(20), vdop: d1(20), systemId: fc.integer({ min: 1, max: 6 }) }),
      fc.record({ type: fc.constant('GSV' as const), talker, total: fc.constant(1), index: fc.constant(1), inView: fc.nat(60), satellites: fc.array(fc.record({ prn: fc.integer({ min: 1, max: 300 }), elevationDeg: fc.nat(90), azimuthDeg: fc.nat(359), snrDb: fc.nat(60) }), { maxLength: 4 }), signalId: fc.oneof(fc.constant(null), fc.integer({ min: 1, max: 15 })) }),
      fc.record({ type: fc.constant('VTG' as const), talker, courseTrueDeg: fc.nat(35_999).map((n) => n / 100), speedKnots: fc.nat(99_999).map((n) => n / 1000), speedKmh: fc.nat(99_999).map((n) => n / 1000), mode: fc.constant('A') }),
      fc.record({ type: fc.constant('ZDA' as const), talker, time, date: fc.record({ year: fc.integer({ min: 2000, max: 2099 }), month: fc.integer({ min: 1, max: 12 }), day: fc.integer({ min: 1, max: 28 }) }), zoneHours: fc.constant(0), zoneMinutes: fc.constant(0) }),
    )
    fc.assert(
      fc.property(s, (x) => {
        const r = decodeSentence(encodeSentence(x))
        expect(r.ok).toBe(true)
        if (!r.ok) return
        const got = r.value as Record<string, unknown>
        for (const [k, v] of Object.entries(x)) {
          if (typeof v === 'number') expect(got[k] as number).toBeCloseTo(v, 7)
          else expect(got[k]).toEqual(v)
        }
      }),
      { numRuns: 500 },
    )
  })
})

describe('NMEA epochs', () => {
  const t = '103000.00'
  const epoch = [
    withChecksum(`GNRMC,${t},A,3412.34567,N,10856.78901,E,10.000,90.00,221126,,,A,V`),
    withChecksum('GNVTG,90.00,T,,M,10.000,N,18.520,K,A'),
    withChecksum(`GNGGA,${t},3412.34567,N,10856.78901,E,1,12,0.9,410.5,M,-28.0,M,,`),
    withChecksum('GNGSA,A,3,05,13,15,,,,,,,,,,1.5,0.9,1.2,1'),
    withChecksum('GNGSA,A,3,08,11,14,19,21,22,24,26,33,,,,1.5,0.9,1.2,4'),
    withChecksum('GPGSV,1,1,04,05,40,080,42,13,50,150,38,15,20,300,30,29,05,010,,1'),
    withChecksum('GBGSV,3,1,10,08,60,010,44,11,55,100,40,14,40,200,41,19,35,300,39,1'),
    withChecksum('GBGSV,3,2,10,21,30,030,38,22,25,130,37,24,20,230,36,26,15,330,35,1'),
    withChecksum('GBGSV,3,3,10,33,70,060,45,40,05,170,,1'),
    withChecksum(`GNGLL,3412.34567,N,10856.78901,E,${t},A,A`),
  ]

  it('combines GGA + RMC + GSA + GSV of one epoch into one position point with satellites per system', () => {
    const eps = run(epoch)
    expect(eps).toHaveLength(1)
    const e = eps[0]!
    expect(e).toMatchObject({ time: Date.UTC(2026, 10, 22, 10, 30), system: 'GNSS', fixQuality: 1, fixMode: 3, altM: 410.5, speedKmh: 18.52, courseDeg: 90, satellitesUsed: 12, hdop: 0.9 })
    expect(e.lat).toBeCloseTo(34 + 12.34567 / 60, 9)
    expect(e.lon).toBeCloseTo(108 + 56.78901 / 60, 9)
    expect(e.satellites).toEqual({ GPS: { inView: 4, used: 3, snrMeanDb: 36.7 }, BDS: { inView: 10, used: 9, snrMeanDb: 39.4 } })
    const pts = epochToPoints(e, { satellites: true })
    expect(pts.ok && pts.value.map((p) => `${p.measurement}/${p.tags['system']}`)).toEqual(['position/GNSS', 'satellites/GPS', 'satellites/BDS'])
  })

  it('a BeiDou-only receiver (BD talker) tags the point BDS', () => {
    const eps = run([withChecksum(`BDGGA,${t},3412.34567,N,10856.78901,E,1,06,1.1,400.0,M,,M,,`), withChecksum('BDGSA,A,3,01,02,03,04,05,06,,,,,,,2.0,1.1,1.6')])
    expect(eps.map((e) => e.system)).toEqual(['BDS'])
  })

  it('an epoch without a fix: fix_quality 0, no coordinates (never 0,0)', () => {
    const eps = run([withChecksum(`GNRMC,${t},V,,,,,,,221126,,,N,V`), withChecksum(`GNGGA,${t},,,,,0,00,99.99,,,,,,`), withChecksum('GNGSA,A,1,,,,,,,,,,,,,99.99,99.99,99.99,1')])
    expect(eps).toHaveLength(1)
    const pts = epochToPoints(eps[0]!)
    expect(pts.ok && pts.value[0]!.fields).toEqual({ fix_quality: 0, fix_mode: 1, satellites_used: 0 })
  })

  it('a new time closes the previous epoch; GGA without a date takes the nearest day', () => {
    const received = Date.UTC(2026, 10, 23, 0, 0, 5) // just after midnight; the fix is from 23:59:59 yesterday
    const eps = run([withChecksum('GPGGA,235959.00,3412.0,N,10856.0,E,1,05,1.0,400.0,M,,M,,'), withChecksum('GPGGA,000000.00,3412.0,N,10856.0,E,1,05,1.0,400.0,M,,M,,')], received)
    expect(eps.map((e) => new Date(e.time).toISOString())).toEqual(['2026-11-22T23:59:59.000Z', '2026-11-23T00:00:00.000Z'])
  })

  it('a dual-mode module sending $GPGGA and $BDGGA for the same time gives one epoch; time-less GGAs one each', () => {
    const eps = run([
      withChecksum(`GPGGA,${t},3412.34567,N,10856.78901,E,1,06,1.0,400.0,M,,M,,`),
      withChecksum(`BDGGA,${t},3412.34567,N,10856.78901,E,1,05,1.1,400.0,M,,M,,`),
      withChecksum('GPGSA,A,3,01,02,03,04,05,06,,,,,,,2.0,1.0,1.6'),
      withChecksum('BDGSA,A,3,01,02,03,04,05,,,,,,,,2.0,1.1,1.6'),
    ])
    expect(eps).toHaveLength(1)
    expect(eps[0]).toMatchObject({ system: 'GNSS', satellitesUsed: 6, satellites: { GPS: { used: 6 }, BDS: { used: 5 } } })
    const noTime = run([withChecksum('GPGGA,,,,,,0,00,,,,,,,'), withChecksum('GPGGA,,,,,,0,00,,,,,,,')])
    expect(noTime).toHaveLength(2)
  })

  it('the nmea line decoder prints one point for a fix sentence, none for GSV', () => {
    const d = nmea
    expect(d.decodeLine(epoch[2]!, { receivedAt: Date.UTC(2026, 10, 22, 10, 30, 1) })).toMatchObject({ ok: true, frame: { type: 'GGA' }, points: [{ measurement: 'position', fields: { fix_quality: 1 } }] })
    expect(d.decodeLine(epoch[6]!, { receivedAt: 0 })).toMatchObject({ ok: true, points: [] })
    expect(d.decodeLine('$GPGGA,broken*00', { receivedAt: 0 })).toMatchObject({ ok: false })
  })
})

describe('NMEA framer', () => {
  it('handles split and concatenated reads, garbage and truncated sentences', () => {
    const a = withChecksum('GPGLL,3959.9000,N,11623.4000,E,120000.00,A,A')
    const b = withChecksum('BDGSA,A,3,214,,,,,,,,,,,,2.5,1.2,2.2')
    const stream = Buffer.from(`\x00\xffjunk${a}$GPGGA,1203${b}\n\n${a.replace('\r\n', '\n')}`, 'latin1')
    for (const size of [1, 3, 17, stream.length]) {
      const f = createNmeaFramer()
      const evs = []
      for (let i = 0; i < stream.length; i += size) evs.push(...f.push(stream.subarray(i, i + size)))
      expect(evs.filter((e) => e.ok).map((e) => (e.ok ? e.frame : ''))).toEqual([a.trim(), b.trim(), a.trim()])
      expect(evs.filter((e) => !e.ok).map((e) => (e.ok ? '' : e.reason))).toEqual(['garbage', 'truncated'])
    }
  })

  it('fuzz: random bytes, truncated and corrupted sentences never throw out of the framer, decoder or assembler', () => {
    const good = `${withChecksum('GNGGA,103000.00,3412.34567,N,10856.78901,E,1,12,0.9,410.5,M,-28.0,M,,')}${withChecksum('GBGSV,1,1,02,01,45,120,40,02,30,200,35,1')}`
    const corrupt = fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 }), fc.nat(good.length)).map(([i, c, cut]) => {
      const b = Buffer.from(good, 'latin1')
      b[i] = c
      return b.subarray(0, cut)
    })
    const printable = fc.string({ maxLength: 90 }).map((s) => Buffer.from(withChecksum(`GN${s}`), 'latin1'))
    const input = fc.oneof(fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)), corrupt, printable)
    fc.assert(
      fc.property(fc.array(input, { maxLength: 10 }), (chunks) => {
        const f = createNmeaFramer()
        const asm = createEpochAssembler()
        for (const c of chunks) {
          for (const ev of f.push(c)) {
            if (!ev.ok) continue
            const s = decodeSentence(ev.frame)
            if (s.ok) for (const e of asm.push(s.value, 0)) epochToPoints(e, { satellites: true })
          }
          nmea.decodeLine(c.toString('latin1'), { receivedAt: 0 })
        }
        for (const e of asm.flush()) epochToPoints(e)
      }),
      { numRuns: 1000 },
    )
  })
})
