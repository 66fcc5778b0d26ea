/**
 * GNS (the multi-GNSS fix of NMEA 3.0+) and a GSA whose field 18 is not a system id, with sentences from
 * gpsd's regression logs of real receivers (gpsd project, test/daemon/, BSD-2-clause; read at the GitHub
 * mirror ntpsec/gpsd, commit 46977faa8f94eb036ca68c24a3fc0d233732e707):
 * - beidou-bd.log: AtlasVI/PrimaII, SiRF-TriG, 2015 (GNGNS, GPGSA/BDGSA with `1.2` in field 18)
 * - beidou-gb.log: the same receiver with its NMEA 4.00 conformance patch
 * - telit-pls83-w.log: Telit PLS83-W, 2025 (GNGNS with BeiDou in the 4th mode character)
 * - furuno_gl_ga.log: Furuno GT-88, 2022 (GNGNS `NDD`: GPS not used, GLONASS and Galileo differential)
 * - polarx2.log: Septentrio PolarRx2, 2012 (GPGNS with no altitude)
 * The expected values are gpsd's own reports for the same lines (the .chk files) where they say them.
 */
import { describe, expect, it } from 'vitest'
import { codecLineDecoder } from '../../../devices/common/codec-lines.ts'
import { deviceKind } from '../../../devices/index.ts'
import { createEpochAssembler, decodeSentence, encodeSentence, gnsQuality, type NmeaSentence, nmeaCodec, type PositionEpoch, withChecksum } from '../../../devices/position/nmea/index.ts'

function sentence(line: string): NmeaSentence {
  const r = decodeSentence(line)
  if (!r.ok) throw new Error(`${r.reason}: ${r.detail}`)
  return r.value
}

function epochs(lines: string[]): PositionEpoch[] {
  const asm = createEpochAssembler()
  const out: PositionEpoch[] = []
  for (const l of lines) out.push(...asm.push(sentence(l), Date.UTC(2015, 1, 25, 8)))
  return [...out, ...asm.flush()]
}

// `smartcity decode nmea`'s decoder: the codec through the generic runner.
const nmea = codecLineDecoder(nmeaCodec, deviceKind)

describe('NMEA GNS from real receivers', () => {
  it('decodes a SiRF-TriG GNGNS field by field (beidou-gb.log)', () => {
    const s = sentence('$GNGNS,053232.438,3114.8789,N,12135.2442,E,ANNA,07,1.2,153.8,8.3,,0000*5F')
    expect(s).toEqual({
      type: 'GNS',
      talker: 'GN',
      time: ((5 * 60 + 32) * 60 + 32) * 1000 + 438,
      lat: 31 + 14.8789 / 60,
      lon: 121 + 35.2442 / 60,
      mode: 'ANNA',
      quality: 1,
      satellites: 7,
      hdop: 1.2,
      altM: 153.8,
      geoidSepM: 8.3,
      dgpsStation: '0000',
    })
    // and back to the same line
    expect(encodeSentence(s, { coordDecimals: 4 }).trim()).toBe('$GNGNS,053232.438,3114.8789,N,12135.2442,E,ANNA,07,1.2,153.8,8.3,,0000*5F')
  })

  it('a GNS alone makes the epoch GGA would: position, satellites used, hdop, altitude (Telit PLS83-W)', () => {
    const r = nmea.decodeLine('$GNGNS,043539.00,4333.190206,N,00127.618380,E,AAAAN,14,1.3,250.8,50.0,,,V*62', { receivedAt: Date.UTC(2025, 8, 4, 5) })
    expect(r).toMatchObject({ ok: true, frame: { type: 'GNS', mode: 'AAAAN', quality: 1, navStatus: 'V' } })
    if (!r.ok) return
    // nav status V with a valid fix (RMC A, GGA 1 in the same log): V is "no navigational status", not "no fix"
    expect(r.points).toEqual([
      {
        measurement: 'position',
        // With the tags the pipeline adds from the reading (issue 11: decode prints what the gateway stores).
        tags: { device: 'nmea', kind: 'position', protocol: 'nmea', system: 'GNSS' },
        fields: { fix_quality: 1, fix_mode: 3, lat: 43 + 33.190206 / 60, lon: 1 + 27.61838 / 60, alt_m: 250.8, satellites_used: 14, hdop: 1.3 },
        time: Date.UTC(2025, 8, 4, 4, 35, 39),
      },
    ])
  })

  it('the best mode character of any system decides: NDD is a differential fix (Furuno GT-88, GGA quality 2, gpsd TPV status 2)', () => {
    const s = sentence('$GNGNS,120213.000,5957.0062,N,01100.6429,E,NDD,11,1.3,168.9,39.5,,,V*57')
    expect(s).toMatchObject({ type: 'GNS', quality: 2 })
    const gga = sentence('$GNGGA,120213.000,5957.0062,N,01100.6429,E,2,00,1.3,168.9,M,39.5,M,,*4A')
    expect(gga).toMatchObject({ type: 'GGA', quality: 2 })
  })

  it('mode characters map as gpsd reads them', () => {
    expect([...'NADPRFEMS'].map((c) => gnsQuality(c))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8])
    expect(gnsQuality('NNNA')).toBe(1) // a BeiDou-only fix
    expect(gnsQuality('ARNN')).toBe(4) // RTK fixed beats autonomous
    expect(decodeSentence(withChecksum('GNGNS,053232.438,3114.8789,N,12135.2442,E,AXNA,07,1.2,153.8,8.3,,0000'))).toMatchObject({ ok: false, reason: 'bad_field' })
  })

  it('no fix yet: NNNN gives fix_quality 0 and no position (beidou-bd.log)', () => {
    const r = nmea.decodeLine('$GNGNS,074150.799,,,,,NNNN,00,,,0.0,,0000*63', { receivedAt: Date.UTC(2015, 1, 25, 7, 41, 50) })
    expect(r).toMatchObject({ ok: true, points: [{ measurement: 'position', fields: { fix_quality: 0, fix_mode: 1, satellites_used: 0 } }] })
    if (r.ok) expect(r.points[0]!.fields).not.toHaveProperty('lat')
  })

  it('no altitude: a 2D fix (Septentrio PolarRx2, GPGNS)', () => {
    const [e] = epochs(['$GPGNS,112257.00,3844.24011,N,00908.43828,W,AN,03,10.5,,,,*57'])
    expect(e).toMatchObject({ fixQuality: 1, fixMode: 2, satellitesUsed: 3, hdop: 10.5, system: 'GPS' })
    expect(e!.lat).toBeCloseTo(38 + 44.24011 / 60, 9)
    expect(e!.lon).toBeCloseTo(-(9 + 8.43828 / 60), 9)
    expect(e!.altM).toBeUndefined()
  })
})

