import { defineDeviceKind, readingType } from '../common/kind.ts'
import { modbusRtuCodec } from '../common/modbus/codec.ts'
import type { FieldValue } from '../common/point.ts'
import { timestampMs } from '../common/time.ts'
import { dlt645Codec } from './dlt645/index.ts'
import { EnergyMeterReading } from './schema.ts'

/** An energy meter's reading (JSON over MQTT, Modbus, DL/T 645) as one `energy_meter` point. */
export const energyTelemetry = readingType(EnergyMeterReading, (r, ctx) => {
  const { ts, ...rest } = r
  return [{ measurement: 'energy_meter', tags: {}, fields: rest as Record<string, FieldValue>, time: timestampMs(ts, ctx.receivedAt) }]
})

export const energyMeter = defineDeviceKind({
  kind: 'energy_meter',
  folder: 'energy-meter',
  measurement: 'energy_meter',
  readings: { telemetry: energyTelemetry },
  // Modbus RTU frames of any device sit here: energy meters are where field engineers most often meet
  // unknown word orders.
  decoders: [],
  codecs: [dlt645Codec, modbusRtuCodec],
})
