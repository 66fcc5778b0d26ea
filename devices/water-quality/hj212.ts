/**
 * HJ 212-2017 (and HJ/T 212-2005) data transmission: pure codec. No I/O, clock or logging.
 *
 * Wire: `## | LLLL | data segment | CCCC | CR LF`, LLLL = byte length of the segment in 4 decimal digits,
 * CCCC = the Appendix A CRC of the segment in hex (NOT CRC-16/MODBUS). See docs/protocols.md section 1.
 *
 * Layers: `createHj212Framer` (bytes -> packets), `decodeHj212` (packet -> message), `encodeHj212` (its exact
 * inverse), `hj212Data` (CP -> DataTime and per-factor values), `hj212Reading` (-> `water_quality` fields),
 * `createHj212Reassembler` (PNUM/PNO split packets), and the platform answers 9011/9012/9014.
 */
import { evictOldest, expireOlder } from '../common/parts.ts'
import type { Point } from '../common/point.ts'
import { type DecodeResult, type FrameEvent, type Framer, fail, ok } from '../common/result.ts'
import { beijingToUtcMs, utcMsToBeijing } from '../common/time.ts'
import { gb3838Grade, setGb3838Fields, type WaterBody } from './gb3838.ts'
import { WaterQualityReading } from './schema.ts'

/** HJ 212-2017 Appendix A CRC: init 0xFFFF, byte XORed into the HIGH byte shifted down, poly 0xA001. */
export function crc212(buf: Uint8Array, start = 0, end = buf.length): number {
  let crc = 0xffff
  for (let i = start; i < end; i++) {
    crc = (crc >> 8) ^ buf[i]!
    for (let b = 0; b < 8; b++) crc = crc & 1 ? (crc >> 1) ^ 0xa001 : crc >> 1
  }
  return crc
}

export const HJ212_CN = {
  realtime: '2011',
  minute: '2051',
  hourly: '2061',
  daily: '2031',
  requestAnswer: '9011',
  executionResult: '9012',
  notificationAnswer: '9013',
  dataAnswer: '9014',
} as const

/** QnRtn codes of 9011. */
export const QN_RTN = { ready: 1, rejected: 2, badPassword: 3, badMn: 4, badSt: 5, badFlag: 6, badQn: 7, badCn: 8, badCrc: 9, unknown: 100 } as const
/** ExeRtn codes of 9012. */
export const EXE_RTN = { ok: 1, failed: 2, condition: 3, timeout: 4, busy: 5, fault: 6, noData: 100 } as const

/** A CP data area: groups separated by `;`, each group `key=value` pairs separated by `,`, order kept. */
export type Hj212Cp = [string, string][][]

export interface Hj212Message {
  /** Request id YYYYMMDDhhmmsszzz; absent in HJ/T 212-2005 frames. */
  qn?: string
  st?: string
  cn: string
  pw?: string
  mn: string
  /** Absent in HJ/T 212-2005 frames. Bit 0 = answer wanted, bit 1 = PNUM/PNO present, bits 2..7 = version. */
  flag?: number
  pnum?: number
  pno?: number
  cp: Hj212Cp
}

/** The standard version the message claims: 2017 when Flag's version bits are 1, 2005 without Flag. */
export function hj212Version(m: Hj212Message): '2005' | '2017' | 'other' {
  if (m.flag === undefined) return '2005'
  const v = m.flag >> 2
  return v === 1 ? '2017' : v === 0 ? '2005' : 'other'
}

export function wantsAnswer(m: Hj212Message): boolean {
  return m.flag !== undefined && (m.flag & 1) === 1
}

// ---------------------------------------------------------------- framer

export interface Hj212FramerOptions {
  /** Longest data segment accepted (the standard allows 1024). */
  maxSegmentBytes?: number
}

const utf8 = new TextDecoder('utf-8', { fatal: true })
const gbk = new TextDecoder('gbk')

