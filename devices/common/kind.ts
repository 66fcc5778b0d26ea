import type { z } from 'zod'
import type { KindName, Point, Protocol } from './point.ts'
import type { Reason } from './reasons.ts'
import type { DecodeResult, Framer } from './result.ts'

/** What a device kind's `toPoints` knows about the reading it turns into points. */
export interface NormalizeContext {
  /** Time the gateway received the frame, epoch ms: used when the reading carries no time of its own. */
  receivedAt: number
  /** Per-device options from the inventory (e.g. `waterBody: lake` for the GB 3838 class). */
  options?: Readonly<Record<string, unknown>>
}

/** One line of `smartcity decode <format> FILE`. */
export type DecodeLineResult = { ok: true; frame: unknown; points: Point[]; refused?: RefusedItem[] } | { ok: false; error: string }

/** A reading of a valid frame or message that was refused on its own (the others were kept). */
export interface RefusedItem {
  /** Position of the reading in its frame or message (array index for JSON). */
  index: number
  reason: Reason
  detail: string
}

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
  session?(): DecodeSession
}

/**
 * A decoder for one capture file. `end`, when there, is called once at the end of the file: what the codec
 * still held (an NMEA epoch the gateway closes when the line goes quiet), printed as one more line.
 */
export type DecodeSession = ((line: string, ctx: NormalizeContext) => DecodeLineResult) & { end?: (ctx: NormalizeContext) => DecodeLineResult | undefined }

/**
 * One reading type of a kind (issue 11): the zod schema of a reading in the kind's canonical field names and
 * how a validated reading becomes points. `normalizeReading` (devices/common/normalize.ts) is the one caller
 * of both, for the gateway and `smartcity decode` alike.
 */
export interface ReadingType<T = unknown> {
  schema: z.ZodType<T>
  toPoints(value: T, ctx: NormalizeContext): Point[]
}

/** A reading type from a schema and its `toPoints`, with the value's type taken from the schema. */
export function readingType<S extends z.ZodType>(schema: S, toPoints: (value: z.infer<S>, ctx: NormalizeContext) => Point[]): ReadingType<z.infer<S>> {
  return { schema: schema as z.ZodType<z.infer<S>>, toPoints }
}

/**
 * A kind's reading types by name. `telemetry` is what JSON-over-MQTT devices publish on `.../telemetry`;
 * the other names are what a protocol's `readings()` produces (`event`, `hj212`, `satellites`, `location`,
 * `transaction`, `rsu_status`, ...). A name is the `type` of a `Reading`.
 */
export interface KindReadings {
  telemetry: ReadingType
  [type: string]: ReadingType | undefined
}

/**
 * A reading as a protocol's `readings()` (or the MQTT source) hands it to the pipeline: plain data, not yet
 * validated. `type` names one of the kind's reading types; `value` is in the kind's canonical names.
 */
export interface ValueReading {
  kind: KindName
  type: string
  device: string
  value: unknown
  /** Time the frame was received, epoch ms, when the caller knows it better than the pipeline. */
  receivedAt?: number
}

/**
 * A JSON payload (MQTT) as received: the pipeline tries the kind's `fastTelemetry` on the bytes, else
 * parses it item by item (devices/common/json-readings.ts). `type` is `telemetry` or another reading type
 * (`event`).
 */
export interface JsonReading {
  kind: KindName
  type: string
  device: string
  json: Buffer
  receivedAt?: number
}

export type Reading = ValueReading | JsonReading

/**
 * A device kind: its reading types (what a JSON-over-MQTT device publishes and what every protocol codec of
 * the kind produces, with how each becomes points) and the decoders the CLI offers for its wire protocols.
 */
export interface DeviceKind<R extends KindReadings = KindReadings> {
  kind: KindName
  /** The folder under devices/. */
  folder: string
  /** The measurement readings of this kind are stored in. */
  measurement: string
  readings: R
  /**
   * A fast path for the commonest well-formed JSON telemetry message (devices/common/flat-json.ts): the
   * point `readings.telemetry` would give, or undefined for any message it does not take, which then goes
   * the schema way.
   */
  fastTelemetry?(payload: Buffer, ctx: NormalizeContext): Point | undefined
  decoders: readonly LineDecoder[]
  /** The kind's protocol codecs (decision 5), filled in as protocols migrate (issue 11 phase 2). */
  codecs?: readonly ProtocolCodec[]
}

/**
 * One wire protocol of a kind, exactly what its source uses (issue 11 decision 5), so `smartcity decode` is
 * a loop: `parseLine` -> `decode` -> `readings` (with a per-file `newState()`) -> `normalizeReading`.
 * Everything here is pure: no I/O, no clock (time comes in `ctx.receivedAt`), never throws.
 */
export interface ProtocolCodec<Frame = unknown, Decoded = unknown, State = unknown> {
  protocol: Protocol
  /** `smartcity decode <format>`. */
  format: string
  description: string
  /** One line of a capture file (hex or text, as the format says) -> the frame the framer would give. */
  parseLine(line: string): DecodeResult<Frame>
  /** A fresh framer for one byte stream (connection or serial bus). */
  framer(): Framer<Frame>
  /** `state` for protocols whose frames are read in the light of the ones before (the ETC RSU's layout). */
  decode(frame: Frame, state: State): DecodeResult<Decoded>
  /**
   * A decoded frame -> the readings it carries (possibly none: a heartbeat). `state` is per connection or
   * bus (a Modbus request awaiting its response, JT/T 808 sub-packages); refused parts come back in
   * `refused` with their catalogued reason, the readings of the other parts still count.
   */
  readings(decoded: Decoded, state: State, ctx: NormalizeContext): { readings: Reading[]; refused?: { reason: Reason; detail?: string }[] }
  /**
   * For codecs that hold readings back until a later frame (NMEA: an epoch closes on the next time of day):
   * the readings still held. The source calls it when the line goes quiet or closes; decode at end of file.
   */
  flush?(state: State, ctx: NormalizeContext): { readings: Reading[]; refused?: { reason: Reason; detail?: string }[] }
  newState(): State
  /** What `smartcity decode` prints as `frame` for a decoded frame (default: the decoded value itself). */
  frameJson?(decoded: Decoded): unknown
}

export function defineDeviceKind<R extends KindReadings>(kind: DeviceKind<R>): DeviceKind<R> {
  return kind
}
