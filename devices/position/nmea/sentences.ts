/**
 * NMEA 0183 sentences: the decoded shapes and the decoder of one sentence line (checksum, talker, fields).
 * Pure; never throws on input (docs/protocols.md section 4).
 */
import { xorString } from '../../common/checksum.ts'
import type { Reason } from '../../common/reasons.ts'
import { type DecodeResult, fail, ok } from '../../common/result.ts'

/** Constellation of a satellite or talker. QZSS and SBAS never make a `position` tag of their own. */
export type Constellation = 'GPS' | 'GLONASS' | 'GALILEO' | 'BDS' | 'QZSS' | 'SBAS' | 'GNSS'

/** Talker ids accepted: BD (Chinese BDS-module spec) and GB (NMEA 4.11) are both BeiDou. */
export const TALKERS = {
  GP: 'GPS',
  GL: 'GLONASS',
  GA: 'GALILEO',
  BD: 'BDS',
  GB: 'BDS',
  GN: 'GNSS',
  GQ: 'QZSS',
} as const satisfies Record<string, Constellation>
export type Talker = keyof typeof TALKERS

/** GSA/GSV system id (NMEA 4.10/4.11): 1 GPS, 2 GLONASS, 3 Galileo, 4 BeiDou, 5 QZSS. */
export const SYSTEM_IDS: Readonly<Record<number, Constellation>> = { 1: 'GPS', 2: 'GLONASS', 3: 'GALILEO', 4: 'BDS', 5: 'QZSS' }

export interface SatelliteInView {
  prn: number
  elevationDeg?: number
  azimuthDeg?: number
  snrDb?: number
}

/** Date parts (UTC). */
export interface NmeaDate {
  year: number
  month: number
  day: number
}

/** A decoded sentence. `time` is milliseconds since UTC midnight. Absent fields are left out. */
export type NmeaSentence =
  | {
      type: 'GGA'
      talker: Talker
      time?: number
      lat?: number
      lon?: number
      quality: number
      satellites?: number
      hdop?: number
      altM?: number
      geoidSepM?: number
      dgpsAgeS?: number
      dgpsStation?: string
    }
  | {
      type: 'RMC'
      talker: Talker
      time?: number
      status: 'A' | 'V'
      lat?: number
      lon?: number
      speedKnots?: number
      courseDeg?: number
      date?: NmeaDate
      magVarDeg?: number
      mode?: string
      navStatus?: string
    }
  | { type: 'GLL'; talker: Talker; lat?: number; lon?: number; time?: number; status: 'A' | 'V'; mode?: string }
  /** NMEA 3.0+ multi-GNSS fix: `mode` has one indicator character per system (GPS, GLONASS, Galileo, BDS,
   * QZSS, NavIC), `quality` is the GGA fix quality those characters give (`gnsQuality`). */
  | {
      type: 'GNS'
      talker: Talker
      time?: number
      lat?: number
      lon?: number
      mode: string
      quality: number
      satellites?: number
      hdop?: number
      altM?: number
      geoidSepM?: number
      dgpsAgeS?: number
      dgpsStation?: string
      navStatus?: string
    }
  | {
      type: 'GSA'
      talker: Talker
      selection: 'M' | 'A'
      fix: number
      svids: number[]
      pdop?: number
      hdop?: number
      vdop?: number
      systemId?: number
      /** Field 18 when it is not a system id (SiRF TriG sends a DOP-like `1.2` there): kept, not used. */
      field18?: string
    }
  | {
      type: 'GSV'
      talker: Talker
      total: number
      index: number
      inView: number
      satellites: SatelliteInView[]
      /** NMEA 4.10+ signal id; `null` when the field is present but empty (u-blox F9P). */
      signalId?: number | null
    }
  | { type: 'VTG'; talker: Talker; courseTrueDeg?: number; courseMagDeg?: number; speedKnots?: number; speedKmh?: number; mode?: string }
  | { type: 'ZDA'; talker: Talker; time?: number; date?: NmeaDate; zoneHours?: number; zoneMinutes?: number }
  /** `$P...`: manufacturer-specific, skipped (and counted by the caller). */
  | { type: 'proprietary'; address: string }
  /** A valid sentence of a type this decoder does not use (GST, TXT...), skipped. */
  | { type: 'other'; talker: Talker; sentence: string }

export const MAX_SENTENCE_CHARS = 164 // NMEA says 82; some receivers exceed it (SiRF, long PSTI)


class FieldError extends Error {
  constructor(
    readonly reason: Reason,
    detail: string,
  ) {
    super(detail)
  }
}

