/**
 * The broker's configuration (`broker:` in the gateway file): the embedded Aedes broker or an external one.
 * It lives beside the broker, not in gateway/config.ts: the broker imports it, and gateway/config.ts imports
 * the sources (whose MQTT source imports the broker), so keeping it there closed an import circle.
 */
import { z } from 'zod'

const Host = z.string().min(1).default('127.0.0.1')
const Port = z.number().int().min(0).max(65_535)
const File = z.string().min(1)

/**
 * Who may connect and what they may do (docs/security.md). Without a password file, `users`, or required
 * client certificates the broker is open (any client, any topic), as before issue 13.
 */
export const BrokerAuthConfig = z.strictObject({
  /** `username:scrypt$N$r$p$salt$hash` lines (`smartcity passwd FILE USER`); reloaded by `reload()` (SIGHUP). */
  passwordFile: File.optional(),
  /** Mosquitto `acl_file` syntax (`user`, `topic [read|write|readwrite|deny] T`, `pattern ... %u %c`). Without
   * one, an authenticated device publishes only under city/<district>/<kind>/<its id>/... and subscribes
   * only to its own command topics, city/<district>/<kind>/<its id>/command/... */
  aclFile: File.optional(),
  /** Clients without credentials. Default: allowed only while no identities are configured (an open broker). */
  allowAnonymous: z.boolean().optional(),
})
export type BrokerAuthConfig = z.infer<typeof BrokerAuthConfig>

/** A TLS listener (MQTT over TLS, and optionally MQTT over secure WebSocket) with the same certificate. */
export const BrokerTlsConfig = z.strictObject({
  host: z.string().min(1).optional(),
  port: Port.default(8883),
  /** MQTT over secure WebSocket (wss://) on this port (optional). */
  wsPort: Port.optional(),
  /** PEM files; reloaded by `reload()` (a renewed certificate without a restart). */
  cert: File,
  key: File,
  /** CA that signs client certificates; needed for `requireClientCert`. */
  ca: File.optional(),
  /** Refuse a TLS client without a certificate signed by `ca`. A verified certificate's CN is the identity. */
  requireClientCert: z.boolean().default(false),
})
  // Without a CA of our own, Node would check client certificates against the public CAs: any certificate
  // bought anywhere, with any CN, would then be a device.
  .refine((t) => !t.requireClientCert || t.ca !== undefined, { path: ['ca'], message: 'requireClientCert needs ca: the CA that signs the devices\' certificates' })
export type BrokerTlsConfig = z.infer<typeof BrokerTlsConfig>

/** Limits per client and in total; each refusal is counted by reason (`smartcity_mqtt_refused_total`). 0 = off. */
export const BrokerLimitsConfig = z.strictObject({
  /** Connected clients at once; the next one gets CONNACK 3 (server unavailable). */
  maxConnections: z.number().int().min(0).default(0),
  /** Token bucket per client: messages a second (refill) and the bucket's size (burst). */
  messagesPerSec: z.number().min(0).default(0),
  burst: z.number().int().min(1).optional(),
  /** QoS 1/2 messages of one client not yet acknowledged (waiting on the spool). */
  maxInflight: z.number().int().min(0).default(0),
  /** Largest MQTT packet accepted, checked on its fixed header before it is buffered. */
  maxPacketBytes: z.number().int().min(256).max(268_435_455).default(1024 * 1024),
})
export type BrokerLimitsConfig = z.infer<typeof BrokerLimitsConfig>

export const EmbeddedBrokerConfig = z.strictObject({
  type: z.literal('embedded'),
  host: Host,
  port: Port.default(1883),
  /** MQTT over WebSocket on this port (optional). */
  wsPort: Port.optional(),
  /** Device credentials in clear: username -> password (prefer `auth.passwordFile`, stored hashed). */
  users: z.record(z.string(), z.string()).default({}),
  auth: BrokerAuthConfig.prefault({}),
  tls: BrokerTlsConfig.optional(),
  limits: BrokerLimitsConfig.prefault({}),
})
export type EmbeddedBrokerConfig = z.infer<typeof EmbeddedBrokerConfig>

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
  /**
   * MQTT protocol version towards the broker: 4 (3.1.1) or 5. Default: 5 with `sharedGroup`, else 4.
   */
  protocolVersion: z.union([z.literal(4), z.literal(5)]).optional(),
  /**
   * Scale-out (docs/scale-out.md): subscribe `$share/<sharedGroup>/<filter>` (MQTT 5 shared subscriptions),
   * so the broker splits the sources' topics among every gateway instance of the group. Each instance
   * needs its own `clientId`.
   */
  sharedGroup: z
    .string()
    .regex(/^[^/+#]+$/, 'a group name without /, + or #')
    .optional(),
  /**
   * MQTT 5 session expiry: how long the broker keeps this client's session (subscriptions and queued QoS 1
   * messages) after a disconnect. On a shared subscription Mosquitto keeps handing a disconnected
   * member its share of the messages for this long: restart it (systemd `Restart=always`) well within it.
   * Default 86400 (a day).
   */
  sessionExpirySec: z.number().int().min(0).max(4_294_967_295).optional(),
}).refine((b) => b.sharedGroup === undefined || b.protocolVersion !== 4, {
  path: ['protocolVersion'],
  message: 'shared subscriptions ($share/...) need MQTT 5 (protocolVersion: 5, the default with sharedGroup)',
})

export const BrokerConfig = z.discriminatedUnion('type', [EmbeddedBrokerConfig, ExternalBrokerConfig])
export type BrokerConfig = z.infer<typeof BrokerConfig>