const HASH = 0x23
const CR = 0x0d
const LF = 0x0a

/**
 * Bytes -> packets. An event's `frame` is the whole packet from `##` through the CRC (CR LF removed);
 * bytes before `##` are `garbage`; a length that is not 4 digits is `bad_length` and a length over the
 * limit `frame_too_long` (the framer then looks for the next `##`). CR LF after a packet is optional.
 */
export function createHj212Framer(opts: Hj212FramerOptions = {}): Framer<Buffer> {
  const max = opts.maxSegmentBytes ?? 1024
  let buf = Buffer.alloc(0)
  return {
    reset() {
      buf = Buffer.alloc(0)
    },
    push(chunk: Buffer): FrameEvent<Buffer>[] {
      const events: FrameEvent<Buffer>[] = []
      buf = buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([buf, chunk])
      for (;;) {
        // Terminators left over from the previous packet.
        let s = 0
        while (s < buf.length && (buf[s] === CR || buf[s] === LF)) s++
        if (s > 0) buf = buf.subarray(s)
        if (buf.length === 0) break
        const start = buf.indexOf('##')
        if (start < 0) {
          // Keep a trailing '#' that may be half of the next start marker.
          const keep = buf[buf.length - 1] === HASH ? 1 : 0
          if (buf.length - keep > 0) events.push({ ok: false, reason: 'garbage', raw: Buffer.from(buf.subarray(0, buf.length - keep)) })
          buf = buf.subarray(buf.length - keep)
          break
        }
        if (start > 0) {
          events.push({ ok: false, reason: 'garbage', raw: Buffer.from(buf.subarray(0, start)) })
          buf = buf.subarray(start)
        }
        if (buf.length < 6) break
        const lenText = buf.toString('latin1', 2, 6)
        if (!/^\d{4}$/.test(lenText)) {
          events.push({ ok: false, reason: 'bad_length', raw: Buffer.from(buf.subarray(0, 6)), detail: `length field "${lenText}"` })
          buf = buf.subarray(2)
          continue
        }
        const len = Number(lenText)
        if (len > max) {
          events.push({ ok: false, reason: 'frame_too_long', raw: Buffer.from(buf.subarray(0, Math.min(buf.length, 64))), detail: `segment of ${len} bytes, limit ${max}` })
          buf = buf.subarray(2)
          continue
        }
        const total = 6 + len + 4
        if (buf.length < total) break
        events.push({ ok: true, frame: Buffer.from(buf.subarray(0, total)), raw: Buffer.from(buf.subarray(0, total)) })
        buf = buf.subarray(total)
      }
      if (buf.length > 6 + max + 8) {
        // Cannot happen with a parsed length, but never grow without bound.
        events.push({ ok: false, reason: 'garbage', raw: Buffer.from(buf.subarray(0, 64)) })
        buf = Buffer.alloc(0)
      }
      return events
    },
  }
}

// ---------------------------------------------------------------- decode / encode

const HEADER_KEYS = new Set(['QN', 'ST', 'CN', 'PW', 'MN', 'Flag', 'PNUM', 'PNO'])

/** Parse the CP content (between the `&&`). */
export function parseCp(text: string): DecodeResult<Hj212Cp> {
  if (text === '') return ok([])
  const groups: Hj212Cp = []
  for (const g of text.split(';')) {
    if (g === '') continue
    const pairs: [string, string][] = []
    for (const item of g.split(',')) {
      if (item === '') continue
      const eq = item.indexOf('=')
      if (eq <= 0) return fail('bad_cp', `item "${item.slice(0, 40)}" is not key=value`)
      pairs.push([item.slice(0, eq), item.slice(eq + 1)])
    }
    if (pairs.length > 0) groups.push(pairs)
  }
  return ok(groups)
}

export function formatCp(cp: Hj212Cp): string {
  return cp.map((g) => g.map(([k, v]) => `${k}=${v}`).join(',')).join(';')
}

