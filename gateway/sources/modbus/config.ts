import { z } from 'zod'

/**
 * Modbus sources. One source is one bus: a serial line (`modbus-rtu`), a transparent serial server reached
 * over TCP (`modbus-rtu-over-tcp`), or Modbus TCP (`modbus-tcp`, where every distinct host:port is its own
 * connection and is polled one request at a time, as RS-485 gateways need).
 *
 * ```yaml
 * sources:
 *   - type: modbus-rtu
 *     id: river-bus-1
 *     path: /dev/ttyUSB0
 *     # baudRate: 9600
 *     # parity: none           # the serial:// address of gateway/transports/address.ts
 *     # dataBits: 8
 *     # stopBits: 1
 *     # timeoutMs: 1000        # per request; a dead slave costs at most timeoutMs x (retries + 1) per poll
 *     # retries: 1
 *     # pauseMs: 20            # silence between two requests on the bus
 *     # failuresBeforeBackoff: 3
 *     # backoffMs: 5000        # first probe interval of a dead slave, doubling up to maxBackoffMs (backoff.ts)
 *     # maxBackoffMs: 60000    # (not reconnect*: a probe interval; the link reopens a dropped stream itself)
 *     devices:
 *       - { device: wq-0001, unit: 1, profile: generic-sonde, intervalMs: 5000 }
 *       - { device: em-0001, unit: 2, profile: ./profiles/my-meter.yaml }
 * ```
 */
const Common = {
  /** Reply time-out of one request. */
  timeoutMs: z.number().int().min(10).max(60_000).default(1_000),
  /** Extra attempts of a request that got no (valid) answer. */
  retries: z.number().int().min(0).max(10).default(1),
  /** Silence between two requests on the bus (3.5 characters at least on a serial line). */
  pauseMs: z.number().int().min(0).max(10_000).default(20),
  /** Consecutive failed polls before a device is marked offline and only probed. */
  failuresBeforeBackoff: z.number().int().min(1).max(100).default(3),
  /**
   * Probe interval of an offline device (first, then doubling to `maxBackoffMs`; gateway/transports/backoff.ts).
   * Not spelled `reconnectMinMs`/`reconnectMaxMs`: nothing reconnects, the bus and the other slaves on it stay
   * up; it says how often a silent slave is asked again. The link's own reopen (a dropped TCP connection or
   * serial port) is the address table's (gateway/transports/address.ts), with its defaults.
   */
  backoffMs: z.number().int().min(100).default(5_000),
  maxBackoffMs: z.number().int().min(100).default(60_000),
  /** Override the profiles' largest hole in a merged read. */
  maxGap: z.number().int().min(0).max(124).optional(),
}

export const ModbusDeviceEntry = z.strictObject({
  /** Inventory device id (config `devices:`). */
  device: z.string().min(1),
  /** Modbus unit (slave) id. */
  unit: z.number().int().min(0).max(255),
  /** A built-in profile name (`eastron-sdm630`, `chint-dtsu666`, `generic-sonde`) or a YAML/JSON file path. */
  profile: z.string().min(1),
  intervalMs: z.number().int().min(50).max(86_400_000).default(1_000),
  timeoutMs: z.number().int().min(10).max(60_000).optional(),
  retries: z.number().int().min(0).max(10).optional(),
  /** `modbus-tcp` only: this device's own endpoint (default: the source's host and port). */
  host: z.string().min(1).optional(),
  port: z.number().int().min(1).max(65_535).optional(),
})
export type ModbusDeviceEntry = z.infer<typeof ModbusDeviceEntry>

const Devices = z.array(ModbusDeviceEntry).min(1)

export const ModbusTcpSourceConfig = z.strictObject({
  type: z.literal('modbus-tcp'),
  id: z.string().min(1).default('modbus-tcp'),
  ...Common,
  pauseMs: z.number().int().min(0).max(10_000).default(0),
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(1).max(65_535).default(502),
  connectTimeoutMs: z.number().int().min(10).max(60_000).default(2_000),
  devices: Devices,
})
export type ModbusTcpSourceConfig = z.infer<typeof ModbusTcpSourceConfig>

export const ModbusRtuSourceConfig = z.strictObject({
  type: z.literal('modbus-rtu'),
  id: z.string().min(1).default('modbus-rtu'),
  ...Common,
  path: z.string().min(1),
  baudRate: z.number().int().min(300).max(921_600).default(9_600),
  dataBits: z.union([z.literal(7), z.literal(8)]).default(8),
  parity: z.enum(['none', 'even', 'odd']).default('none'),
  stopBits: z.union([z.literal(1), z.literal(2)]).default(1),
  devices: Devices,
})
export type ModbusRtuSourceConfig = z.infer<typeof ModbusRtuSourceConfig>

/** RTU frames through a transparent serial server (RS-485 to Ethernet converter). */
export const ModbusRtuOverTcpSourceConfig = z.strictObject({
  type: z.literal('modbus-rtu-over-tcp'),
  id: z.string().min(1).default('modbus-rtu-over-tcp'),
  ...Common,
  host: z.string().min(1),
  port: z.number().int().min(1).max(65_535),
  connectTimeoutMs: z.number().int().min(10).max(60_000).default(2_000),
  devices: Devices,
})
export type ModbusRtuOverTcpSourceConfig = z.infer<typeof ModbusRtuOverTcpSourceConfig>

export type ModbusSourceConfig = ModbusTcpSourceConfig | ModbusRtuSourceConfig | ModbusRtuOverTcpSourceConfig
