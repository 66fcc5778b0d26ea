/**
 * JSON-over-MQTT devices (docs/data-model.md "MQTT message format"):
 *   city/<district>/<kind>/<device>/telemetry   a reading (or an array of readings) in canonical field names
 *   city/<district>/<kind>/<device>/status      `online` / `offline` (retained; the device's last will)
 *   city/<district>/<kind>/<device>/event       a device-reported event, for kinds that define one
 * decode (JSON) -> validate (the kind's zod schema) -> normalize (the kind's toPoints) -> ingest, with the kind's
 * fast path (devices/common/flat-json.ts) tried first for telemetry: same result, a fraction of the cost.
 */
import { isUtf8 } from 'node:buffer'
import type { DeviceKind, NormalizeContext } from '../../devices/common/kind.ts'
import type { Point } from '../../devices/common/point.ts'
import { deviceKind } from '../../devices/index.ts'
import { type Reason, zodReason } from '../../devices/common/reasons.ts'
import type { Broker } from '../broker/index.ts'
import type { RejectInput, Source, SourceContext } from '../core/types.ts'
import type { MqttSourceConfig } from './mqtt-config.ts'

export interface MqttSourceDeps {
  broker: Broker
}

/** @deprecated moved: devices/common/reasons.ts `zodReason`. */
export const validationReason = zodReason

const SEGMENT_RE = /^[A-Za-z0-9_.:-]{1,64}$/

interface ParsedTopic {
  district: string
  kindName: string
  kind: DeviceKind | undefined
  device: string
  channel: string
}

// Devices publish on the same few topics over and over: parse each once. Bounded: cleared when full.
const topicCache = new Map<string, ParsedTopic | string>()

/** city/<district>/<kind>/<device>/<channel>, or the reason it is not. */
export function parseTopic(topic: string): ParsedTopic | string {
  const hit = topicCache.get(topic)
  if (hit !== undefined) return hit
  let out: ParsedTopic | string
  const parts = topic.split('/')
  if (parts.length !== 5 || parts[0] !== 'city') out = 'expected city/<district>/<kind>/<device>/<telemetry|status|event>'
  else if (!SEGMENT_RE.test(parts[1]!) || !SEGMENT_RE.test(parts[3]!)) out = 'district and device ids are 1..64 of A-Z a-z 0-9 _ . : -'
  else out = { district: parts[1]!, kindName: parts[2]!, kind: deviceKind(parts[2]!), device: parts[3]!, channel: parts[4]! }
  if (topicCache.size >= 50_000) topicCache.clear()
  topicCache.set(topic, out)
  return out
}

/** JSON devices send text: keep it readable in the dead-letter log; anything else is kept as hex. */
function rawOf(payload: Buffer): string | Uint8Array {
  return payload.length <= 65_536 && isUtf8(payload) ? payload.toString('utf8') : payload
}