/** The data segment (between the length and the CRC) -> message. */
export function decodeSegment(seg: string): DecodeResult<Hj212Message> {
  const cpAt = seg.indexOf('CP=&')
  if (cpAt < 0) return fail('no_cp', 'no CP=&& in the data segment')
  let cpText = seg.slice(cpAt + 3)
  if (cpText.startsWith('&&')) {
    if (!cpText.endsWith('&&') || cpText.length < 4) return fail('bad_cp', 'CP not closed by &&')
    cpText = cpText.slice(2, -2)
  } else {
    // Some HJ/T 212-2005 loggers write single & delimiters.
    if (!cpText.endsWith('&') || cpText.length < 2) return fail('bad_cp', 'CP not closed by &')
    cpText = cpText.slice(1, -1)
  }
  const head = seg.slice(0, cpAt)
  const fields = new Map<string, string>()
  for (const part of head.split(';')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    if (eq <= 0) return fail('bad_header', `"${part.slice(0, 40)}" is not key=value`)
    const k = part.slice(0, eq)
    if (!HEADER_KEYS.has(k)) return fail('bad_header', `unknown header field ${k}`)
    if (fields.has(k)) return fail('bad_header', `duplicate header field ${k}`)
    fields.set(k, part.slice(eq + 1))
  }
  const cn = fields.get('CN')
  const mn = fields.get('MN')
  if (cn === undefined || !/^\d{4}$/.test(cn)) return fail('bad_header', 'CN missing or not 4 digits')
  if (mn === undefined || mn === '' || !/^[\x21-\x7e]{1,64}$/.test(mn)) return fail('bad_mn', 'MN missing or not printable ASCII')
  const cp = parseCp(cpText)
  if (!cp.ok) return cp
  const m: Hj212Message = { cn, mn, cp: cp.value }
  const qn = fields.get('QN')
  if (qn !== undefined) {
    if (!/^\d{17}$/.test(qn)) return fail('bad_qn', `QN "${qn}"`)
    m.qn = qn
  }
  const st = fields.get('ST')
  if (st !== undefined) m.st = st
  const pw = fields.get('PW')
  if (pw !== undefined) m.pw = pw
  for (const [key, prop, maxV] of [
    ['Flag', 'flag', 255],
    ['PNUM', 'pnum', 9999],
    ['PNO', 'pno', 9999],
  ] as const) {
    const v = fields.get(key)
    if (v === undefined) continue
    if (!/^\d{1,4}$/.test(v) || Number(v) > maxV) return fail('bad_header', `${key}=${v}`)
    m[prop] = Number(v)
  }
  if ((m.pnum === undefined) !== (m.pno === undefined)) return fail('bad_header', 'PNUM and PNO come together')
  if (m.pnum !== undefined && (m.pno! < 1 || m.pno! > m.pnum)) return fail('bad_header', `PNO ${m.pno} of PNUM ${m.pnum}`)
  return ok(m)
}

/**
 * A packet (`##` ... CRC, CR LF optional; or the text of one) -> message. Reasons: `bad_start`,
 * `bad_length`, `length_mismatch`, `bad_crc`, `bad_header`, `bad_mn`, `bad_qn`, `no_cp`, `bad_cp`.
 */
