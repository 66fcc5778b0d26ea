/**
 * HJ 212 packets and data segments: the message (QN, ST, CN, PW, MN, Flag, PNUM/PNO, CP), decode and its
 * exact inverse encode, and the standard's times. Pure.
 *
 * Wire: `## | LLLL | data segment | CCCC | CR LF`, LLLL = byte length of the segment in 4 decimal digits,
 * CCCC = the Appendix A CRC of the segment in hex. See docs/protocols.md section 1.
 */
import { type DecodeResult, fail, ok } from '../../common/result.ts'
import { beijingToUtcMs, utcMsToBeijing } from '../../common/time.ts'
import { crc212 } from './crc.ts'

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

const utf8 = new TextDecoder('utf-8', { fatal: true })
const gbk = new TextDecoder('gbk')
const HASH = 0x23
const CR = 0x0d
const LF = 0x0a

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
