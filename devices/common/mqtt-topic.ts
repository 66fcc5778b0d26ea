/**
 * The topics of JSON-over-MQTT devices (docs/data-model.md "MQTT message format"):
 *   city/<district>/<kind>/<device>/<channel>   channel: telemetry | status | event
 * Pure, shared by the gateway's MQTT source and `smartcity decode mqtt`.
 */

export interface MqttTopic {
  district: string
  /** The kind as the topic names it; look it up with devices/index.ts `deviceKind`. */
  kindName: string
  device: string
  channel: string
}

const SEGMENT_RE = /^[A-Za-z0-9_.:-]{1,64}$/

// Devices publish on the same few topics over and over: parse each once. Bounded: cleared when full.
const topicCache = new Map<string, MqttTopic | string>()

/** city/<district>/<kind>/<device>/<channel>, or the detail of why it is not (reason `bad_topic`). */
export function parseTopic(topic: string): MqttTopic | string {
  const hit = topicCache.get(topic)
  if (hit !== undefined) return hit
  let out: MqttTopic | string
  const parts = topic.split('/')
  if (parts.length !== 5 || parts[0] !== 'city') out = 'expected city/<district>/<kind>/<device>/<telemetry|status|event>'
  else if (!SEGMENT_RE.test(parts[1]!) || !SEGMENT_RE.test(parts[3]!)) out = 'district and device ids are 1..64 of A-Z a-z 0-9 _ . : -'
  else out = { district: parts[1]!, kindName: parts[2]!, device: parts[3]!, channel: parts[4]! }
  if (topicCache.size >= 50_000) topicCache.clear()
  topicCache.set(topic, out)
  return out
}

/** The reading type a channel carries (`telemetry`, `event`), or why the topic has none (`bad_topic` detail). */
export function channelReadingType(kind: { kind: string; readings: Readonly<Record<string, unknown>> }, channel: string): { type: string } | string {
  if (channel === 'telemetry') return TELEMETRY
  if (channel === 'event') return kind.readings['event'] !== undefined ? EVENT : `kind ${kind.kind} has no event messages`
  return `unknown channel ${channel}`
}
const TELEMETRY = { type: 'telemetry' } as const
const EVENT = { type: 'event' } as const