export function decodeHj212(packet: Uint8Array | string): DecodeResult<Hj212Message> {
  let buf = typeof packet === 'string' ? Buffer.from(packet, 'utf8') : Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength)
  while (buf.length > 0 && (buf[buf.length - 1] === LF || buf[buf.length - 1] === CR)) buf = buf.subarray(0, buf.length - 1)
  if (buf.length < 10 || buf[0] !== HASH || buf[1] !== HASH) return fail('bad_start', 'does not start with ##')
  const lenText = buf.toString('latin1', 2, 6)
  if (!/^\d{4}$/.test(lenText)) return fail('bad_length', `length field "${lenText}"`)
  const len = Number(lenText)
  if (buf.length !== 6 + len + 4) return fail('length_mismatch', `length field ${len}, segment has ${buf.length - 10} bytes`)
  const crcText = buf.toString('latin1', 6 + len)
  if (!/^[0-9A-Fa-f]{4}$/.test(crcText)) return fail('bad_crc', `CRC field "${crcText}"`)
  const calc = crc212(buf, 6, 6 + len)
  if (calc !== Number.parseInt(crcText, 16)) return fail('bad_crc', `CRC ${crcText}, computed ${calc.toString(16).toUpperCase().padStart(4, '0')}`)
  const seg = buf.subarray(6, 6 + len)
  let text: string
  try {
    text = utf8.decode(seg)
  } catch {
    // The standard says UTF-8; loggers built for Chinese Windows platforms send GBK text (InfoId, names).
    text = gbk.decode(seg)
  }
  return decodeSegment(text)
}

export function encodeSegment(m: Hj212Message): string {
  const parts: string[] = []
  if (m.qn !== undefined) parts.push(`QN=${m.qn}`)
  if (m.st !== undefined) parts.push(`ST=${m.st}`)
  parts.push(`CN=${m.cn}`)
  if (m.pw !== undefined) parts.push(`PW=${m.pw}`)
  parts.push(`MN=${m.mn}`)
  if (m.flag !== undefined) parts.push(`Flag=${m.flag}`)
  if (m.pnum !== undefined) parts.push(`PNUM=${m.pnum}`)
  if (m.pno !== undefined) parts.push(`PNO=${m.pno}`)
  parts.push(`CP=&&${formatCp(m.cp)}&&`)
  return parts.join(';')
}

/** Message -> packet bytes with CR LF: the exact inverse of `decodeHj212`. Throws when the segment exceeds 9999 bytes. */
export function encodeHj212(m: Hj212Message): Buffer {
  return encodeSegmentPacket(encodeSegment(m))
}

/** Wrap a data segment: `##`, length, segment, CRC, CR LF. */
export function encodeSegmentPacket(seg: string): Buffer {
  const body = Buffer.from(seg, 'utf8')
  if (body.length > 9999) throw new RangeError(`data segment of ${body.length} bytes`)
  const crc = crc212(body).toString(16).toUpperCase().padStart(4, '0')
  return Buffer.concat([Buffer.from(`##${String(body.length).padStart(4, '0')}`, 'latin1'), body, Buffer.from(`${crc}\r\n`, 'latin1')])
}

// ---------------------------------------------------------------- times

/** YYYYMMDDhhmmss (Beijing time) -> epoch ms UTC, or undefined when not a valid time. */
export function parseHj212Time(s: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{3})?$/.exec(s)
  if (!m) return undefined
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number]
  const ms = m[7] === undefined ? 0 : Number(m[7])
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59) return undefined
  const t = beijingToUtcMs(y, mo, d, h, mi, sec, ms)
  const back = utcMsToBeijing(t)
  return back.d === d && back.mo === mo ? t : undefined
}

/** Epoch ms -> YYYYMMDDhhmmss in Beijing time (with `ms`, the 17-digit QN form). */
export function formatHj212Time(t: number, withMs = false): string {
  const b = utcMsToBeijing(t)
  const p = (n: number, w = 2) => String(n).padStart(w, '0')
  return `${p(b.y, 4)}${p(b.mo)}${p(b.d)}${p(b.h)}${p(b.mi)}${p(b.s)}${withMs ? p(b.ms, 3) : ''}`
}

// ---------------------------------------------------------------- data view

/** Per-factor values of a data upload: `Rtd`, `Avg`, `Min`, `Max`, `Cou`, `Flag`, ... as strings. */
export type FactorValues = Record<string, string>

