import { z } from 'zod'

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

export const SinkConfig = z.discriminatedUnion('type', [InfluxV1SinkConfig, InfluxV2SinkConfig])
export type SinkConfig = z.infer<typeof SinkConfig>
