/** What the fields of the frames mean: heartbeats, status bits, card ids, BCD times. */
import { beijingToUtcMs, utcMsToBeijing } from '../../common/time.ts'
import type { RsuFrame } from './layout.ts'

export const HEARTBEAT_ERROR_CODE = 0x80
export const NO_OBU = '00000000'

/** B2 in its heartbeat form: ErrorCode 80 and OBUID 00000000 (sent when no OBU is present; never answered). */
export function isHeartbeat(frame: RsuFrame): boolean {
  return frame.type === 'B2' && frame.fields['errorCode'] === HEARTBEAT_ERROR_CODE && frame.fields['obuId'] === NO_OBU
}

/** OBU status byte 0 (the high byte of `obuStatus`), classic document. */
export const OBU_STATUS_BITS = {
  cardAbsent: 0x80,
  contactless: 0x20,
  logicCard: 0x10,
  cardError: 0x08,
  obuLocked: 0x04,
  obuTampered: 0x02,
  batteryLow: 0x01,
} as const

export type ObuStatusFlags = { -readonly [K in keyof typeof OBU_STATUS_BITS]: boolean }

export function obuStatusFlags(obuStatus: number): ObuStatusFlags {
  const b0 = (obuStatus >> 8) & 0xff
  const out = {} as ObuStatusFlags
  for (const [k, bit] of Object.entries(OBU_STATUS_BITS) as [keyof typeof OBU_STATUS_BITS, number][]) out[k] = (b0 & bit) !== 0
  return out
}

/**
 * RSU status (B0 `rsuStatus`): the document says 00 = normal. This project reads bit 0 as a PSAM fault and
 * bit 1 as an antenna (RF) fault; other bits are kept in `rsu_status` as sent.
 */
export const RSU_STATUS_BITS = { psamFault: 0x01, antennaFault: 0x02 } as const

/** The card id of the 0015 issuer file: card network number (bytes 10..11) and internal number (12..19). */
export function cardIdFromIssuerFile(issuerFileHex: string): string | undefined {
  if (issuerFileHex.length < 40) return undefined
  return issuerFileHex.slice(20, 40).toUpperCase()
}

/** The 2019 B2 `cpuCardId` (10 bytes: network + internal number) as a card id; undefined when all zeros (no card). */
export function cardIdFromB2(frame: RsuFrame): string | undefined {
  const id = frame.fields['cpuCardId']
  return typeof id === 'string' && /[1-9A-F]/i.test(id) ? id.toUpperCase() : undefined
}

/** A 7-byte BCD time `YYYYMMDDhhmmss` (Beijing time) -> epoch ms, or undefined when not a valid date. */
export function bcdTimeToMs(digits: string): number | undefined {
  const m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)$/.exec(digits)
  if (!m) return undefined
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number]
  const t = beijingToUtcMs(y, mo, d, h, mi, s)
  const back = utcMsToBeijing(t)
  if (back.mo !== mo || back.d !== d || h > 23 || mi > 59 || s > 59) return undefined
  return t
}

/** Epoch ms -> `YYYYMMDDhhmmss` Beijing time (for C0 and C6). */
export function msToBcdTime(t: number): string {
  const b = utcMsToBeijing(t)
  const p = (n: number, w = 2) => String(n).padStart(w, '0')
  return `${p(b.y, 4)}${p(b.mo)}${p(b.d)}${p(b.h)}${p(b.mi)}${p(b.s)}`
}