describe('NMEA GSA whose field 18 is not a system id (SiRF-TriG, beidou-bd.log)', () => {
  const epoch = [
    '$GNGGA,074158.799,3114.8953,N,12135.2439,E,1,07,1.1,198.5,M,8.3,M,,0000,1.8*70',
    '$GNGNS,074158.799,3114.8953,N,12135.2439,E,ANNA,07,1.1,198.5,8.3,,0000*51',
    '$GPGSA,A,3,25,32,12,14,,,,,,,,,2.1,1.1,1.8,1.2*39',
    '$BDGSA,A,3,02,03,04,,,,,,,,,,2.1,1.1,1.8,1.2*2D',
    '$GNRMC,074158.799,A,3114.8953,N,12135.2439,E,0.25,4.94,250215,,,A*7F',
  ]

  it('is decoded as gpsd does: field 18 with a "." is no system id, the talker decides', () => {
    const s = sentence(epoch[3]!)
    expect(s).toEqual({ type: 'GSA', talker: 'BD', selection: 'A', fix: 3, svids: [2, 3, 4], pdop: 2.1, hdop: 1.1, vdop: 1.8, field18: '1.2' })
    expect(decodeSentence(encodeSentence(s))).toEqual({ ok: true, value: s })
  })

  it('the epoch gives 4 GPS + 3 BeiDou satellites used, as gpsd reports (uSat 7 in beidou-bd.log.chk)', () => {
    const [e, ...rest] = epochs(epoch)
    expect(rest).toEqual([])
    expect(e).toMatchObject({ fixQuality: 1, fixMode: 3, satellitesUsed: 7, system: 'GNSS', altM: 198.5, time: Date.UTC(2015, 1, 25, 7, 41, 58, 799) })
    expect(e!.satellites).toMatchObject({ GPS: { used: 4 }, BDS: { used: 3 } })
  })

  it('smartcity decode nmea answers ok for both GSA lines', () => {
    for (const l of epoch.slice(2, 4)) expect(nmea.decodeLine(l, { receivedAt: 0 })).toMatchObject({ ok: true, frame: { type: 'GSA', field18: '1.2' }, points: [] })
  })

  it('a one-digit field 18 is still the NMEA 4.10 system id (u-blox 9, from gpsd processGSA)', () => {
    expect(sentence('$GNGSA,A,3,13,12,22,19,08,21,,,,,,,1.05,0.64,0.83,4*0B')).toMatchObject({ systemId: 4 })
  })
})
