/**
 * A part of the demo district: simulators of one device family and the gateway configuration that reads
 * them. The CLI is the one place that composes a gateway with simulators (docs/style.md section 2).
 *
 * `prepare` runs before the gateway starts: it starts simulators that are servers or serial peers (Modbus
 * TCP servers, socat pseudo-terminals, RSUs) and returns the sources and devices the gateway must add.
 * `start` runs once the gateway is up: it starts simulators that dial in (MQTT stations, JT/T 808 terminals,
 * HJ 212 data loggers).
 */
import type { Logger } from 'pino'
import type { DeviceConfig } from '../../gateway/config.ts'
import type { SourceConfig } from '../../gateway/sources/index.ts'

export interface DemoContext {
  district: string
  dataDir: string
  log: Logger
  /** A free loopback TCP port. */
  freePort(): Promise<number>
  /** Where the gateway's MQTT broker listens (for simulators that publish). */
  mqttUrl: string
}

export interface DemoPartHandle {
  sources: import('zod').input<typeof SourceConfig>[]
  devices: import('zod').input<typeof DeviceConfig>[]
  /** Start the simulators that connect to the gateway. */
  start(): Promise<void>
  /** Lines for "what runs where", given where the gateway listens once it has started. */
  describe(gateway?: { mqtt: string; http?: string }): string[]
  stop(): Promise<void>
  /**
   * Make one device go quiet for `forMs`, then come back (`smartcity simulate`'s `device_silent` fault);
   * false when this part has no such device or cannot silence it.
   */
  silence?(id: string, forMs: number): boolean
  // --- simdev: device faults of `smartcity simulate` (cli/simulate/device-faults.ts) ---
  /**
   * Send (or, for a polled device, arrange for its next answer to be) one broken frame of device `id`: a
   * wrong CRC/check code, a frame cut short, or bytes that are no frame. Resolves with the refusals the
   * gateway must make of it (reason -> count, what the protocol's own framer and decoder say of the bytes),
   * or undefined when this part has no such device or cannot break frames that way.
   */
  badFrame?(id: string, kind: BadFrameKind): Promise<Record<string, number> | undefined>
  /** A polled device answers `delayMs` late for `forMs`; false when this part cannot. */
  slowAnswers?(id: string, delayMs: number, forMs: number): boolean
  /** Pull the device's serial port (the pty goes away) and plug it back at the same path after `forMs`; resolves when back. */
  unplug?(id: string, forMs: number): Promise<boolean>
  /** The device's clock runs `offsetMs` off (0: right again); false when this part cannot. */
  clockSkew?(id: string, offsetMs: number): boolean
}

export type BadFrameKind = 'crc' | 'truncated' | 'garbage'

export interface DemoPart {
  /** Short name for `smartcity demo --parts a,b`. */
  id: string
  name: string
  prepare(ctx: DemoContext): Promise<DemoPartHandle>
}