export interface Hj212Data {
  /** DataTime as epoch ms UTC (converted from UTC+8), when present and valid. */
  dataTime?: number
  /** code -> { Rtd: '7.03', Flag: 'N', ... }. The first occurrence of a duplicated key wins. */
  factors: Record<string, FactorValues>
  /** Items that are not `<code>-<Field>`: DataTime, QnRtn, ExeRtn, RtdInterval, ... */
  params: Record<string, string>
}

/** CP groups -> DataTime, factors and other parameters. */
export function hj212Data(cp: Hj212Cp): DecodeResult<Hj212Data> {
  const factors: Record<string, FactorValues> = {}
  const params: Record<string, string> = {}
  for (const g of cp) {
    for (const [k, v] of g) {
      const dash = k.lastIndexOf('-')
      if (dash > 0 && dash < k.length - 1) {
        const code = k.slice(0, dash)
        const f = k.slice(dash + 1)
        factors[code] ??= {}
        if (factors[code][f] === undefined) factors[code][f] = v
      } else if (params[k] === undefined) params[k] = v
    }
  }
  const out: Hj212Data = { factors, params }
  const dt = params['DataTime']
  if (dt !== undefined) {
    const t = parseHj212Time(dt)
    if (t === undefined) return fail('bad_time', `DataTime "${dt}"`)
    out.dataTime = t
  }
  return ok(out)
}

/** CP for a data upload: `DataTime=...;<code>-<Field>=v,...;...` (what simulators send). */
export function dataCp(dataTime: number, factors: Record<string, FactorValues>): Hj212Cp {
  const cp: Hj212Cp = [[['DataTime', formatHj212Time(dataTime)]]]
  for (const [code, vals] of Object.entries(factors)) {
    const g: [string, string][] = Object.entries(vals).map(([f, v]) => [`${code}-${f}`, v])
    if (g.length > 0) cp.push(g)
  }
  return cp
}

/**
 * Water factor codes -> canonical `water_quality` fields. HJ 212-2017 Table B.1 codes (protocols.md
 * section 1) and the HJ/T 212-2005 codes still sent by older loggers (001 pH, 011 COD, 060 NH3-N,
 * 101 TP, 065 TN). Every other code is kept as a field named after the code.
 */
export const WATER_FACTORS: Readonly<Record<string, string>> = {
  w01001: 'ph',
  w01009: 'dissolved_oxygen_mg_l',
  w01010: 'water_temp_c',
  w01003: 'turbidity_ntu',
  w01014: 'conductivity_us_cm',
  w01018: 'cod_mg_l',
  w01019: 'codmn_mg_l',
  w21003: 'ammonia_nitrogen_mg_l',
  w21011: 'total_phosphorus_mg_l',
  w21001: 'total_nitrogen_mg_l',
  '001': 'ph',
  '011': 'cod_mg_l',
  '060': 'ammonia_nitrogen_mg_l',
  '101': 'total_phosphorus_mg_l',
  '065': 'total_nitrogen_mg_l',
}

/**
 * The `interval` tag: real-time samples and minute/hour/day statistics of one station are different series
 * (a 2051 average and a 2011 sample may share a DataTime and must not overwrite each other).
 */
export const INTERVAL_TAG: Readonly<Record<string, string>> = { '2011': 'realtime', '2051': 'minute', '2061': 'hour', '2031': 'day' }

/** Values loggers send for "no valid reading". */
const SENTINELS = new Set([-99, -999, -9999, -99999])

/** Which value of a factor is the reading: Rtd for real-time data, Avg for minute/hour/day statistics. */
function mainKey(cn: string): 'Rtd' | 'Avg' {
  return cn === HJ212_CN.realtime ? 'Rtd' : 'Avg'
}

/**
 * Per-factor values other than the reading and its Flag, kept as `<field>_<key in lower case>`: numeric keys
 * (Min, Max, Cou, the converted Zs* values, counts) as floats, dropped when not a number so a field keeps one
 * type; every other key (EFlag, SampleTime, Info, SN, facility state RS ...) as a string.
 */
