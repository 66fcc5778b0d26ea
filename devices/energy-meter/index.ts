import { parseHex, toHex } from '../common/hex.ts'
import { defineDeviceKind, type LineDecoder, readingType } from '../common/kind.ts'
import { modbusRtuCodec } from '../common/modbus/codec.ts'
import type { FieldValue, Point } from '../common/point.ts'
import { timestampMs } from '../common/time.ts'
import { decodeDataValue, decodeMessage, diToString, errorReason, errorWordNames } from './dlt645.ts'
import { EnergyMeterReading } from './schema.ts'
import { zodReason } from '../common/reasons.ts'

/** An energy meter's reading (JSON over MQTT, Modbus, DL/T 645) as one `energy_meter` point. */
export const energyTelemetry = readingType(EnergyMeterReading, (r, ctx) => {
  const { ts, ...rest } = r
  return [{ measurement: 'energy_meter', tags: {}, fields: rest as Record<string, FieldValue>, time: timestampMs(ts, ctx.receivedAt) }]
})

/**
 * `smartcity decode dlt645 FILE`: one hex frame per line (FE preamble allowed). A read reply with a
 * canonical field gives one `energy_meter` point; requests, address and error replies give none, and so
 * does a reply whose data identifier the table does not know (`known: false`, its data as `raw` hex).
 */
const dlt645Decoder: LineDecoder = {
  format: 'dlt645',
  protocol: 'dlt645',
  description: 'DL/T 645-2007/1997 frames, one hex frame per line',
  decodeLine(line, ctx) {
    const bytes = parseHex(line)
    if (!bytes) return { ok: false, error: 'not_hex: a line holds one frame in hex' }
    const r = decodeMessage(bytes)
    if (!r.ok) return { ok: false, error: r.detail ? `${r.reason}: ${r.detail}` : r.reason }
    const { frame, message: m } = r.value
    const shown: Record<string, unknown> = { address: frame.address, control: frame.control.toString(16).toUpperCase().padStart(2, '0'), kind: m.kind }
    const points: Point[] = []
    if (m.kind === 'read_request' || m.kind === 'read_reply') {
      shown['version'] = m.version
      shown['di'] = diToString(m.version, m.di)
    }
    if (m.kind === 'read_reply') {
      const v = decodeDataValue(m.version, m.di, m.data)
      if (!v.ok) return { ok: false, error: v.detail ? `${v.reason}: ${v.detail}` : v.reason }
      shown['known'] = v.value.known
      if (!v.value.known) shown['raw'] = v.value.raw
      else {
        shown['name'] = v.value.name
        shown['values'] = v.value.values
      }
      if (Object.keys(v.value.fields).length > 0) {
        const reading = EnergyMeterReading.safeParse(v.value.fields)
        if (!reading.success) {
          const v = zodReason(reading.error)
          return { ok: false, error: `${v.reason}: ${v.detail}` }
        }
        points.push(...energyTelemetry.toPoints(reading.data, ctx))
      }
    } else if (m.kind === 'error_reply') {
      shown['version'] = m.version
      shown['errorWord'] = m.errorWord
      shown['errors'] = errorWordNames(m.errorWord)
      shown['reason'] = errorReason(m.errorWord)
    } else if (m.kind === 'broadcast_time') {
      shown['time'] = m.time
    } else if (m.kind === 'other') {
      shown['data'] = toHex(m.data)
    }
    return { ok: true, frame: shown, points }
  },
}

export const energyMeter = defineDeviceKind({
  kind: 'energy_meter',
  folder: 'energy-meter',
  measurement: 'energy_meter',
  readings: { telemetry: energyTelemetry },
  // Modbus RTU frames of any device sit here: energy meters are where field engineers most often meet
  // unknown word orders.
  decoders: [dlt645Decoder],
  codecs: [modbusRtuCodec],
})
