/**
 * NMEA 0183 (with BeiDou) codec: a line framer, a sentence decoder/encoder and an epoch assembler that
 * combines the sentences of one fix epoch (GGA + RMC, satellites from GSA/GSV) into one `position` point.
 * Pure: no I/O, clock or logging; nothing here throws on input (docs/protocols.md section 4).
 */
import { xorString } from '../common/checksum.ts'
import type { Point } from '../common/point.ts'
import { type DecodeResult, type FrameEvent, type Framer, fail, ok } from '../common/result.ts'
import { type GnssSystem, PositionReading } from './schema.ts'
import { type Reason, zodReason } from '../common/reasons.ts'

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

// ---------------------------------------------------------------------------------------------------
// Framing

/**
 * Bytes -> sentence lines (without CR LF). Tolerates split and concatenated reads, CR-only or LF-only line
 * ends, and garbage between sentences (reported as `garbage` events). A `$` inside a line starts a new
 * sentence: the truncated one before it is reported as `truncated`.
 */
export function createNmeaFramer(maxChars = MAX_SENTENCE_CHARS): Framer<string> {
  let line: number[] | null = null // bytes of the sentence being collected, from its `$`
  let junk: number[] = []
  const flushJunk = (out: FrameEvent<string>[]) => {
    // whitespace and NULs between sentences are not garbage
    if (junk.some((b) => b !== 0x0d && b !== 0x0a && b !== 0x20 && b !== 0x00)) {
      out.push({ ok: false, reason: 'garbage', raw: Buffer.from(junk) })
    }
    junk = []
  }
  return {
    push(chunk) {
      const out: FrameEvent<string>[] = []
      for (const b of chunk) {
        if (b === 0x24 || b === 0x21) {
          // `$` (or `!` for encapsulated sentences) starts a sentence
          if (line) out.push({ ok: false, reason: 'truncated', raw: Buffer.from(line) })
          flushJunk(out)
          line = [b]
        } else if (line) {
          if (b === 0x0d || b === 0x0a) {
            const raw = Buffer.from(line)
            out.push({ ok: true, frame: raw.toString('latin1'), raw })
            line = null
          } else {
            line.push(b)
            if (line.length > maxChars) {
              out.push({ ok: false, reason: 'line_too_long', raw: Buffer.from(line) })
              line = null
            }
          }
        } else {
          junk.push(b)
          if (junk.length >= 256) flushJunk(out)
        }
      }
      // junk is reported when the next sentence starts (or at 256 bytes), so a split read counts once
      return out
    },
    reset() {
      line = null
      junk = []
    },
  }
}

// ---------------------------------------------------------------------------------------------------
// Decoding

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

// ---------------------------------------------------------------------------------------------------
// Encoding (simulators, and the round-trip property test)

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

// ---------------------------------------------------------------------------------------------------
// Epochs

/** Satellites of one constellation in one epoch. */
export interface ConstellationSats {
  inView: number
  used: number
  /** Mean SNR (dB-Hz) over the satellites in view that report one. */
  snrMeanDb?: number
}

/** One fix epoch: everything the receiver said about one instant. */
export interface PositionEpoch {
  /** Epoch ms UTC (date from RMC/ZDA, else the day nearest to the receive time). */
  time: number
  system: GnssSystem
  fixQuality: number
  /** 1 no fix, 2 2D, 3 3D (GSA, else inferred from GGA as gpsd does). */
  fixMode: number
  lat?: number
  lon?: number
  altM?: number
  speedKmh?: number
  courseDeg?: number
  satellitesUsed?: number
  hdop?: number
  satellites: Partial<Record<Constellation, ConstellationSats>>
  /** Sentences that made this epoch. */
  sentences: number
}

const DAY_MS = 86_400_000

