/** NMEA 0183 encoder (simulators, and the round-trip property test): the inverse of `decodeSentence`. */
import { xorString } from '../../common/checksum.ts'
import type { NmeaDate, NmeaSentence } from './sentences.ts'

function fmt(v: number | undefined, decimals: number): string {
  return v === undefined ? '' : v.toFixed(decimals)
}

function fmtInt(v: number | undefined, width = 0): string {
  return v === undefined ? '' : String(v).padStart(width, '0')
}

function fmtTime(ms: number | undefined): string {
  if (ms === undefined) return ''
  const h = Math.floor(ms / 3_600_000)
  const mi = Math.floor(ms / 60_000) % 60
  const s = Math.floor(ms / 1000) % 60
  const frac = ms % 1000
  const p = (n: number) => String(n).padStart(2, '0')
  return `${p(h)}${p(mi)}${p(s)}.${frac % 10 === 0 ? String(frac / 10).padStart(2, '0') : String(frac).padStart(3, '0')}`
}

function fmtCoord(v: number | undefined, lon: boolean, decimals: number): [string, string] {
  if (v === undefined) return ['', '']
  const a = Math.abs(v)
  let deg = Math.floor(a)
  let min = Number(((a - deg) * 60).toFixed(decimals))
  if (min >= 60) {
    deg += 1
    min = 0
  }
  const text = String(deg).padStart(lon ? 3 : 2, '0') + min.toFixed(decimals).padStart(3 + decimals, '0')
  return [text, lon ? (v < 0 ? 'W' : 'E') : v < 0 ? 'S' : 'N']
}

function fmtDate(d: NmeaDate | undefined): string {
  if (!d) return ''
  const p = (n: number) => String(n).padStart(2, '0')
  return `${p(d.day)}${p(d.month)}${p(d.year % 100)}`
}

export interface EncodeOptions {
  /** Decimals of the minutes of latitude/longitude (receivers use 4 to 7). */
  coordDecimals?: number
}

/** Wrap a sentence body (`GNGGA,...`) as `$body*hh\r\n`. */
export function withChecksum(body: string): string {
  return `$${body}*${xorString(body).toString(16).toUpperCase().padStart(2, '0')}\r\n`
}

/** A sentence -> its line with checksum and CR LF. The inverse of `decodeSentence`. */
export function encodeSentence(s: NmeaSentence, opts: EncodeOptions = {}): string {
  const cd = opts.coordDecimals ?? 5
  const ll = (lat: number | undefined, lon: number | undefined) =>
    lat === undefined || lon === undefined ? ['', '', '', ''] : [...fmtCoord(lat, false, cd), ...fmtCoord(lon, true, cd)]
  let f: string[]
  switch (s.type) {
    case 'GGA':
      f = [
        `${s.talker}GGA`,
        fmtTime(s.time),
        ...ll(s.lat, s.lon),
        String(s.quality),
        fmtInt(s.satellites, 2),
        fmt(s.hdop, 1),
        fmt(s.altM, 1),
        s.altM === undefined ? '' : 'M',
        fmt(s.geoidSepM, 1),
        s.geoidSepM === undefined ? '' : 'M',
        fmt(s.dgpsAgeS, 1),
        s.dgpsStation ?? '',
      ]
      break
    case 'RMC':
      f = [
        `${s.talker}RMC`,
        fmtTime(s.time),
        s.status,
        ...ll(s.lat, s.lon),
        fmt(s.speedKnots, 3),
        fmt(s.courseDeg, 2),
        fmtDate(s.date),
        fmt(s.magVarDeg === undefined ? undefined : Math.abs(s.magVarDeg), 1),
        s.magVarDeg === undefined ? '' : s.magVarDeg < 0 ? 'W' : 'E',
        s.mode ?? '',
      ]
      if (s.navStatus !== undefined) f.push(s.navStatus)
      break
    case 'GLL':
      f = [`${s.talker}GLL`, ...ll(s.lat, s.lon), fmtTime(s.time), s.status, s.mode ?? '']
      break
    case 'GNS':
      f = [
        `${s.talker}GNS`,
        fmtTime(s.time),
        ...ll(s.lat, s.lon),
        s.mode,
        fmtInt(s.satellites, 2),
        fmt(s.hdop, 1),
        fmt(s.altM, 1),
        fmt(s.geoidSepM, 1),
        fmt(s.dgpsAgeS, 1),
        s.dgpsStation ?? '',
      ]
      if (s.navStatus !== undefined) f.push(s.navStatus)
      break
    case 'GSA': {
      const slots = Array.from({ length: 12 }, (_, i) => fmtInt(s.svids[i], 2))
      f = [`${s.talker}GSA`, s.selection, String(s.fix), ...slots, fmt(s.pdop, 2), fmt(s.hdop, 2), fmt(s.vdop, 2)]
      if (s.systemId !== undefined) f.push(String(s.systemId))
      else if (s.field18 !== undefined) f.push(s.field18)
      break
    }
    case 'GSV':
      f = [`${s.talker}GSV`, String(s.total), String(s.index), fmtInt(s.inView, 2)]
      for (const sat of s.satellites) {
        f.push(fmtInt(sat.prn, 2), fmtInt(sat.elevationDeg, 2), fmtInt(sat.azimuthDeg, 3), fmtInt(sat.snrDb, 2))
      }
      if (s.signalId !== undefined) f.push(s.signalId === null ? '' : s.signalId.toString(16).toUpperCase())
      break
    case 'VTG':
      f = [
        `${s.talker}VTG`,
        fmt(s.courseTrueDeg, 2),
        'T',
        fmt(s.courseMagDeg, 2),
        'M',
        fmt(s.speedKnots, 3),
        'N',
        fmt(s.speedKmh, 3),
        'K',
        s.mode ?? '',
      ]
      break
    case 'ZDA': {
      const p = (n: number | undefined) => fmtInt(n, 2)
      f = [`${s.talker}ZDA`, fmtTime(s.time), p(s.date?.day), p(s.date?.month), fmtInt(s.date?.year, 4), p(s.zoneHours), p(s.zoneMinutes)]
      break
    }
    case 'proprietary':
      f = [s.address]
      break
    case 'other':
      f = [`${s.talker}${s.sentence}`]
      break
  }
  return withChecksum(f.join(','))
}