const NUM = /^[-+]?(\d+\.?\d*|\.\d+)$/

function num(s: string | undefined, name: string): number | undefined {
  if (s === undefined || s === '') return undefined
  if (!NUM.test(s)) throw new FieldError('bad_field', `${name}: ${JSON.stringify(s)} is not a number`)
  return Number(s)
}

function int(s: string | undefined, name: string): number | undefined {
  const v = num(s, name)
  if (v !== undefined && !Number.isInteger(v)) throw new FieldError('bad_field', `${name}: ${s} is not an integer`)
  return v
}

function req<T>(v: T | undefined, name: string): T {
  if (v === undefined) throw new FieldError('missing_field', `${name} is empty`)
  return v
}

/** `hhmmss(.sss)` -> ms since midnight. */
function time(s: string | undefined): number | undefined {
  if (s === undefined || s === '') return undefined
  const m = /^(\d\d)(\d\d)(\d\d)(?:\.(\d{1,3})\d*)?$/.exec(s)
  if (!m) throw new FieldError('bad_field', `time: ${JSON.stringify(s)}`)
  const h = Number(m[1])
  const mi = Number(m[2])
  const sec = Number(m[3])
  if (h > 23 || mi > 59 || sec > 60) throw new FieldError('bad_field', `time: ${s} out of range`)
  const ms = m[4] ? Number(m[4].padEnd(3, '0')) : 0
  return ((h * 60 + mi) * 60 + sec) * 1000 + ms
}

/** `ddmm.mmmm`/`dddmm.mmmm` + hemisphere -> signed decimal degrees (gpsd's arithmetic). */
function coord(v: string | undefined, hemi: string | undefined, lon: boolean): number | undefined {
  if (v === undefined || v === '' || hemi === undefined || hemi === '') return undefined
  const m = /^(\d+)(\d\d(?:\.\d*)?)$/.exec(v)
  if (!m || !/^[NSEW]$/.test(hemi)) throw new FieldError('bad_field', `coordinate: ${v},${hemi}`)
  const deg = Number(m[1])
  const min = Number(m[2])
  if (min >= 60 || deg > (lon ? 180 : 90)) throw new FieldError('bad_field', `coordinate out of range: ${v}`)
  if (lon ? hemi !== 'E' && hemi !== 'W' : hemi !== 'N' && hemi !== 'S') throw new FieldError('bad_field', `hemisphere ${hemi}`)
  const d = deg + min / 60
  if (d > (lon ? 180 : 90)) throw new FieldError('bad_field', `coordinate out of range: ${v}`)
  return hemi === 'S' || hemi === 'W' ? -d : d
}

function latLon(f: readonly string[], i: number): { lat?: number; lon?: number } {
  const lat = coord(f[i], f[i + 1], false)
  const lon = coord(f[i + 2], f[i + 3], true)
  return lat === undefined || lon === undefined ? {} : { lat, lon }
}

function status(s: string | undefined): 'A' | 'V' {
  if (s === 'A' || s === 'V') return s
  throw new FieldError('bad_field', `status: ${JSON.stringify(s)}`)
}

function opt(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s
}

/** Copy of `o` without undefined values (so decode(encode(x)) deep-equals x). */
function clean<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k]
  return o
}

function dateDDMMYY(s: string | undefined): NmeaDate | undefined {
  if (s === undefined || s === '') return undefined
  const m = /^(\d\d)(\d\d)(\d\d)$/.exec(s)
  if (!m) throw new FieldError('bad_field', `date: ${JSON.stringify(s)}`)
  const yy = Number(m[3])
  const d = { year: yy < 80 ? 2000 + yy : 1900 + yy, month: Number(m[2]), day: Number(m[1]) }
  if (d.month < 1 || d.month > 12 || d.day < 1 || d.day > 31) throw new FieldError('bad_field', `date: ${s} out of range`)
  return d
}

/**
 * GNS mode indicator characters -> GGA fix quality. Each character means what gpsd's `faa_mode()` reads
 * (driver_nmea0183.c): A autonomous (1), D differential (2), P precise (3), R fixed RTK (4), F float RTK (5),
 * E estimated (6), M manual (7), S simulator (8), N no fix (0). gpsd reads only the first character (GPS);
 * a BeiDou-only receiver says `NNNA`, so the best character of any system decides here.
 */
export const GNS_MODE_QUALITY: Readonly<Record<string, number>> = { N: 0, A: 1, D: 2, P: 3, R: 4, F: 5, E: 6, M: 7, S: 8 }
// Best first: RTK fixed, RTK float, precise, differential, autonomous, then the fixes that are not measured.
const GNS_MODE_RANK = 'RFPDAEMS'