function systemOfPrn(talker: Talker, prn: number, systemId: number | undefined): Constellation {
  if (systemId !== undefined && SYSTEM_IDS[systemId]) return SYSTEM_IDS[systemId]!
  const t = TALKERS[talker]
  if (t === 'GPS') {
    if (prn >= 33 && prn <= 64) return 'SBAS'
    if (prn >= 193 && prn <= 202) return 'QZSS'
    return 'GPS'
  }
  if (t !== 'GNSS') return t
  // GN talker without a system id: NMEA's PRN ranges (and SiRF's 201+ for BeiDou)
  if (prn >= 1 && prn <= 32) return 'GPS'
  if (prn >= 33 && prn <= 64) return 'SBAS'
  if (prn >= 65 && prn <= 96) return 'GLONASS'
  if (prn >= 193 && prn <= 200) return 'QZSS'
  if (prn >= 201 && prn <= 263) return 'BDS'
  if (prn >= 301 && prn <= 336) return 'GALILEO'
  return 'GNSS'
}

interface Pending {
  timeOfDay?: number
  date?: NmeaDate
  gga?: Extract<NmeaSentence, { type: 'GGA' }>
  gns?: Extract<NmeaSentence, { type: 'GNS' }>
  rmc?: Extract<NmeaSentence, { type: 'RMC' }>
  gll?: Extract<NmeaSentence, { type: 'GLL' }>
  vtg?: Extract<NmeaSentence, { type: 'VTG' }>
  gsa: Extract<NmeaSentence, { type: 'GSA' }>[]
  /** system -> prn -> snr */
  inView: Map<Constellation, Map<number, number | undefined>>
  sentences: number
  receivedAt: number
}

export interface EpochAssembler {
  /** Add a decoded sentence; returns the epochs this sentence closed (usually none or one). */
  push(s: NmeaSentence, receivedAt: number): PositionEpoch[]
  /** Close the epoch being collected (the source calls it when the line goes quiet). */
  flush(): PositionEpoch[]
  reset(): void
}

function sentenceTime(s: NmeaSentence): number | undefined {
  return s.type === 'GGA' || s.type === 'GNS' || s.type === 'RMC' || s.type === 'GLL' || s.type === 'ZDA' ? s.time : undefined
}

/**
 * Groups sentences into fix epochs by their time of day: a sentence stamped with a new time closes the
 * epoch before it; sentences without a time (GSA, GSV, VTG) join the epoch being collected. An epoch is
 * emitted only when it has a GGA, RMC or GLL.
 */
export function createEpochAssembler(): EpochAssembler {
  let cur: Pending | undefined
  let lastDate: NmeaDate | undefined
  const fresh = (receivedAt: number): Pending => ({ gsa: [], inView: new Map(), sentences: 0, receivedAt })

  const close = (): PositionEpoch[] => {
    const p = cur
    cur = undefined
    if (!p || (!p.gga && !p.gns && !p.rmc && !p.gll)) return []
    return [finish(p, lastDate)]
  }

  return {
    push(s, receivedAt) {
      if (s.type === 'proprietary' || s.type === 'other') return []
      const t = sentenceTime(s)
      let out: PositionEpoch[] = []
      if (cur && t !== undefined && cur.timeOfDay !== undefined && t !== cur.timeOfDay) out = close()
      // a second GGA or RMC without a time (receivers before their first fix) starts a new epoch; with the
      // same time (dual-mode modules send $GPGGA and $BDGGA) it belongs to this one and the first is kept
      else if (cur && ((s.type === 'GGA' && cur.gga) || (s.type === 'GNS' && cur.gns) || (s.type === 'RMC' && cur.rmc)) && t === undefined) out = close()
      if (!cur) cur = fresh(receivedAt)
      const p = cur
      p.sentences++
      if (t !== undefined && p.timeOfDay === undefined) p.timeOfDay = t
      switch (s.type) {
        case 'GGA':
          if (!p.gga) p.gga = s
          break
        case 'GNS':
          if (!p.gns) p.gns = s
          break
        case 'RMC':
          if (!p.rmc) p.rmc = s
          if (s.date) {
            p.date = s.date
            lastDate = s.date
          }
          break
        case 'GLL':
          p.gll = s
          break
        case 'VTG':
          p.vtg = s
          break
        case 'ZDA':
          if (s.date) {
            p.date = s.date
            lastDate = s.date
          }
          break
        case 'GSA':
          p.gsa.push(s)
          break
        case 'GSV':
          for (const sat of s.satellites) {
            const sys = systemOfPrn(s.talker, sat.prn, undefined)
            let m = p.inView.get(sys)
            if (!m) {
              m = new Map()
              p.inView.set(sys, m)
            }
            // the same satellite on a second signal: keep the stronger SNR
            const prev = m.get(sat.prn)
            m.set(sat.prn, prev === undefined ? sat.snrDb : sat.snrDb === undefined ? prev : Math.max(prev, sat.snrDb))
          }
          break
      }
      return out
    },
    flush: close,
    reset() {
      cur = undefined
      lastDate = undefined
    },
  }
}

