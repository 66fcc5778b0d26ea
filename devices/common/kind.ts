import type { z } from 'zod'
import type { KindName, Point, Protocol } from './point.ts'

/** What a device kind's `toPoints` knows about the reading it turns into points. */
export interface NormalizeContext {
  /** Time the gateway received the frame, epoch ms: used when the reading carries no time of its own. */
  receivedAt: number
  /** Per-device options from the inventory (e.g. `waterBody: lake` for the GB 3838 class). */
  options?: Readonly<Record<string, unknown>>
}

/** One line of `smartcity decode <format> FILE`. */
export type DecodeLineResult = { ok: true; frame: unknown; points: Point[] } | { ok: false; error: string }

export interface LineDecoder {
  /** `smartcity decode <format>`: e.g. `nmea`, `dlt645`, `modbus-rtu`. */
  format: string
  protocol: Protocol
  description: string
  /** Decode one input line (hex or text, as the format says). Never throws. */
  decodeLine(line: string, ctx: NormalizeContext): DecodeLineResult
  /**
   * For formats where a line is read in the light of the lines before it (a Modbus response after its
   * request): a fresh decoder for one capture file, its state its own.
   */
  session?(): (line: string, ctx: NormalizeContext) => DecodeLineResult
}

/**
 * A device kind: the schema of a reading in canonical field names (what a JSON-over-MQTT device publishes
 * and what every protocol codec of the kind produces), how a reading becomes points, and the decoders the
 * CLI offers for its wire protocols.
 */
export interface DeviceKind<S extends z.ZodType = z.ZodType> {
  kind: KindName
  /** The folder under devices/. */
  folder: string
  /** The measurement readings of this kind are stored in. */
  measurement: string
  schema: S
  toPoints(reading: z.infer<S>, ctx: NormalizeContext): Point[]
  /**
   * A fast path for the commonest well-formed JSON message (devices/common/flat-json.ts): the point the
   * schema path would give, or undefined for any message it does not take, which then goes the schema way.
   */
  fastTelemetry?(payload: Buffer, ctx: NormalizeContext): Point | undefined
  decoders: readonly LineDecoder[]
  /** Device-reported events (`city/<district>/<kind>/<device>/event` over MQTT), for kinds that have them. */
  event?: EventMessages
}

export interface EventMessages<S extends z.ZodType = z.ZodType> {
  schema: S
  toPoints(message: z.infer<S>, ctx: NormalizeContext): Point[]
}

export function defineDeviceKind<S extends z.ZodType>(kind: DeviceKind<S>): DeviceKind<S> {
  return kind
}