const NUMERIC_KEYS = new Set(['Rtd', 'Avg', 'Min', 'Max', 'Cou', 'ZsRtd', 'ZsAvg', 'ZsMin', 'ZsMax', 'ValidNum', 'TotalNum'])

/** A field name from a factor code (for unknown codes): letters, digits and `_`. */
function codeField(code: string): string {
  return code.replace(/[^A-Za-z0-9_]/g, '_')
}

function num(s: string): number | undefined {
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) return undefined
  const n = Number(s)
  return Number.isFinite(n) ? n : undefined
}

/**
 * Data upload (2011/2051/2061/2031) -> one `water_quality` point. The reading is Rtd (2011) or Avg; Min,
 * Max and Cou become `<field>_min`, `_max`, `_cou`, and any other per-factor key `<field>_<key>` (see
 * NUMERIC_KEYS). Known codes use canonical names, others the code
 * itself. Flags other than N are kept as `<field>_flag`; a sentinel (-99, -999, ...) or a value outside the
 * schema's range is not stored and its flag says why (`sentinel`, `out_of_range`) unless the logger gave
 * one. The GB 3838 class is derived from the canonical values flagged N (maintenance and calibration values
 * do not classify water).
 */
export function hj212Point(m: Hj212Message, data: Hj212Data, opts: { receivedAt: number; waterBody?: WaterBody }): DecodeResult<Point> {
  const fields: Point['fields'] = {}
  const classable: Record<string, number> = {}
  const key = mainKey(m.cn)
  for (const [code, vals] of Object.entries(data.factors)) {
    const canonical = WATER_FACTORS[code]
    const name = canonical ?? codeField(code)
    const flag = vals['Flag']
    let flagOut = flag !== undefined && flag !== 'N' ? flag : undefined
    const raw = vals[key] ?? (key === 'Avg' ? vals['Rtd'] : undefined)
    if (raw !== undefined) {
      const v = num(raw)
      if (v === undefined) flagOut ??= 'not_a_number'
      else if (SENTINELS.has(v)) flagOut ??= 'sentinel'
      else if (canonical !== undefined && !inRange(canonical, v)) flagOut ??= 'out_of_range'
      else {
        fields[name] = v
        if (canonical !== undefined && (flag === undefined || flag === 'N')) classable[canonical] = v
      }
    }
    for (const [k, s] of Object.entries(vals)) {
      if (k === 'Flag' || k === key || (key === 'Avg' && k === 'Rtd' && vals['Avg'] === undefined)) continue
      const f = `${name}_${codeField(k).toLowerCase()}`
      if (!NUMERIC_KEYS.has(k)) fields[f] = s
      else {
        const v = num(s)
        if (v !== undefined && !SENTINELS.has(v)) fields[f] = v
      }
    }
    if (flagOut !== undefined) fields[`${name}_flag`] = flagOut
  }
  if (Object.keys(fields).length === 0) return fail('empty_reading', `CN ${m.cn} carries no factor values`)
  setGb3838Fields(fields, gb3838Grade(classable, opts.waterBody ?? 'river'))
  return ok({ measurement: 'water_quality', tags: { interval: INTERVAL_TAG[m.cn] ?? 'realtime' }, fields, time: data.dataTime ?? opts.receivedAt })
}

function inRange(field: string, v: number): boolean {
  const probe = WaterQualityReading.safeParse({ [field]: v })
  return probe.success
}

export const DATA_CNS: ReadonlySet<string> = new Set([HJ212_CN.realtime, HJ212_CN.minute, HJ212_CN.hourly, HJ212_CN.daily])

// ---------------------------------------------------------------- split packets

export interface Hj212Reassembler {
  /** A whole message comes straight back; a PNUM/PNO part is kept until all parts arrived, then joined. */
  add(m: Hj212Message, now: number): { done: true; message: Hj212Message } | { done: false }
  expire(now: number): number
  pending(): number
}