/** A GNS read as the GGA it stands for: the same fix fields, quality from the mode characters. */
function ggaOfGns(s: Extract<NmeaSentence, { type: 'GNS' }>): Extract<NmeaSentence, { type: 'GGA' }> {
  const { type: _t, mode: _m, navStatus: _n, ...rest } = s
  return { type: 'GGA', ...rest }
}

function finish(p: Pending, lastDate: NmeaDate | undefined): PositionEpoch {
  const { rmc, gll, vtg } = p
  // GGA, else GNS (a receiver may send both for one epoch: GGA is kept, as for two GGAs)
  const gga = p.gga ?? (p.gns ? ggaOfGns(p.gns) : undefined)
  // fix quality: GGA's (or GNS's), else derived from RMC/GLL status and mode
  let fixQuality: number
  if (gga) fixQuality = gga.quality
  else {
    const st = rmc ?? gll
    fixQuality = st && st.status === 'A' && st.mode !== 'N' ? (st.mode === 'D' ? 2 : st.mode === 'E' ? 6 : 1) : 0
  }
  if (fixQuality > 0 && rmc && rmc.status === 'V' && !gga) fixQuality = 0
  const hasFix = fixQuality > 0

  // satellites used per constellation (GSA), in view (GSV)
  const used = new Map<Constellation, Set<number>>()
  let gsaFix = 0
  let gsaHdop: number | undefined
  for (const g of p.gsa) {
    gsaFix = Math.max(gsaFix, g.fix)
    if (gsaHdop === undefined) gsaHdop = g.hdop
    for (const sv of g.svids) {
      const sys = systemOfPrn(g.talker, sv, g.systemId)
      let set = used.get(sys)
      if (!set) {
        set = new Set()
        used.set(sys, set)
      }
      set.add(sv)
    }
  }
  const satellites: Partial<Record<Constellation, ConstellationSats>> = {}
  for (const sys of new Set<Constellation>([...p.inView.keys(), ...used.keys()])) {
    const view = p.inView.get(sys)
    const snrs = view ? [...view.values()].filter((v): v is number => v !== undefined && v > 0) : []
    const c: ConstellationSats = { inView: view?.size ?? 0, used: used.get(sys)?.size ?? 0 }
    if (snrs.length > 0) c.snrMeanDb = Math.round((snrs.reduce((a, b) => a + b, 0) / snrs.length) * 10) / 10
    satellites[sys] = c
  }

  // the system tag: constellations with satellites used, else the talker of the fix sentence
  const usedSystems = new Set<GnssSystem>()
  for (const [sys, set] of used) {
    if (set.size === 0) continue
    if (sys === 'GPS' || sys === 'GLONASS' || sys === 'GALILEO' || sys === 'BDS') usedSystems.add(sys)
    else if (sys === 'QZSS' || sys === 'SBAS') usedSystems.add('GPS') // augmentations of GPS
    else usedSystems.add('GNSS')
  }
  let system: GnssSystem
  if (usedSystems.size === 1) system = [...usedSystems][0]!
  else if (usedSystems.size > 1) system = 'GNSS'
  else {
    const t = TALKERS[(gga ?? rmc ?? gll)!.talker]
    system = t === 'QZSS' ? 'GPS' : t
  }

  const altM = hasFix ? gga?.altM : undefined
  let fixMode = gsaFix
  if (!hasFix) fixMode = 1
  else if (fixMode < 2) fixMode = altM !== undefined ? 3 : 2

  // time: the receiver's date and time of day; without a date, the UTC day nearest to the receive time
  const tod = p.timeOfDay
  let time: number
  const date = p.date ?? (rmc?.date || lastDate)
  if (tod === undefined) time = p.receivedAt
  else if (date) time = Date.UTC(date.year, date.month - 1, date.day) + tod
  else {
    const day = Math.floor(p.receivedAt / DAY_MS) * DAY_MS
    time = [day - DAY_MS, day, day + DAY_MS].map((d) => d + tod).reduce((a, b) => (Math.abs(b - p.receivedAt) < Math.abs(a - p.receivedAt) ? b : a))
  }

  const e: PositionEpoch = { time, system, fixQuality, fixMode, satellites, sentences: p.sentences }
  if (hasFix) {
    const pos = gga?.lat !== undefined ? gga : rmc?.lat !== undefined ? rmc : gll
    if (pos?.lat !== undefined && pos.lon !== undefined) {
      e.lat = pos.lat
      e.lon = pos.lon
    }
    if (altM !== undefined) e.altM = altM
    const kmh = rmc?.speedKnots !== undefined ? rmc.speedKnots * 1.852 : (vtg?.speedKmh ?? (vtg?.speedKnots !== undefined ? vtg.speedKnots * 1.852 : undefined))
    if (kmh !== undefined) e.speedKmh = Math.round(kmh * 1000) / 1000
    const course = rmc?.courseDeg ?? vtg?.courseTrueDeg
    if (course !== undefined) e.courseDeg = course
    const hdop = gga?.hdop ?? gsaHdop
    if (hdop !== undefined && hdop > 0) e.hdop = hdop
  }
  const usedCount = gga?.satellites ?? (used.size > 0 ? [...used.values()].reduce((a, s) => a + s.size, 0) : undefined)
  if (usedCount !== undefined) e.satellitesUsed = usedCount
  return e
}