export function createMqttSource(cfg: MqttSourceConfig, deps: MqttSourceDeps): Source {
  let ctx: SourceContext | undefined
  let handled = 0

  function reject(c: SourceContext, topic: string, payload: Buffer | string, reason: Reason, detail?: string, device?: string): Promise<void> {
    const input: RejectInput = { source: cfg.id, address: topic, raw: typeof payload === 'string' ? payload : rawOf(payload), reason }
    if (detail !== undefined) input.detail = detail
    if (device !== undefined) input.device = device
    return c.reject(input)
  }

  // Written without closures: this runs for every message, and each closure is an allocation
  // (and, under tsx, a call to esbuild's __name helper).
  function handle(c: SourceContext, topic: string, payload: Buffer, qos: 0 | 1 | 2): Promise<void> | undefined {
    handled++
    if (payload.length > cfg.maxPayloadBytes) return reject(c, topic, payload, 'payload_too_large', `${payload.length} bytes > ${cfg.maxPayloadBytes}`)
    const t = parseTopic(topic)
    if (typeof t === 'string') return reject(c, topic, payload, 'bad_topic', t)
    const { district, device, channel, kind } = t
    if (!kind) return reject(c, topic, payload, 'unknown_kind', `no device kind ${t.kindName}`, device)
    const known = c.devices.get(device)
    if (!known && cfg.requireInventory) return reject(c, topic, payload, 'unknown_device', `device ${device} is not in the inventory`, device)
    if (known && known.kind !== kind.kind) return reject(c, topic, payload, 'kind_mismatch', `device ${device} is a ${known.kind} in the inventory`, device)

    if (channel === 'status') {
      const s = payload.toString('utf8').trim().toLowerCase()
      if (s !== 'online' && s !== 'offline') return reject(c, topic, payload, 'bad_status', 'status payload must be online or offline', device)
      if (known || s === 'online') c.devices.setOnline(device, s === 'online', s === 'offline' ? 'reported_offline' : undefined)
      return undefined
    }
    const decoder: Pick<DeviceKind, 'schema' | 'toPoints'> | undefined = channel === 'telemetry' ? kind : channel === 'event' ? kind.event : undefined
    if (!decoder) return reject(c, topic, payload, 'bad_topic', channel === 'event' ? `kind ${kind.kind} has no event messages` : `unknown channel ${channel}`, device)

    const receivedAt = c.now()
    const nctx: NormalizeContext = known ? { receivedAt, options: known.options } : { receivedAt }
    if (channel === 'telemetry' && kind.fastTelemetry !== undefined) {
      const p = kind.fastTelemetry(payload, nctx)
      if (p !== undefined) {
        const done = c.ingest({ source: cfg.id, device, kind: kind.kind, protocol: 'mqtt', points: [p], district, frames: 1 })
        return qos === 0 ? undefined : done
      }
    }
    let json: unknown
    try {
      json = JSON.parse(payload.toString('utf8'))
    } catch (err) {
      return reject(c, topic, payload, 'malformed_json', (err as Error).message, device)
    }
    let points: Point[]
    let rejects: Promise<void>[] | undefined
    let frames = 1
    if (!Array.isArray(json)) {
      const r = decoder.schema.safeParse(json)
      if (!r.success) {
        const v = validationReason(r.error)
        return reject(c, topic, payload, v.reason, v.detail, device)
      }
      points = decoder.toPoints(r.data, nctx)
    } else {
      if (json.length === 0) return reject(c, topic, payload, 'empty_reading', 'empty array', device)
      points = []
      frames = 0
      for (let i = 0; i < json.length; i++) {
        const r = decoder.schema.safeParse(json[i])
        if (!r.success) {
          const v = validationReason(r.error)
          rejects ??= []
          rejects.push(reject(c, topic, JSON.stringify(json[i]), v.reason, `[${i}] ${v.detail}`, device))
          continue
        }
        frames++
        for (const p of decoder.toPoints(r.data, nctx)) points.push(p)
      }
    }
    if (points.length === 0) return rejects ? Promise.all(rejects).then(NOTHING) : undefined
    const done = c.ingest({ source: cfg.id, device, kind: kind.kind, protocol: 'mqtt', points, district, frames })
    if (rejects) return Promise.all([done, ...rejects]).then(NOTHING)
    // QoS 0 has no acknowledgement to hold back.
    return qos === 0 ? undefined : done
  }

  return {
    id: cfg.id,
    type: 'mqtt',
    async start(c) {
      ctx = c
      deps.broker.onMessages(cfg.topics, cfg.qos, (topic, payload, qos) => handle(c, topic, payload, qos))
    },
    async stop() {
      ctx = undefined
    },
    health() {
      return ctx ? { status: 'ok', detail: `${handled} messages on ${cfg.topics.join(', ')}` } : { status: 'down', detail: 'stopped' }
    },
  }
}

const NOTHING = (): undefined => undefined
