/**
 * The broker's configuration (`broker:` in the gateway file): the embedded Aedes broker or an external one.
 * It lives beside the broker, not in gateway/config.ts: the broker imports it, and gateway/config.ts imports
 * the sources (whose MQTT source imports the broker), so keeping it there closed an import circle.
 */
import { z } from 'zod'

const Host = z.string().min(1).default('127.0.0.1')
const Port = z.number().int().min(0).max(65_535)

export const EmbeddedBrokerConfig = z.strictObject({
  type: z.literal('embedded'),
  host: Host,
  port: Port.default(1883),
  /** MQTT over WebSocket on this port (optional). */
  wsPort: Port.optional(),
  /** Optional device credentials: username -> password. Empty means anonymous devices are allowed. */
  users: z.record(z.string(), z.string()).default({}),
})

export const ExternalBrokerConfig = z.strictObject({
  type: z.literal('external'),
  url: z.string().regex(/^(mqtts?|wss?|tcp):\/\//, 'an mqtt://, mqtts://, ws:// or wss:// URL'),
  /** Fixed client id: the persistent session (clean: false) is keyed by it. */
  clientId: z.string().min(1).default('smartcity-gateway'),
  username: z.string().optional(),
  password: z.string().optional(),
  keepaliveSec: z.number().int().min(5).max(3600).default(30),
  /** How long start-up waits for the broker before going on without it (and reconnecting). */
  connectWaitMs: z.number().int().min(0).max(600_000).default(5_000),
})

export const BrokerConfig = z.discriminatedUnion('type', [EmbeddedBrokerConfig, ExternalBrokerConfig])
export type BrokerConfig = z.infer<typeof BrokerConfig>