/**
 * An epoch -> its points: one `position` point (validated against the kind's schema) and, when asked, one
 * `satellites` point per constellation seen. A fix-less epoch keeps `fix_quality: 0` and no coordinates.
 */
export function epochToPoints(e: PositionEpoch, opts: { satellites?: boolean } = {}): DecodeResult<Point[]> {
  const fields: Record<string, number> = { fix_quality: e.fixQuality, fix_mode: e.fixMode }
  if (e.lat !== undefined && e.lon !== undefined) {
    fields['lat'] = e.lat
    fields['lon'] = e.lon
  }
  if (e.altM !== undefined) fields['alt_m'] = e.altM
  if (e.speedKmh !== undefined) fields['speed_kmh'] = e.speedKmh
  if (e.courseDeg !== undefined) fields['course_deg'] = e.courseDeg
  if (e.satellitesUsed !== undefined) fields['satellites_used'] = e.satellitesUsed
  if (e.hdop !== undefined) fields['hdop'] = e.hdop
  const check = PositionReading.safeParse({ ts: e.time, ...fields })
  if (!check.success) {
    const v = zodReason(check.error)
    return fail(v.reason, v.detail)
  }
  const points: Point[] = [{ measurement: 'position', tags: { system: e.system }, fields, time: e.time }]
  if (opts.satellites) {
    for (const [sys, c] of Object.entries(e.satellites)) {
      const f: Record<string, number> = { in_view: c.inView, used: c.used }
      if (c.snrMeanDb !== undefined) f['snr_mean_db'] = c.snrMeanDb
      points.push({ measurement: 'satellites', tags: { system: sys }, fields: f, time: e.time })
    }
  }
  return ok(points)
}
