import { z } from 'zod'
import { MEASUREMENTS } from '../../devices/common/measurements.ts'
import { subjectProblem, templateProblem } from './uplink.ts'

/**
 * The database's base URL. Only http:// and https://: `localhost:8086` is a valid URL too (scheme
 * `localhost:`), and would have the sink dial port 80.
 */
const HttpUrl = z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL (e.g. http://127.0.0.1:8086)' })

const Batching = {
  /** Lines per write request. */
  batchSize: z.number().int().min(1).max(100_000).default(5_000),
  /** A partial batch is written after this long. */
  flushIntervalMs: z.number().int().min(10).max(600_000).default(1_000),
  /**
   * Full batches in flight at once while a backlog drains (the database parses one while the next is on
   * the way). Acknowledged in order; after a failure the batches from the failed one on are sent again one
   * at a time, in order.
   */
  concurrency: z.number().int().min(1).max(16).default(2),
  /** Request time-out. */
  timeoutMs: z.number().int().min(100).max(600_000).default(10_000),
  /** Retry back-off bounds (exponential with jitter; a Retry-After header wins). */
  minBackoffMs: z.number().int().min(10).default(250),
  maxBackoffMs: z.number().int().min(100).default(30_000),
}

/** InfluxDB 1.x HTTP API (`/write`, `/query`), e.g. Debian's influxdb 1.6. */
export const InfluxV1SinkConfig = z.strictObject({
  type: z.literal('influx-v1'),
  id: z.string().min(1).default('influx-v1'),
  url: HttpUrl.default('http://127.0.0.1:8086'),
  database: z.string().min(1).default('smartcity'),
  retentionPolicy: z.string().min(1).optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  /** Create the database at start-up when it is missing. */
  createDatabase: z.boolean().default(true),
  ...Batching,
})
export type InfluxV1SinkConfig = z.infer<typeof InfluxV1SinkConfig>

/** InfluxDB 2.x write API (`/api/v2/write`), also served by InfluxDB 3. */
export const InfluxV2SinkConfig = z.strictObject({
  type: z.literal('influx-v2'),
  id: z.string().min(1).default('influx-v2'),
  url: HttpUrl,
  org: z.string().min(1),
  bucket: z.string().min(1),
  token: z.string().min(1),
  ...Batching,
})
export type InfluxV2SinkConfig = z.infer<typeof InfluxV2SinkConfig>

/** A topic or subject template: placeholders {measurement}, {district}, {kind}, {device}, {site}. */
const Template = (def: string, problem: (t: string) => string | undefined = templateProblem) =>
  z
    .string()
    .min(1)
    .default(def)
    .superRefine((t, ctx) => {
      const p = problem(t)
      if (p) ctx.addIssue({ code: 'custom', message: p })
    })

/** Uplink batching: one message per point, one batch in flight (order), PUBACKs/PubAcks awaited per batch. */
const UplinkBatching = {
  ...Batching,
  /** Points (messages) per batch: the batch is acknowledged in the spool once every one is acknowledged. */
  batchSize: Batching.batchSize.default(500),
  /** One batch in flight by default, so that a failure never lets a later point overtake an earlier one. */
  concurrency: Batching.concurrency.default(1),
  /** Measurements to forward (default: all, alarms included); the others are passed over. */
  measurements: z.array(z.enum(Object.keys(MEASUREMENTS) as [string, ...string[]])).min(1).optional(),
  /** `json`: {id, measurement, tags, fields, time}; `line`: the point's line protocol, as stored. */
  payload: z.enum(['json', 'line']).default('json'),
}

/** TLS to the far side: files read at each connect (a renewed certificate is taken on reconnect). */
const UplinkTls = z.strictObject({
  /** CA certificate(s) (PEM) to trust instead of the system's. */
  ca: z.string().min(1).optional(),
  /** Client certificate and key (PEM) when the far side wants one. */
  cert: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  /** Check the server's certificate and name (only ever false for a test bench). */
  rejectUnauthorized: z.boolean().default(true),
  /** The name to check the server's certificate against, when it is not the URL's host. */
  servername: z.string().min(1).optional(),
})
export type UplinkTls = z.infer<typeof UplinkTls>

/** Forward points to a central MQTT broker (QoS 1), through the spool with its own cursor. docs/uplink.md. */
export const MqttUplinkSinkConfig = z.strictObject({
  type: z.literal('mqtt-uplink'),
  id: z.string().min(1).default('mqtt-uplink'),
  /** mqtt:// or mqtts:// (TLS). */
  url: z.url({ protocol: /^mqtts?$/, error: 'an mqtt:// or mqtts:// URL (e.g. mqtts://central.example:8883)' }),
  /** Default `smartcity-<host name>-<id>`: two districts' gateways with one client id would take each other's session. */
  clientId: z.string().min(1).max(128).optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  tls: UplinkTls.optional(),
  topic: Template('city/{district}/{kind}/{device}'),
  keepaliveSec: z.number().int().min(0).max(65_535).default(30),
  ...UplinkBatching,
})
export type MqttUplinkSinkConfig = z.infer<typeof MqttUplinkSinkConfig>

/** Publish points into a NATS JetStream stream with Nats-Msg-Id, awaiting each PubAck. docs/uplink.md. */
export const NatsJetStreamSinkConfig = z.strictObject({
  type: z.literal('nats-jetstream'),
  id: z.string().min(1).default('nats-jetstream'),
  /** nats:// or tls:// URLs of the server or cluster. */
  servers: z.array(z.url({ protocol: /^(nats|tls)$/, error: 'a nats:// or tls:// URL (e.g. nats://127.0.0.1:4222)' })).min(1),
  stream: z.string().regex(/^[A-Za-z0-9_-]+$/, 'a stream name: letters, digits, _ and -'),
  /** Each placeholder a whole token (a stream this sink creates takes every placeholder token as `*`). */
  subject: Template('city.{district}.{kind}.{device}', subjectProblem),
  /** Create the stream (file storage, subjects from the template, this duplicate window) when it is missing. */
  createStream: z.boolean().default(true),
  /** JetStream's duplicate window for a stream this sink creates: a re-send after a crash within it is dropped. */
  duplicateWindowSec: z.number().int().min(1).max(7 * 86_400).default(120),
  user: z.string().optional(),
  password: z.string().optional(),
  token: z.string().optional(),
  tls: UplinkTls.optional(),
  ...UplinkBatching,
})
export type NatsJetStreamSinkConfig = z.infer<typeof NatsJetStreamSinkConfig>

export const SinkConfig = z.discriminatedUnion('type', [InfluxV1SinkConfig, InfluxV2SinkConfig, MqttUplinkSinkConfig, NatsJetStreamSinkConfig])
export type SinkConfig = z.infer<typeof SinkConfig>
