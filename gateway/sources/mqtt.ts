/**
 * JSON-over-MQTT devices (data-model.md "MQTT message format"):
 *   city/<district>/<kind>/<device>/telemetry   a reading (or an array of readings) in canonical field names
 *   city/<district>/<kind>/<device>/status      `online` / `offline` (retained; the device's last will)
 *   city/<district>/<kind>/<device>/event       a device-reported event, for kinds that define one
 * decode (JSON) -> validate (the kind's zod schema) -> normalize (the kind's toPoints) -> ingest.
 */
import { isUtf8 } from 'node:buffer'
import type { z } from 'zod'
import type { DeviceKind } from '../../devices/common/kind.ts'
import { deviceKind } from '../../devices/index.ts'
import type { Broker } from '../broker/index.ts'
import type { Source, SourceContext } from '../core/types.ts'
import type { MqttSourceConfig } from './mqtt-config.ts'

export interface MqttSourceDeps {
  broker: Broker
}

/** The reason code for a failed zod validation: the first issue decides. */
export function validationReason(error: z.ZodError): { reason: string; detail: string } {
  const issue = error.issues[0]
  const detail = error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : '(reading)'}: ${i.message}${i.code === 'unrecognized_keys' ? ` (${(i as { keys: string[] }).keys.join(', ')})` : ''}`)
    .join('; ')
  if (!issue) return { reason: 'invalid', detail }
  if (issue.path[0] === 'ts') return { reason: 'bad_timestamp', detail }
  switch (issue.code) {
    case 'unrecognized_keys':
      return { reason: 'unknown_field', detail }
    case 'invalid_type':
      return { reason: 'wrong_type', detail }
    case 'too_small':
    case 'too_big':
      return { reason: 'out_of_range', detail }
    case 'invalid_value':
      return { reason: 'invalid_value', detail }
    case 'custom': {
      const r = (issue as { params?: { reason?: unknown } }).params?.reason
      return { reason: typeof r === 'string' ? r : 'invalid', detail }
    }
    default:
      return { reason: 'invalid', detail }
  }
}

const SEGMENT_RE = /^[A-Za-z0-9_.:-]{1,64}$/

export function createMqttSource(cfg: MqttSourceConfig, deps: MqttSourceDeps): Source {
  let ctx: SourceContext | undefined
  let handled = 0

  function handle(c: SourceContext, topic: string, payload: Buffer, qos: 0 | 1 | 2): Promise<void> | undefined {
    handled++
    // JSON devices send text: keep it readable in the dead-letter log; anything else is kept as hex.
    const rawPayload = (): string | Uint8Array => (payload.length <= 65_536 && isUtf8(payload) ? payload.toString('utf8') : payload)
    const reject = (reason: string, detail?: string, device?: string, raw: string | Uint8Array = rawPayload()) =>
      c.reject({ source: cfg.id, address: topic, raw, reason, ...(detail !== undefined ? { detail } : {}), ...(device !== undefined ? { device } : {}) })
    if (payload.length > cfg.maxPayloadBytes) return reject('payload_too_large', `${payload.length} bytes > ${cfg.maxPayloadBytes}`)
    const parts = topic.split('/')
    if (parts.length !== 5 || parts[0] !== 'city') return reject('bad_topic', 'expected city/<district>/<kind>/<device>/<telemetry|status|event>')
    const district = parts[1]!
    const kindName = parts[2]!
    const device = parts[3]!
    const channel = parts[4]!
    if (!SEGMENT_RE.test(district) || !SEGMENT_RE.test(device)) return reject('bad_topic', 'district and device ids are 1..64 of A-Z a-z 0-9 _ . : -')
    const kind = deviceKind(kindName)
    if (!kind) return reject('unknown_kind', `no device kind ${kindName}`, device)
    const known = c.devices.get(device)
    if (!known && cfg.requireInventory) return reject('unknown_device', `device ${device} is not in the inventory`, device)
    if (known && known.kind !== kind.kind) return reject('kind_mismatch', `device ${device} is a ${known.kind} in the inventory`, device)

    if (channel === 'status') {
      const s = payload.toString('utf8').trim().toLowerCase()
      if (s !== 'online' && s !== 'offline') return reject('bad_status', 'status payload must be online or offline', device)
      if (known || s === 'online') c.devices.setOnline(device, s === 'online', s === 'offline' ? 'reported_offline' : undefined)
      return undefined
    }
    if (channel !== 'telemetry' && channel !== 'event') return reject('bad_topic', `unknown channel ${channel}`, device)

    let json: unknown
    try {
      json = JSON.parse(payload.toString('utf8'))
    } catch (err) {
      return reject('malformed_json', (err as Error).message, device)
    }
    const receivedAt = c.now()
    const options = known?.options
    const items = Array.isArray(json) ? json : [json]
    if (items.length === 0) return reject('empty_reading', 'empty array', device)
    const points = []
    const rejects: Promise<void>[] = []
    const decoder: Pick<DeviceKind, 'schema' | 'toPoints'> | undefined = channel === 'event' ? kind.event : kind
    if (!decoder) return reject('bad_topic', `kind ${kind.kind} has no event messages`, device)
    for (let i = 0; i < items.length; i++) {
      const r = decoder.schema.safeParse(items[i])
      if (!r.success) {
        const { reason, detail } = validationReason(r.error)
        rejects.push(reject(reason, items.length > 1 ? `[${i}] ${detail}` : detail, device, items.length > 1 ? JSON.stringify(items[i]) : rawPayload()))
        continue
      }
      for (const p of decoder.toPoints(r.data, options ? { receivedAt, options } : { receivedAt })) points.push(p)
    }
    if (points.length === 0) return rejects.length > 0 ? Promise.all(rejects).then(() => undefined) : undefined
    const batch = { source: cfg.id, device, kind: kind.kind, protocol: 'mqtt' as const, points, district, frames: items.length - rejects.length }
    if (qos === 0 && rejects.length === 0) {
      void c.ingest(batch)
      return undefined
    }
    const done = c.ingest(batch)
    return rejects.length > 0 ? Promise.all([done, ...rejects]).then(() => undefined) : done
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
