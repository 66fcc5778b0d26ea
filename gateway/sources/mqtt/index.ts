/**
 * JSON-over-MQTT devices (docs/data-model.md "MQTT message format"):
 *   city/<district>/<kind>/<device>/telemetry   a reading (or an array of readings) in canonical field names
 *   city/<district>/<kind>/<device>/status      `online` / `offline` (retained; the device's last will)
 *   city/<district>/<kind>/<device>/event       a device-reported event, for kinds that define one
 * Transport and session only (issue 11): the topic says which device and reading type, the payload goes to
 * the pipeline as a `json` reading, which validates, normalizes (the kind's fast path first for telemetry)
 * and dead-letters item by item.
 */
import { isUtf8 } from 'node:buffer'
import { channelReadingType, parseTopic } from '../../../devices/common/mqtt-topic.ts'
import type { Reason } from '../../../devices/common/reasons.ts'
import { deviceKind } from '../../../devices/index.ts'
import type { Broker } from '../../broker/index.ts'
import type { RejectInput, Source, SourceContext } from '../../core/types.ts'
import type { MqttSourceConfig } from './config.ts'

export interface MqttSourceDeps {
  /** Where messages come from: the gateway's broker, or another transport that delivers MQTT topics (the nats-jetstream source). */
  broker: Pick<Broker, 'onMessages'>
}

/** JSON devices send text: keep it readable in the dead-letter log; anything else is kept as hex. */
function rawOf(payload: Buffer): string | Uint8Array {
  return payload.length <= 65_536 && isUtf8(payload) ? payload.toString('utf8') : payload
}

export function createMqttSource(cfg: MqttSourceConfig, deps: MqttSourceDeps): Source {
  let ctx: SourceContext | undefined
  let handled = 0
  let stopped = false
  let unroute: (() => void) | undefined
  // Everything handed over so far, as one promise: messages of one spool group share the pipeline's promise,
  // so this joins once per group (and per message only when a message has its own answer, e.g. refusals).
  let inFlight: Promise<unknown> = Promise.resolve()
  let lastIngest: Promise<unknown> = inFlight
  let lastReject: Promise<unknown> = Promise.resolve()

  function reject(c: SourceContext, topic: string, payload: Buffer, reason: Reason, detail?: string, device?: string): Promise<void> {
    const input: RejectInput = { source: cfg.id, address: topic, raw: rawOf(payload), reason }
    if (detail !== undefined) input.detail = detail
    if (device !== undefined) input.device = device
    const p = c.reject(input)
    lastReject = Promise.allSettled([lastReject, p])
    return p
  }

  // Written without closures: this runs for every message, and each closure is an allocation
  // (and, under tsx, a call to esbuild's __name helper).
  function handle(c: SourceContext, topic: string, payload: Buffer, qos: 0 | 1 | 2): Promise<unknown> | undefined {
    // Stopped: take nothing more. A QoS 1 message is refused to the broker (no PUBACK, the device sends it
    // again); QoS 0 is at most once by definition. The gateway stops the broker before its sources anyway.
    if (stopped) return qos === 0 ? undefined : STOPPED
    handled++
    c.record?.message(topic, payload, qos)
    if (payload.length > cfg.maxPayloadBytes) return reject(c, topic, payload, 'payload_too_large', `${payload.length} bytes > ${cfg.maxPayloadBytes}`)
    const t = parseTopic(topic)
    if (typeof t === 'string') return reject(c, topic, payload, 'bad_topic', t)
    const { district, device, channel } = t
    const kind = deviceKind(t.kindName)
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
    const rt = channelReadingType(kind, channel)
    if (typeof rt === 'string') return reject(c, topic, payload, 'bad_topic', rt, device)
    const done = c.ingest({ source: cfg.id, device, kind: kind.kind, protocol: 'mqtt', readings: [{ kind: kind.kind, type: rt.type, device, json: payload }], address: topic, district })
    if (done !== lastIngest) {
      lastIngest = done
      inFlight = Promise.allSettled([inFlight, done])
    }
    // The broker waits for the promise (its value unused): the QoS 1 acknowledgement, and at every QoS the
    // pacing of the client by what has been processed (gateway/broker/pacing.ts).
    return done
  }

  return {
    id: cfg.id,
    type: 'mqtt',
    async start(c) {
      ctx = c
      stopped = false
      // Keyed by the source id: the same source restarted by a reload replaces its route.
      unroute = deps.broker.onMessages(cfg.topics, cfg.qos, (topic, payload, qos) => handle(c, topic, payload, qos), cfg.id)
    },
    release() {
      // Removed by a reload: its topics are no longer taken (until stop, a QoS 1 message got no PUBACK).
      unroute?.()
      unroute = undefined
    },
    async stop() {
      // Waits for the work in flight: everything handed to the pipeline is durable (or refused) when this
      // resolves, and nothing is handed over after it.
      stopped = true
      ctx = undefined
      await Promise.allSettled([inFlight, lastReject])
    },
    health() {
      return ctx ? { status: 'ok', detail: `${handled} messages on ${cfg.topics.join(', ')}` } : { status: 'down', detail: 'stopped' }
    },
  }
}

/** What a stopped source answers a QoS 1 message with: not taken, so no acknowledgement. */
const STOPPED: Promise<never> = Promise.reject(new Error('the MQTT source is stopped'))
// Handled by whoever awaits it; this keeps the shared rejected promise from being reported as unhandled.
STOPPED.catch(() => undefined)