export function gnsQuality(mode: string): number {
  let best = -1
  for (const c of mode) {
    const r = GNS_MODE_RANK.indexOf(c)
    if (r >= 0 && (best < 0 || r < best)) best = r
  }
  return best < 0 ? 0 : GNS_MODE_QUALITY[GNS_MODE_RANK[best]!]!
}

function decodeFields(talker: Talker, type: string, f: readonly string[]): NmeaSentence {
  switch (type) {
    case 'GGA':
      return clean({
        type: 'GGA',
        talker,
        time: time(f[1]),
        ...latLon(f, 2),
        quality: req(int(f[6], 'quality'), 'quality'),
        satellites: int(f[7], 'satellites'),
        hdop: num(f[8], 'hdop'),
        altM: num(f[9], 'altitude'),
        geoidSepM: num(f[11], 'geoid separation'),
        dgpsAgeS: num(f[13], 'dgps age'),
        dgpsStation: opt(f[14]),
      })
    case 'RMC': {
      const mv = num(f[10], 'magvar')
      return clean({
        type: 'RMC',
        talker,
        time: time(f[1]),
        status: status(f[2]),
        ...latLon(f, 3),
        speedKnots: num(f[7], 'speed'),
        courseDeg: num(f[8], 'course'),
        date: dateDDMMYY(f[9]),
        magVarDeg: mv === undefined ? undefined : f[11] === 'W' ? -mv : mv,
        mode: opt(f[12]),
        navStatus: opt(f[13]),
      })
    }
    case 'GLL':
      return clean({ type: 'GLL', talker, ...latLon(f, 1), time: time(f[5]), status: status(f[6]), mode: opt(f[7]) })
    case 'GNS': {
      // time, lat, N/S, lon, E/W, mode chars, sats, hdop, alt (MSL), geoid separation, age, station[, nav status]
      const mode = f[6] ?? ''
      if (!/^[A-Z]{1,8}$/.test(mode)) throw new FieldError('bad_field', `GNS mode indicator ${JSON.stringify(mode)}`)
      for (const c of mode) if (GNS_MODE_QUALITY[c] === undefined) throw new FieldError('bad_field', `GNS mode indicator ${JSON.stringify(mode)}`)
      return clean({
        type: 'GNS',
        talker,
        time: time(f[1]),
        ...latLon(f, 2),
        mode,
        quality: gnsQuality(mode),
        satellites: int(f[7], 'satellites'),
        hdop: num(f[8], 'hdop'),
        altM: num(f[9], 'altitude'),
        geoidSepM: num(f[10], 'geoid separation'),
        dgpsAgeS: num(f[11], 'dgps age'),
        dgpsStation: opt(f[12]),
        navStatus: opt(f[13]),
      })
    }
    case 'GSA': {
      const sel = f[1]
      if (sel !== 'M' && sel !== 'A') throw new FieldError('bad_field', `GSA selection ${JSON.stringify(sel)}`)
      const fix = req(int(f[2], 'fix'), 'fix')
      if (fix < 1 || fix > 3) throw new FieldError('bad_field', `GSA fix ${fix}`)
      const svids: number[] = []
      for (let i = 3; i < 15; i++) {
        const v = int(f[i], 'svid')
        if (v !== undefined) svids.push(v)
      }
      return clean({
        type: 'GSA',
        talker,
        selection: sel,
        fix,
        svids,
        pdop: num(f[15], 'pdop'),
        hdop: num(f[16], 'hdop'),
        vdop: num(f[17], 'vdop'),
        // NMEA 4.10+ system id. gpsd's processGSA ignores a field 18 with a '.' in it (SiRF TriG puts a
        // number like `1.2` there) and reads the rest with atoi: a field that is not an integer is kept
        // aside and the talker and PRN decide the constellation.
        ...(f[18] === undefined || f[18] === '' ? {} : /^\d{1,2}$/.test(f[18]) ? { systemId: Number(f[18]) } : { field18: f[18] }),
      })
    }
    case 'GSV': {
      const total = req(int(f[1], 'total'), 'total')
      const index = req(int(f[2], 'index'), 'index')
      const inView = req(int(f[3], 'in view'), 'in view')
      if (total < 1 || index < 1 || index > total) throw new FieldError('bad_field', `GSV ${index} of ${total}`)
      const rest = f.slice(4)
      let signalId: number | null | undefined
      if (rest.length % 4 === 1) {
        const s = rest.pop()
        if (s !== undefined && s !== '' && !/^[0-9A-Fa-f]$/.test(s)) throw new FieldError('bad_field', `signal id ${JSON.stringify(s)}`)
        signalId = s === undefined || s === '' ? null : Number.parseInt(s, 16)
      } else if (rest.length % 4 !== 0) {
        throw new FieldError('bad_field', `GSV with ${rest.length} satellite fields`)
      }
      const satellites: SatelliteInView[] = []
      for (let i = 0; i + 3 < rest.length; i += 4) {
        const prn = int(rest[i], 'prn')
        if (prn === undefined) continue // empty slot padding
        satellites.push(
          clean({
            prn,
            elevationDeg: num(rest[i + 1], 'elevation'),
            azimuthDeg: num(rest[i + 2], 'azimuth'),
            snrDb: num(rest[i + 3], 'snr'),
          }),
        )
      }
      const s: NmeaSentence = { type: 'GSV', talker, total, index, inView, satellites }
      if (signalId !== undefined) s.signalId = signalId
      return s
    }
    case 'VTG':
      // NMEA 2.3+: course,T,course,M,speed,N,speed,K,mode; older: course,course,speed,speed
      if (f[2] === 'T' || f[2] === '') {
        return clean({
          type: 'VTG',
          talker,
          courseTrueDeg: num(f[1], 'course'),
          courseMagDeg: num(f[3], 'magnetic course'),
          speedKnots: num(f[5], 'speed knots'),
          speedKmh: num(f[7], 'speed km/h'),
          mode: opt(f[9]),
        })
      }
      return clean({
        type: 'VTG',
        talker,
        courseTrueDeg: num(f[1], 'course'),
        courseMagDeg: num(f[2], 'magnetic course'),
        speedKnots: num(f[3], 'speed knots'),
        speedKmh: num(f[4], 'speed km/h'),
      })
    case 'ZDA': {
      const day = int(f[2], 'day')
      const month = int(f[3], 'month')
      const year = int(f[4], 'year')
      let date: NmeaDate | undefined
      if (day !== undefined && month !== undefined && year !== undefined) {
        if (month < 1 || month > 12 || day < 1 || day > 31 || year < 1980 || year > 2200) throw new FieldError('bad_field', 'ZDA date out of range')
        date = { year, month, day }
      }
      return clean({ type: 'ZDA', talker, time: time(f[1]), date, zoneHours: int(f[5], 'zone hours'), zoneMinutes: int(f[6], 'zone minutes') })
    }
    default:
      return { type: 'other', talker, sentence: type }
  }
}

