/**
 * DL/T 645 replies -> energy-meter `telemetry` readings (canonical field names, validated by the pipeline
 * against devices/energy-meter/schema.ts). The master (gateway/sources/dlt645/) merges the replies of one
 * meter in one poll cycle into one reading, as it stored one point per meter per cycle; `smartcity decode`
 * has no cycles and gives one reading per reply.
 */
import { toHex } from '../../common/hex.ts'
import type { Reading } from '../../common/kind.ts'
import type { Reason } from '../../common/reasons.ts'
import { type DecodeResult, fail, ok } from '../../common/result.ts'
import type { ClockTime, Dlt645Message } from './messages.ts'
import { decodeMessage, errorReason, errorWordNames } from './messages.ts'
import { decodeDataValue, diToString } from './values.ts'

/** A frame as `smartcity decode dlt645` shows it, with the canonical `fields` a read reply gives. */
export interface Dlt645Decoded {
  address: string
  /** Control code, two hex digits. */
  control: string
  kind: Dlt645Message['kind']
  version?: string
  di?: string
  /** Read reply: whether the table knows the DI (an unknown one gives no field; its data is `raw` hex). */
  known?: boolean
  raw?: string
  name?: string
  values?: Record<string, number | string | null>
  /** Read reply: the canonical energy-meter fields (the reading's value), when there are any. */
  fields?: Record<string, number>
  errorWord?: number
  errors?: string[]
  reason?: Reason
  time?: ClockTime
  data?: string
}

/** One frame's bytes -> its meaning, the reply's data decoded with the DI table. */
export function decodeDlt645(bytes: Uint8Array): DecodeResult<Dlt645Decoded> {
  const r = decodeMessage(bytes)
  if (!r.ok) return r
  const { frame, message: m } = r.value
  const shown: Dlt645Decoded = { address: frame.address, control: frame.control.toString(16).toUpperCase().padStart(2, '0'), kind: m.kind }
  if (m.kind === 'read_request' || m.kind === 'read_reply') {
    shown.version = m.version
    shown.di = diToString(m.version, m.di)
  }
  if (m.kind === 'read_reply') {
    const v = decodeDataValue(m.version, m.di, m.data)
    if (!v.ok) return fail(v.reason, v.detail)
    shown.known = v.value.known
    if (!v.value.known) shown.raw = v.value.raw
    else {
      shown.name = v.value.name
      shown.values = v.value.values
    }
    if (Object.keys(v.value.fields).length > 0) shown.fields = { ...v.value.fields } as Record<string, number>
  } else if (m.kind === 'error_reply') {
    shown.version = m.version
    shown.errorWord = m.errorWord
    shown.errors = errorWordNames(m.errorWord)
    shown.reason = errorReason(m.errorWord)
  } else if (m.kind === 'broadcast_time') {
    shown.time = m.time
  } else if (m.kind === 'other') {
    shown.data = toHex(m.data)
  }
  return ok(shown)
}

/** The energy-meter reading of one meter: the canonical fields of its replies (one cycle, or one reply). */
export function meterReading(device: string, fields: Readonly<Record<string, number>>): Reading {
  return { kind: 'energy_meter', type: 'telemetry', device, value: { ...fields } }
}

/** Which device a meter address is: the source's configured ids; decode uses the source's default name. */
export interface Dlt645State {
  deviceOf(address: string): string
}

export const defaultDevice = (address: string): string => `dlt645-${address}`

/** A decoded frame -> its reading (a read reply with canonical fields), else none (requests, errors, unknown DIs). */
export function dlt645Readings(d: Dlt645Decoded, state: Dlt645State): { readings: Reading[] } {
  return { readings: d.fields === undefined ? [] : [meterReading(state.deviceOf(d.address), d.fields)] }
}
