/**
 * DL/T 645 replies -> energy-meter `telemetry` readings (canonical field names, validated by the pipeline
 * against devices/energy-meter/schema.ts). The gateway stores one reading per meter per poll cycle: the
 * master (gateway/sources/dlt645/) knows its cycles and builds it with `meterReading`; a capture read by
 * `smartcity decode` shows the cycles on the wire, so `dlt645Readings` merges the replies of one meter until
 * the master moves on (a request to another meter, or a data identifier of the meter asked again) and hands
 * the same reading.
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
  /** The poll cycle being read on the wire: one meter's fields so far. */
  cycle?: { address: string; fields: Record<string, number> }
}

export const defaultDevice = (address: string): string => `dlt645-${address}`

/**
 * A decoded frame on the wire -> the reading of a poll cycle it closes (none while a meter's cycle goes on;
 * requests, errors and unknown DIs carry no fields). `dlt645Flush` hands the cycle still open at the end.
 */
export function dlt645Readings(d: Dlt645Decoded, state: Dlt645State): { readings: Reading[] } {
  const readings: Reading[] = []
  const c = state.cycle
  const movesOn = c !== undefined && (d.address !== c.address ? d.kind === 'read_request' || d.fields !== undefined : d.fields !== undefined && Object.keys(d.fields).some((k) => k in c.fields))
  if (movesOn) readings.push(...dlt645Flush(state).readings)
  if (d.fields !== undefined) {
    state.cycle ??= { address: d.address, fields: {} }
    Object.assign(state.cycle.fields, d.fields)
  }
  return { readings }
}

/** The cycle still open (end of a capture): its reading. */
export function dlt645Flush(state: Dlt645State): { readings: Reading[] } {
  const c = state.cycle
  state.cycle = undefined
  return { readings: c === undefined ? [] : [meterReading(state.deviceOf(c.address), c.fields)] }
}