/** Parts of one upload share MN, CN and QN; their CP groups are joined in PNO order. */
export function createHj212Reassembler(opts: { maxAgeMs?: number; maxPending?: number } = {}): Hj212Reassembler {
  const maxAge = opts.maxAgeMs ?? 120_000
  const maxPending = opts.maxPending ?? 64
  const parts = new Map<string, { first: number; total: number; got: Map<number, Hj212Message> }>()
  return {
    add(m, now) {
      if (m.pnum === undefined || m.pno === undefined || m.pnum <= 1) {
        if (m.pnum === undefined) return { done: true, message: m }
        const { pnum: _a, pno: _b, ...whole } = m
        return { done: true, message: { ...whole, ...(whole.flag !== undefined ? { flag: whole.flag & ~2 } : {}) } }
      }
      const key = `${m.mn}:${m.cn}:${m.qn ?? ''}:${m.pnum}`
      let e = parts.get(key)
      if (!e) {
        evictOldest(parts, maxPending)
        e = { first: now, total: m.pnum, got: new Map() }
        parts.set(key, e)
      }
      e.got.set(m.pno, m)
      if (e.got.size < e.total) return { done: false }
      parts.delete(key)
      const first = e.got.get(1)!
      const cp: Hj212Cp = []
      for (let i = 1; i <= e.total; i++) {
        const g = e.got.get(i)!.cp
        // Every part repeats DataTime; keep it once.
        for (const group of g) {
          if (i > 1 && group.length === 1 && group[0]![0] === 'DataTime') continue
          cp.push(group)
        }
      }
      const { pnum: _a, pno: _b, ...whole } = first
      return { done: true, message: { ...whole, ...(whole.flag !== undefined ? { flag: whole.flag & ~2 } : {}), cp } }
    },
    expire: (now) => expireOlder(parts, now, maxAge),
    pending: () => parts.size,
  }
}

/** Split a message into PNUM/PNO parts of at most `groupsPerPart` CP groups each (DataTime repeated). */
export function splitHj212(m: Hj212Message, groupsPerPart: number): Hj212Message[] {
  const dt = m.cp.find((g) => g.length === 1 && g[0]![0] === 'DataTime')
  const rest = m.cp.filter((g) => g !== dt)
  const n = Math.max(1, Math.ceil(rest.length / groupsPerPart))
  const out: Hj212Message[] = []
  for (let i = 0; i < n; i++) {
    const cp = rest.slice(i * groupsPerPart, (i + 1) * groupsPerPart)
    out.push({ ...m, flag: (m.flag ?? 4) | 2, pnum: n, pno: i + 1, cp: dt ? [dt, ...cp] : cp })
  }
  return out
}

// ---------------------------------------------------------------- platform answers

function answer(to: Hj212Message, cn: string, cp: Hj212Cp): Hj212Message {
  const m: Hj212Message = { st: '91', cn, mn: to.mn, flag: 4, cp }
  if (to.qn !== undefined) m.qn = to.qn
  if (to.pw !== undefined) m.pw = to.pw
  return m
}

/** 9014 data answer to an upload whose Flag asked for one (same QN). */
export function dataAnswer(to: Hj212Message): Hj212Message {
  return answer(to, HJ212_CN.dataAnswer, [])
}

/** 9011 request answer with QnRtn. */
export function requestAnswer(to: Hj212Message, qnRtn: number): Hj212Message {
  return answer(to, HJ212_CN.requestAnswer, [[['QnRtn', String(qnRtn)]]])
}

/** 9012 execution result with ExeRtn. */
export function executionResult(to: Hj212Message, exeRtn: number): Hj212Message {
  return answer(to, HJ212_CN.executionResult, [[['ExeRtn', String(exeRtn)]]])
}
