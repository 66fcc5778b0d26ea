/**
 * The district's uplink to a central MQTT broker (issue 15 item 4; docs/uplink.md). A sink like the InfluxDB
 * ones: the drain (gateway/core/drain.ts) reads batches after this sink's own spool cursor and moves the
 * cursor once `write` says accepted, which is once the broker has acknowledged (PUBACK, QoS 1) every point
 * of the batch. So a district keeps everything in its spool while the WAN link or the broker is down, and
 * delivers it in order when the link returns.
 *
 * One message per point, on the topic the template gives, JSON ({id, measurement, tags, fields, time}) or
 * the point's line protocol. The connection has no retry of its own (MQTT.js `reconnectPeriod: 0`, clean
 * session, so nothing MQTT.js keeps is re-sent behind the drain's back): a lost connection fails the batch,
 * the drain backs off (one mechanism) and sends it again on a new connection, leaving out the points the
 * broker had acknowledged (gateway/sinks/uplink.ts `Delivered`). A point whose PUBACK was lost with the
 * connection is sent again: QoS 1 is at least once, and the JSON id lets the central side drop it.
 */
import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import type { ComponentHealth, Logger, Sink, WriteResult } from '../core/types.ts'
import type { MqttUplinkSinkConfig, UplinkTls } from './config.ts'
import { batchMessages, compileTemplate, createDelivered, MQTT_UNSAFE } from './uplink.ts'

/** TLS options for MQTT.js (and node:tls) from the config's files, read at each connect. */
export function tlsFiles(tls: UplinkTls | undefined): { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean; servername?: string } {
  if (!tls) return {}
  return {
    ...(tls.ca ? { ca: readFileSync(tls.ca) } : {}),
    ...(tls.cert ? { cert: readFileSync(tls.cert) } : {}),
    ...(tls.key ? { key: readFileSync(tls.key) } : {}),
    rejectUnauthorized: tls.rejectUnauthorized,
    ...(tls.servername ? { servername: tls.servername } : {}),
  }
}

export function createMqttUplinkSink(cfg: MqttUplinkSinkConfig, log: Logger): Sink {
  const topic = compileTemplate(cfg.topic, MQTT_UNSAFE)
  const measurements = cfg.measurements ? new Set<string>(cfg.measurements) : undefined
  const delivered = createDelivered(cfg.batchSize * (cfg.concurrency + 2))
  const clientId = cfg.clientId ?? `smartcity-${hostname()}-${cfg.id}`
  let client: MqttClient | undefined
  let connecting: Promise<MqttClient> | undefined
  let lastError: string | undefined
  let sent = 0

  /** Give up a connection (forced: nothing it still holds goes out). Only our own listeners are ever removed: MQTT.js cleans up in its own. */
  function drop(c: MqttClient): void {
    if (client === c) client = undefined
    c.on('error', () => undefined)
    c.end(true)
  }

  /** The connection, opened when there is none; rejects when the broker cannot be reached. */
  function connection(): Promise<MqttClient> {
    if (client?.connected) return Promise.resolve(client)
    if (client) drop(client)
    connecting ??= new Promise<MqttClient>((resolve, reject) => {
      let opts: IClientOptions
      try {
        opts = {
          clientId,
          clean: true,
          reconnectPeriod: 0,
          connectTimeout: cfg.timeoutMs,
          keepalive: cfg.keepaliveSec,
          protocolVersion: 4,
          ...(cfg.username !== undefined ? { username: cfg.username } : {}),
          ...(cfg.password !== undefined ? { password: cfg.password } : {}),
          ...tlsFiles(cfg.tls),
        }
      } catch (err) {
        reject(new Error(`mqtt-uplink ${cfg.id}: cannot read a TLS file: ${(err as Error).message}`))
        return
      }
      const c = mqtt.connect(cfg.url, opts)
      const onError = (err: Error) => fail(err)
      const onEarlyClose = () => fail(new Error('connection closed before CONNACK'))
      const fail = (err: Error) => {
        c.removeListener('connect', onConnect)
        c.removeListener('error', onError)
        c.removeListener('close', onEarlyClose)
        drop(c)
        reject(err)
      }
      const onConnect = () => {
        c.removeListener('error', onError)
        c.removeListener('close', onEarlyClose)
        c.on('error', (err) => log.debug({ err }, 'mqtt uplink connection error'))
        c.on('close', () => {
          if (client === c) client = undefined
        })
        client = c
        log.info({ url: cfg.url }, 'mqtt uplink connected')
        resolve(c)
      }
      c.once('connect', onConnect)
      c.once('error', onError)
      c.once('close', onEarlyClose)
    }).finally(() => {
      connecting = undefined
    })
    return connecting
  }

  return {
    id: cfg.id,
    type: 'mqtt-uplink',
    async start() {
      // Reachability is the drain's business (a broker down at start-up is an outage like any other); only
      // unreadable TLS files are a configuration problem worth failing start-up over (retried until fixed).
      tlsFiles(cfg.tls)
    },

    async write(batch): Promise<WriteResult> {
      const m = batchMessages(batch.body, { address: topic, payload: cfg.payload, ...(measurements ? { measurements } : {}) })
      if (!m.ok) return { kind: 'rejected', status: 400, reason: `not line protocol: ${m.line.slice(0, 200)}` }
      const todo = m.messages.filter((x) => !delivered.has(x.id))
      if (todo.length === 0) return { kind: 'accepted' }
      let c: MqttClient
      try {
        c = await connection()
      } catch (err) {
        lastError = (err as Error).message
        return { kind: 'retry', reason: lastError }
      }
      const r = await new Promise<WriteResult>((resolve) => {
        let left = todo.length
        let done = false
        const finish = (w: WriteResult) => {
          if (done) return
          done = true
          clearTimeout(timer)
          c.removeListener('close', onClose)
          resolve(w)
        }
        const onClose = () => finish({ kind: 'retry', reason: `connection to ${cfg.url} lost with ${left} of ${todo.length} points unacknowledged` })
        const timer = setTimeout(() => finish({ kind: 'retry', reason: `no PUBACK for ${left} of ${todo.length} points within ${cfg.timeoutMs} ms` }), cfg.timeoutMs)
        c.on('close', onClose)
        for (const x of todo) {
          c.publish(x.address, x.payload, { qos: 1 }, (err) => {
            if (err) return finish({ kind: 'retry', reason: `publish failed: ${err.message}` })
            // A PUBACK that comes after the batch failed still counts: that point is not sent again.
            delivered.add(x.id)
            sent++
            if (--left === 0) finish({ kind: 'accepted' })
          })
        }
      })
      if (r.kind === 'accepted') {
        lastError = undefined
      } else {
        lastError = r.kind === 'retry' ? r.reason : undefined
        // Nothing of this connection may go out later behind the drain's back: a new one for the retry.
        drop(c)
      }
      return r
    },

    async close() {
      const c = client
      client = undefined
      if (c) await c.endAsync().catch(() => undefined)
    },

    async health(): Promise<ComponentHealth> {
      if (lastError) return { status: 'degraded', detail: lastError }
      return { status: 'ok', detail: client?.connected ? `${cfg.url}: ${sent} points acknowledged` : `${cfg.url} (not connected)` }
    },
  }
}
