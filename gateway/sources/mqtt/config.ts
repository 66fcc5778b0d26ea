import { z } from 'zod'

/**
 * JSON-over-MQTT devices (docs/data-model.md "MQTT message format"), on whichever broker the gateway uses:
 * the embedded aedes broker (readings are taken in its publish hook, so a QoS 1 PUBACK leaves only after
 * the spool append) or an external broker (a persistent session, acknowledged after the spool append).
 */
export const MqttSourceConfig = z.strictObject({
  type: z.literal('mqtt'),
  id: z.string().min(1).default('mqtt'),
  /** Topic filters to take readings from. `<kind>` and `<device>` come from the topic levels. */
  topics: z
    .array(z.string().min(1))
    .min(1)
    .default(['city/+/+/+/telemetry', 'city/+/+/+/status', 'city/+/+/+/event']),
  /** Subscription QoS on an external broker. */
  qos: z.union([z.literal(0), z.literal(1)]).default(1),
  /** Payloads larger than this are refused as `payload_too_large`. */
  maxPayloadBytes: z.number().int().min(64).max(16 * 1024 * 1024).default(64 * 1024),
  /** Refuse devices missing from the inventory (`unknown_device`) instead of adding them. */
  requireInventory: z.boolean().default(false),
})
export type MqttSourceConfig = z.infer<typeof MqttSourceConfig>
