/**
 * The `nats-jetstream` source (docs/scale-out.md): a durable pull consumer on a JetStream work-queue stream
 * that several gateway instances share. Devices publish MQTT to NATS's MQTT listener; NATS turns the topic
 * `city/d1/water_quality/wq-1/telemetry` into the subject `city.d1.water_quality.wq-1.telemetry` (a `.` in
 * a topic level becomes `//`), and the stream keeps every message, replicated. Each message is read by the
 * `mqtt` source's own handler (one mechanism: topic to device and reading type, validation, dead letters)
 * and acknowledged to JetStream only once the handler's promise resolved, i.e. the readings are in the
 * spool (or dead-lettered). A message not acknowledged within `ackWaitSec` (its instance died) is delivered
 * again, to whichever instance pulls next: at least once into the spools, once in InfluxDB (one point per
 * series and time).
 *
 * Transport and session only; the NATS client (@nats-io/transport-node, @nats-io/jetstream v3) fails over
 * between `servers` and the consumer follows its leader when a node dies.
 */
import { AckPolicy, DeliverPolicy, JetStreamApiError, type JetStreamManager, type JsMsg, jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream'
import { connect, type NatsConnection, nanos } from '@nats-io/transport-node'
import type { MessageHandler } from '../../broker/index.ts'
import type { Source, SourceContext } from '../../core/types.ts'
import { createBackoff } from '../../transports/backoff.ts'
import { sleep } from '../../transports/timers.ts'
import { MqttSourceConfig } from '../mqtt/config.ts'
import { createMqttSource } from '../mqtt/index.ts'
import type { NatsJetStreamSourceConfig } from './config.ts'

/** The MQTT topic NATS's MQTT listener made a subject of: levels are `.`-separated, a `.` within one is `//`. */
export function subjectToTopic(subject: string): string {
  return subject.split('.').map((level) => level.replaceAll('//', '.')).join('/')
}

/** A JetStream API error's code (10059 stream not found, 10014 consumer not found), if it is one. */
function apiCode(err: unknown): number | undefined {
  return err instanceof JetStreamApiError ? err.code : undefined
}

async function ensureStreamAndConsumer(jsm: JetStreamManager, cfg: NatsJetStreamSourceConfig): Promise<void> {
  try {
    await jsm.streams.info(cfg.stream)
  } catch (err) {
    // A `$` stream is NATS's own (`$MQTT_msgs`, made at the first MQTT connect): waited for, never made here.
    if (!cfg.create || apiCode(err) !== 10059 || cfg.stream.startsWith('$')) throw err
    await jsm.streams.add({ name: cfg.stream, subjects: cfg.subjects, retention: RetentionPolicy.Workqueue, num_replicas: cfg.replicas, storage: StorageType.File })
  }
  try {
    await jsm.consumers.info(cfg.stream, cfg.durable)
  } catch (err) {
    if (!cfg.create || apiCode(err) !== 10014) throw err
    await jsm.consumers.add(cfg.stream, {
      durable_name: cfg.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(cfg.ackWaitSec * 1000),
      max_ack_pending: cfg.maxAckPending,
      ...(cfg.filterSubject !== undefined ? { filter_subject: cfg.filterSubject } : {}),
    })
  }
}

export function createNatsJetStreamSource(cfg: NatsJetStreamSourceConfig): Source {
  let handler: MessageHandler | undefined
  // The MQTT source reads the topic; it takes every topic handed to it (the stream's subjects are the filter).
  const mqttCfg = MqttSourceConfig.parse({ type: 'mqtt', id: cfg.id, topics: ['#'], qos: 1, maxPayloadBytes: cfg.maxPayloadBytes, requireInventory: cfg.requireInventory })
  const reader = createMqttSource(mqttCfg, {
    broker: {
      onMessages(_filters, _qos, h) {
        handler = h
        return () => {
          if (handler === h) handler = undefined
        }
      },
    },
  })
  let nc: NatsConnection | undefined
  let abort: AbortController | undefined
  let running: Promise<void> | undefined
  let state: 'stopped' | 'connecting' | 'consuming' = 'stopped'
  let lastError: string | undefined
  let messages = 0
  let redelivered = 0
  // Acknowledgements in flight (each after its spool commit): stop waits for them before closing.
  let pendingAcks = 0
  let lastAck: Promise<unknown> = Promise.resolve()
  let stopConsumer: (() => void) | undefined

  function take(m: JsMsg): Promise<unknown> | undefined {
    messages++
    if (m.redelivered) redelivered++
    const h = handler
    if (!h) {
      m.nak()
      return undefined
    }
    const d = m.data
    const subject = cfg.stripPrefix !== undefined && m.subject.startsWith(cfg.stripPrefix) ? m.subject.slice(cfg.stripPrefix.length) : m.subject
    const done = h(subjectToTopic(subject), Buffer.from(d.buffer, d.byteOffset, d.byteLength), 1)
    if (done === undefined) {
      m.ack()
      return undefined
    }
    pendingAcks++
    const acked = done.then(
      () => {
        pendingAcks--
        m.ack()
      },
      () => {
        // Not durable (or the source is stopping): another instance, or this one later, gets it again.
        pendingAcks--
        m.nak()
      },
    )
    lastAck = acked
    return acked
  }

  async function run(c: SourceContext, signal: AbortSignal, connected: () => void): Promise<void> {
    const backoff = createBackoff({ minMs: cfg.reconnectMinMs, maxMs: cfg.reconnectMaxMs })
    while (!signal.aborted) {
      try {
        state = 'connecting'
        if (!nc || nc.isClosed()) {
          nc = await connect({
            servers: cfg.servers,
            name: `smartcity-${cfg.id}`,
            reconnect: true,
            maxReconnectAttempts: -1,
            reconnectTimeWait: cfg.reconnectMinMs,
            ...(cfg.username !== undefined ? { user: cfg.username } : {}),
            ...(cfg.password !== undefined ? { pass: cfg.password } : {}),
            ...(cfg.token !== undefined ? { token: cfg.token } : {}),
          })
        }
        const jsm = await jetstreamManager(nc, { timeout: 5_000 })
        await ensureStreamAndConsumer(jsm, cfg)
        const consumer = await jetstream(nc).consumers.get(cfg.stream, cfg.durable)
        const iter = await consumer.consume({ max_messages: cfg.batch })
        stopConsumer = () => void iter.stop()
        state = 'consuming'
        lastError = undefined
        backoff.reset()
        connected()
        c.log.info({ stream: cfg.stream, durable: cfg.durable, servers: cfg.servers }, 'consuming from the JetStream work queue')
        for await (const m of iter) {
          if (signal.aborted) {
            m.nak()
            continue
          }
          const p = take(m)
          // Bounded: at most one pull's worth handed over and not yet acknowledged.
          if (p !== undefined && pendingAcks >= cfg.batch) await p
        }
        // The iterator ended: stopped by us, or the consumer went away (re-created on the next turn).
      } catch (err) {
        lastError = (err as Error).message
        if (signal.aborted) break
        c.log.warn({ err: lastError, stream: cfg.stream, durable: cfg.durable }, 'JetStream consumer not available; retrying')
      }
      if (signal.aborted) break
      await sleep(backoff.next(), signal)
    }
  }

  return {
    id: cfg.id,
    type: 'nats-jetstream',
    async start(c) {
      await reader.start(c)
      abort = new AbortController()
      const signal = abort.signal
      let connected: () => void = () => {}
      const first = new Promise<void>((r) => {
        connected = r
      })
      running = run(c, signal, connected)
      // Starts whether or not NATS answers (like an external broker): the loop keeps trying, /healthz says so.
      let t: NodeJS.Timeout | undefined
      await Promise.race([first, new Promise<void>((r) => (t = setTimeout(r, cfg.connectWaitMs)))])
      clearTimeout(t)
      if (state !== 'consuming') c.log.warn({ servers: cfg.servers, err: lastError }, 'JetStream not reachable yet; starting anyway and retrying')
    },
    release() {
      reader.release?.()
    },
    async stop() {
      abort?.abort()
      stopConsumer?.()
      await running?.catch(() => undefined)
      // What was handed to the pipeline becomes durable (then acknowledged) or is refused (then nak'ed).
      await reader.stop()
      await lastAck
      const conn = nc
      nc = undefined
      state = 'stopped'
      if (conn && !conn.isClosed()) {
        await conn.flush().catch(() => undefined)
        await conn.close().catch(() => undefined)
      }
    },
    health() {
      if (state === 'consuming') return { status: 'ok', detail: `${messages} messages (${redelivered} redelivered) from ${cfg.stream}/${cfg.durable}` }
      if (state === 'connecting') return { status: 'down', detail: lastError ?? `connecting to ${cfg.servers.join(', ')}` }
      return { status: 'down', detail: 'stopped' }
    },
  }
}
