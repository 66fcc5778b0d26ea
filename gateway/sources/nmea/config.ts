import { z } from 'zod'
import { serialPortConfig } from '../../transports/serial.ts'

/**
 * A GNSS receiver (BeiDou/GPS/...) speaking NMEA 0183 on a serial port. One `position` point per fix epoch,
 * plus `satellites` points per constellation when `satellites` is on.
 *
 * ```yaml
 * - type: nmea
 *   id: gnss-bus-12            # source id (default: nmea)
 *   device: bus-12-gnss        # device id of the receiver (required)
 *   serial:
 *     path: /dev/ttyUSB0
 *     # baudRate: 9600
 *     # dataBits: 8
 *     # parity: none
 *     # stopBits: 1
 *     # reconnectMinMs: 250
 *     # reconnectMaxMs: 5000
 *   # idleFlushMs: 200         # an epoch is closed when the line is quiet this long
 *   # satellites: true
 * ```
 */
export const NmeaSourceConfig = z.strictObject({
  type: z.literal('nmea'),
  id: z.string().min(1).default('nmea'),
  device: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'letters, digits, _ . : - (at most 64)'),
  serial: serialPortConfig({ baudRate: 9600 }),
  idleFlushMs: z.number().int().min(10).max(5_000).default(200),
  satellites: z.boolean().default(true),
})
export type NmeaSourceConfig = z.infer<typeof NmeaSourceConfig>