/**
 * One sentence line (`$...*hh`, CR LF optional) -> its fields. Reasons: `not_nmea`, `missing_checksum`,
 * `bad_checksum`, `unknown_talker`, `bad_field`, `missing_field`.
 */
export function decodeSentence(line: string): DecodeResult<NmeaSentence> {
  const s = line.replace(/[\r\n]+$/, '')
  if (s.length < 6 || s[0] !== '$') return fail('not_nmea', 'a sentence starts with $')
  if (s.length > MAX_SENTENCE_CHARS) return fail('line_too_long', `${s.length} characters`)
  const star = s.lastIndexOf('*')
  if (star < 0) return fail('missing_checksum', 'no *hh at the end')
  const given = s.slice(star + 1)
  if (!/^[0-9A-Fa-f]{2}$/.test(given)) return fail('bad_checksum', `checksum field ${JSON.stringify(given)}`)
  const want = xorString(s, 1, star)
  if (Number.parseInt(given, 16) !== want) {
    return fail('bad_checksum', `checksum ${given.toUpperCase()}, computed ${want.toString(16).toUpperCase().padStart(2, '0')}`)
  }
  const body = s.slice(1, star)
  if (/[^\x20-\x7e]/.test(body)) return fail('bad_field', 'non-printable character')
  const f = body.split(',')
  const address = f[0]!
  if (address.startsWith('P')) return ok({ type: 'proprietary', address })
  const talker = address.slice(0, 2)
  const type = address.slice(2)
  if (!(talker in TALKERS)) return fail('unknown_talker', `talker ${JSON.stringify(talker)}`)
  if (!/^[A-Z]{3}$/.test(type)) return fail('bad_field', `sentence type ${JSON.stringify(type)}`)
  try {
    return ok(decodeFields(talker as Talker, type, f))
  } catch (err) {
    if (err instanceof FieldError) return fail(err.reason, `${address}: ${err.message}`)
    return fail('bad_field', String(err))
  }
}

