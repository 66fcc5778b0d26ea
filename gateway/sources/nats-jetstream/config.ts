import { z } from 'zod'

const Name = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - (at most 64)')
/** Stream names may start with `$` (NATS's own `$MQTT_msgs`). */
const StreamName = z.string().regex(/^\$?[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - (at most 64), optionally after a leading $')

/**
 * Readings from a NATS JetStream work-queue stream (docs/scale-out.md): devices publish MQTT to NATS's MQTT
 * listener, the stream keeps every message (replicated across the cluster), and every gateway instance
 * pulls from the same durable consumer, acknowledging a message only once its readings are in the spool.
 * A message's subject is the MQTT topic in NATS form (`city.<district>.<kind>.<device>.telemetry`); it is
 * read exactly as the `mqtt` source reads the topic.
 */
export const NatsJetStreamSourceConfig = z.strictObject({
  type: z.literal('nats-jetstream'),
  id: z.string().min(1).default('nats-jetstream'),
  /** The cluster's client URLs; the client fails over between them. */
  servers: z.array(z.string().regex(/^(nats|tls):\/\/[^\s]+$/, 'a nats:// or tls:// URL')).min(1).default(['nats://127.0.0.1:4222']),
  username: z.string().optional(),
  password: z.string().optional(),
  token: z.string().optional(),
  /** The work-queue stream. */
  stream: StreamName.default('CITY'),
  /** Subjects the stream takes, when the gateway creates it (`create`). */
  subjects: z.array(z.string().min(1)).min(1).default(['city.>']),
  /** Replicas of the stream (and so of its consumer) when the gateway creates it: 3 on a 3-node cluster. */
  replicas: z.number().int().min(1).max(5).default(3),
  /** The durable pull consumer every instance shares. */
  durable: Name.default('smartcity-gateway'),
  /** Only these subjects of the stream (one filter); default all. */
  filterSubject: z.string().min(1).optional(),
  /**
   * Dropped from the front of each subject before it is read as a topic: `$MQTT.msgs.` when the consumer
   * is on NATS's own MQTT stream `$MQTT_msgs` (docs/scale-out.md, "What a NATS PUBACK means").
   */
  stripPrefix: z.string().min(1).optional(),
  /** Create the stream and the consumer when missing (an existing one is used as it is). */
  create: z.boolean().default(true),
  /** Messages asked for per pull; also the bound of messages handed to the pipeline and not yet acknowledged. */
  batch: z.number().int().min(1).max(10_000).default(500),
  /** A message not acknowledged this long (its instance died) goes to another instance. */
  ackWaitSec: z.number().int().min(1).max(3_600).default(30),
  /** Unacknowledged messages of the consumer, over all instances. */
  maxAckPending: z.number().int().min(1).max(1_000_000).default(20_000),
  /** How long start-up waits for the stream before going on without it (and retrying). */
  connectWaitMs: z.number().int().min(0).max(600_000).default(5_000),
  reconnectMinMs: z.number().int().min(10).default(250),
  reconnectMaxMs: z.number().int().min(100).default(10_000),
  /** As for the `mqtt` source. */
  maxPayloadBytes: z.number().int().min(64).max(16 * 1024 * 1024).default(64 * 1024),
  requireInventory: z.boolean().default(false),
})
export type NatsJetStreamSourceConfig = z.infer<typeof NatsJetStreamSourceConfig>
