/**
 * The district's uplink into a NATS JetStream stream (issue 15 item 4; docs/uplink.md). Like the MQTT uplink
 * (gateway/sinks/mqtt-uplink.ts): the drain reads batches after this sink's own spool cursor, one message
 * per point on the subject the template gives, and the batch counts as written once JetStream has answered
 * every message with its PubAck (stored, or a duplicate it already holds).
 *
 * Every message carries `Nats-Msg-Id`, the point's stable id (gateway/sinks/uplink.ts `pointId`), so a batch
 * sent again (after a lost connection, or after the gateway crashed before moving its cursor) is dropped by
 * JetStream's duplicate window instead of stored twice. The connection does not reconnect by itself
 * (`reconnect: false`): a client that buffers publishes while reconnecting would flush them later, behind
 * the drain's back and out of order; a failed batch closes the connection and the drain's back-off sends it
 * again on a new one, leaving out what JetStream had acknowledged.
 */
import { type JetStreamClient, jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream'
import { connect, type NatsConnection, nanos, type NodeConnectionOptions, type TlsOptions } from '@nats-io/transport-node'
import type { ComponentHealth, Logger, Sink, WriteResult } from '../core/types.ts'
import type { NatsJetStreamSinkConfig, UplinkTls } from './config.ts'
import { batchMessages, compileTemplate, createDelivered, NATS_UNSAFE } from './uplink.ts'

/** The subjects a stream needs for a template: each placeholder token becomes `*`. */
export function subjectFilter(template: string): string {
  return template
    .split('.')
    .map((t) => (t.includes('{') ? '*' : t))
    .join('.')
}

/**
 * The config's TLS for the NATS client: files by name (the client reads them at each connect), and the two
 * node:tls options the client passes through to `tls.connect` though its type does not name them.
 */
function natsTls(tls: UplinkTls): TlsOptions {
  const o: TlsOptions & { rejectUnauthorized: boolean; servername?: string } = {
    ...(tls.ca ? { caFile: tls.ca } : {}),
    ...(tls.cert ? { certFile: tls.cert } : {}),
    ...(tls.key ? { keyFile: tls.key } : {}),
    rejectUnauthorized: tls.rejectUnauthorized,
    ...(tls.servername ? { servername: tls.servername } : {}),
  }
  return o
}

export function createNatsJetStreamSink(cfg: NatsJetStreamSinkConfig, log: Logger): Sink {
  const subject = compileTemplate(cfg.subject, NATS_UNSAFE)
  const measurements = cfg.measurements ? new Set<string>(cfg.measurements) : undefined
  const delivered = createDelivered(cfg.batchSize * (cfg.concurrency + 2))
  let conn: { nc: NatsConnection; js: JetStreamClient } | undefined
  let connecting: Promise<{ nc: NatsConnection; js: JetStreamClient }> | undefined
  let lastError: string | undefined
  let stored = 0
  let duplicates = 0

  function options(): NodeConnectionOptions {
    const tls = cfg.tls
    return {
      servers: cfg.servers,
      name: cfg.id,
      reconnect: false,
      timeout: cfg.timeoutMs,
      ...(cfg.user !== undefined ? { user: cfg.user } : {}),
      ...(cfg.password !== undefined ? { pass: cfg.password } : {}),
      ...(cfg.token !== undefined ? { token: cfg.token } : {}),
      ...(tls ? { tls: natsTls(tls) } : {}),
    }
  }

  function drop(nc: NatsConnection): void {
    if (conn?.nc === nc) conn = undefined
    void nc.close().catch(() => undefined)
  }

  function connection(): Promise<{ nc: NatsConnection; js: JetStreamClient }> {
    if (conn && !conn.nc.isClosed()) return Promise.resolve(conn)
    conn = undefined
    connecting ??= (async () => {
      const nc = await connect(options())
      try {
        const jsm = await jetstreamManager(nc, { timeout: cfg.timeoutMs })
        try {
          const info = await jsm.streams.info(cfg.stream)
          log.info({ stream: cfg.stream, duplicateWindowSec: info.config.duplicate_window / 1e9, messages: info.state.messages }, 'nats uplink connected')
        } catch (err) {
          if (!cfg.createStream || !/stream not found/i.test((err as Error).message)) throw err
          await jsm.streams.add({
            name: cfg.stream,
            subjects: [subjectFilter(cfg.subject)],
            storage: StorageType.File,
            duplicate_window: nanos(cfg.duplicateWindowSec * 1000),
          })
          log.info({ stream: cfg.stream, subjects: [subjectFilter(cfg.subject)], duplicateWindowSec: cfg.duplicateWindowSec }, 'nats uplink created its stream')
        }
      } catch (err) {
        drop(nc)
        throw err
      }
      const c = { nc, js: jetstream(nc, { timeout: cfg.timeoutMs }) }
      conn = c
      void nc.closed().then(() => {
        if (conn === c) conn = undefined
      })
      return c
    })().finally(() => {
      connecting = undefined
    })
    return connecting
  }

  return {
    id: cfg.id,
    type: 'nats-jetstream',
    async start() {
      // A server down at start-up is an outage like any other: the drain retries, the spool holds.
    },

    async write(batch): Promise<WriteResult> {
      const m = batchMessages(batch.body, { address: subject, payload: cfg.payload, ...(measurements ? { measurements } : {}) })
      if (!m.ok) return { kind: 'rejected', status: 400, reason: `not line protocol: ${m.line.slice(0, 200)}` }
      const todo = m.messages.filter((x) => !delivered.has(x.id))
      if (todo.length === 0) return { kind: 'accepted' }
      let c: { nc: NatsConnection; js: JetStreamClient }
      try {
        c = await connection()
      } catch (err) {
        lastError = (err as Error).message
        return { kind: 'retry', reason: lastError }
      }
      // Published back to back (one connection keeps their order), then every PubAck awaited.
      const acks = todo.map((x) =>
        c.js.publish(x.address, x.payload, { msgID: x.id, timeout: cfg.timeoutMs, expect: { streamName: cfg.stream } }).then((ack) => {
          delivered.add(x.id)
          if (ack.duplicate) duplicates++
          else stored++
        }),
      )
      const results = await Promise.allSettled(acks)
      let failed = 0
      let first: Error | undefined
      for (const r of results) {
        if (r.status === 'rejected') {
          failed++
          first ??= r.reason as Error
        }
      }
      if (failed === 0) {
        lastError = undefined
        return { kind: 'accepted' }
      }
      lastError = `${failed} of ${todo.length} points without a PubAck: ${first?.message ?? 'unknown error'}`
      drop(c.nc)
      if (/maximum payload|max_payload/i.test(first?.message ?? '')) return { kind: 'too_large', reason: lastError }
      return { kind: 'retry', reason: lastError }
    },

    async close() {
      const c = conn
      conn = undefined
      if (c) await c.nc.drain().catch(() => undefined)
    },

    async health(): Promise<ComponentHealth> {
      if (lastError) return { status: 'degraded', detail: lastError }
      const where = `${cfg.servers.join(',')} stream ${cfg.stream}`
      return { status: 'ok', detail: conn ? `${where}: ${stored} stored, ${duplicates} duplicates dropped by JetStream` : `${where} (not connected)` }
    },
  }
}
