import { defineDeviceKind } from '../common/kind.ts'
import { modbusRtuDecoder } from '../common/modbus/decode-line.ts'
import type { FieldValue } from '../common/point.ts'
import { timestampMs } from '../common/time.ts'
import { EnergyMeterReading } from './schema.ts'

export const energyMeter = defineDeviceKind({
  kind: 'energy_meter',
  folder: 'energy-meter',
  measurement: 'energy_meter',
  schema: EnergyMeterReading,
  toPoints: (r, ctx) => {
    const { ts, ...rest } = r
    return [{ measurement: 'energy_meter', tags: {}, fields: rest as Record<string, FieldValue>, time: timestampMs(ts, ctx.receivedAt) }]
  },
  // Modbus RTU frames of any device: energy meters are where field engineers most often meet unknown word orders.
  decoders: [modbusRtuDecoder],
})
