/**
 * The contracts every part of the runtime plugs into (docs/style.md section 4). Plain objects, no class
 * hierarchies: a source or sink module exports a zod config schema and a factory that validates and
 * allocates but does no I/O; `start` opens connections, `stop` waits for work in flight.
 */
import type { Logger } from 'pino'
import type { KindName, Point, Protocol } from '../../devices/common/point.ts'
import type { Reason } from '../../devices/common/reasons.ts'
import type { Reading } from '../../devices/common/kind.ts'
import type { RecordTap } from '../transports/record.ts'
import type { Audit } from './audit.ts'
import type { Metrics } from './metrics.ts'

export type { Logger }

/** Health of one component, shown by /healthz. `degraded` still counts as serving (200). */
export interface ComponentHealth {
  status: 'ok' | 'degraded' | 'down'
  detail?: string
}

/**
 * What one frame or message of one device gave: readings for the pipeline to validate and normalize
 * (devices/common/normalize.ts), with the wire's own context.
 */
export interface IngestBatch {
  /** Source instance id (config `id`), for metrics and the dead-letter log. */
  source: string
  device: string
  kind: KindName
  protocol: Protocol
  /** The readings of the frame or message, unvalidated: the pipeline validates, normalizes, dead-letters. */
  readings: Reading[]
  /** Topic, `host:port`, serial path or bus address, for the dead-letter record of a refused reading. Defaults to the device. */
  address?: string
  /** District and site as the wire states them (MQTT topic); the inventory wins when it has the device. */
  district?: string
  site?: string
  /** The device's own frame counters: one frame may give several points. Defaults to the readings accepted. */
  frames?: number
}

/** The pipeline's answer to a batch, once its points are durable: readings stored and refused. */
export interface IngestResult {
  accepted: number
  refused: number
}

/** A batch as processors see it: normalized points, with the inventory's district and site. */
export type ProcessedBatch = Readonly<Omit<IngestBatch, 'readings'>> & { readonly points: Point[]; district: string; site?: string }

/** A frame or message that was refused. Never dropped silently: it is counted and dead-lettered. */
export interface RejectInput {
  source: string
  /** Topic, `host:port`, serial path, or bus address the input came from. */
  address: string
  /** Raw payload: text as is, bytes are kept as hex. */
  raw: string | Uint8Array
  /** Catalogued snake_case reason code (devices/common/reasons.ts; a metric label). */
  reason: Reason
  detail?: string
  device?: string
}

/** One device of the inventory (config `devices:`), or one the gateway discovered on the wire. */
export interface DeviceInfo {
  id: string
  kind: KindName
  district: string
  site?: string
  protocol?: Protocol
  /** Free per-device options for sources and kinds (e.g. `waterBody: lake`, a Modbus profile name). */
  options: Record<string, unknown>
  /** From the inventory file (true) or discovered from traffic (false). */
  configured: boolean
}

export interface DeviceState extends DeviceInfo {
  online: boolean
  lastSeenMs: number | null
  framesOk: number
  framesRejected: number
  /** Why the device is offline, when a source knows (`timeout`, `exception`, `port_closed`, ...). */
  offlineReason?: string
}

export interface DeviceRegistry {
  get(id: string): DeviceInfo | undefined
  list(): DeviceState[]
  /**
   * Mark a device online or offline as a source sees it (poll answered, connection closed, ...). The
   * registry deduplicates: saying what it already knows does nothing. Returns whether presence changed, so
   * no source needs a "last online" flag of its own.
   */
  setOnline(id: string, online: boolean, reason?: string): boolean
}

/** What the gateway offers every source. */
export interface SourceContext {
  log: Logger
  /**
   * Validate and normalize the readings, enrich with inventory tags, append to the spool; refused readings
   * are dead-lettered. Resolves once durable on disk, with how many readings were stored and refused.
   */
  ingest(batch: IngestBatch): Promise<IngestResult>
  /** Count and dead-letter refused input. Resolves once written. */
  reject(input: RejectInput): Promise<void>
  devices: DeviceRegistry
  /** Publish on the gateway's MQTT broker (embedded or external): alarms, events. */
  publish(topic: string, payload: string | Buffer, opts?: { qos?: 0 | 1; retain?: boolean }): Promise<void>
  /** The gateway's data directory, for sources that keep state (auth codes issued, ...). */
  dataDir: string
  /** Monotonic-enough wall clock, injectable in tests. */
  now(): number
  /**
   * Present while the gateway records (`--record DIR`, config `record:`): hand it to the transports
   * (tcp-server, address.ts links, the Modbus link) or call it for each MQTT message; it writes the files.
   */
  record?: RecordTap | undefined
  /** The security audit log (gateway/core/audit.ts): refused connections, failed authentication. */
  audit?: Audit
  /** The gateway's metrics, for what a source counts besides readings (refused TCP connections). */
  metrics?: Metrics
}

/** A write through a source to a device (Modbus `POST /api/devices/:id/write`). */
export interface WriteRequest {
  field?: string
  address?: number
  value: number | boolean
}
export type WriteOutcome = { ok: true; detail?: string } | { ok: false; code: string; message: string }

export interface Source {
  id: string
  type: string
  start(ctx: SourceContext): Promise<void>
  stop(): Promise<void>
  health?(): ComponentHealth
  /** Present on sources that can write to their devices. */
  write?(device: string, req: WriteRequest): Promise<WriteOutcome>
  /** Devices this source is responsible for (for `write` routing). */
  owns?(device: string): boolean
  /** Removed by a configuration reload, after `stop`: give up what outlives a stop (the MQTT source's broker route). */
  release?(): void
}

/**
 * A sink's answer to one batch (Telegraf's output contract): the spool keeps the batch on `retry`, moves it
 * to the dead-letter log on `rejected` (after splitting it down to the offending lines), and halves it on
 * `too_large`. Sinks never keep their own retry buffers.
 */
export type WriteResult =
  | { kind: 'accepted' }
  | { kind: 'rejected'; status: number; reason: string }
  | { kind: 'retry'; reason: string; retryAfterMs?: number }
  | { kind: 'too_large'; reason: string }

/** A batch of line protocol (millisecond precision): `count` lines, each ended by a newline. */
export interface LineBatch {
  /** Newline-terminated lines. A sink must not keep it after `write` resolves: the drain reuses it. */
  body: Buffer
  count: number
}

export interface Sink {
  id: string
  type: string
  /** Prepare the destination (create the database); may be retried until it succeeds. */
  start(): Promise<void>
  /** Write one batch, one request. */
  write(batch: LineBatch): Promise<WriteResult>
  close(): Promise<void>
  health(): Promise<ComponentHealth>
}

/**
 * A processor sees every accepted batch after normalization and before the spool, synchronously, and may
 * return extra points to store (derived events, alarms). Elevator fault detection and alarm rules are
 * processors. It must be cheap: it runs on the hot path.
 */
export interface Processor {
  id: string
  process(batch: ProcessedBatch): Point[] | undefined
  /** Periodic check (device offline, durations elapsing with no new data). */
  tick?(now: number): Point[] | undefined
  stop?(): void
}
