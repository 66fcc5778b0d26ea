/**
 * The gateway's MQTT broker connection: the embedded aedes broker (default) or an external broker.
 *
 * Embedded: devices connect to aedes; readings are taken in its `authorizePublish` hook, which aedes runs
 * before it writes the QoS 1 PUBACK, so the PUBACK leaves only once the handler's promise (the spool append)
 * has resolved. External: one MQTT.js client with a fixed client id and `clean: false`, so the broker keeps
 * the session and queues QoS 1 messages while the gateway is away; MQTT.js sends the PUBACK after
 * `handleMessage` calls back, which we do after the spool append.
 */
// First: makes disabled `debug` loggers no-ops before aedes, mqtt-packet and MQTT.js load them.
import './quiet-debug.ts'
import { createServer, type Server } from 'node:net'
import { Aedes } from 'aedes'
import mqtt, { type MqttClient } from 'mqtt'
import { StartError } from '../core/errors.ts'
import type { ComponentHealth, Logger } from '../core/types.ts'
import type { BrokerConfig } from './config.ts'
import { type AckCallback, Pacer } from './pacing.ts'
import { createPersistence } from './persistence.ts'
import { createRouter } from './router.ts'

/**
 * Handles one message; the returned promise (settled once the message is on disk or dead-lettered) gates
 * the QoS 1 acknowledgement and, at every QoS, paces the client (gateway/broker/pacing.ts).
 */
export type MessageHandler = (topic: string, payload: Buffer, qos: 0 | 1 | 2) => Promise<unknown> | undefined

export interface Broker {
  readonly type: 'embedded' | 'external'
  /** Take messages matching `filters` (subscribed with `qos` on an external broker). */
  onMessages(filters: readonly string[], qos: 0 | 1, handler: MessageHandler): void
  publish(topic: string, payload: string | Buffer, opts?: { qos?: 0 | 1; retain?: boolean }): Promise<void>
  start(): Promise<void>
  stop(): Promise<void>
  health(): ComponentHealth
  /** Where devices connect (`mqtt://127.0.0.1:1883`). */
  url(): string
}

/** A topic filter compiled once to a regular expression (matching runs for every message). */
export function compileFilter(filter: string): RegExp {
  const parts = filter.split('/').map((p) => (p === '+' ? '[^/]*' : p === '#' ? '.*' : p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
  let re = parts.join('/')
  // `a/#` also matches `a` itself.
  if (filter.endsWith('/#')) re = `${parts.slice(0, -1).join('/')}(?:/.*)?`
  return new RegExp(`^${re}$`)
}

interface Route {
  filters: readonly string[]
  matchers: readonly RegExp[]
  qos: 0 | 1
  handler: MessageHandler
}

/** The route for a topic: devices publish on the same few topics over and over, so each is matched once. */
class Routes {
  private readonly list: Route[] = []
  private readonly byTopic = new Map<string, Route | null>()

  add(r: Route): void {
    this.list.push(r)
    this.byTopic.clear()
  }

  dispatch(topic: string, payload: Buffer, qos: 0 | 1 | 2): Promise<unknown> | undefined {
    let r = this.byTopic.get(topic)
    if (r === undefined) {
      r = this.list.find((x) => x.matchers.some((m) => m.test(topic))) ?? null
      if (this.byTopic.size >= 50_000) this.byTopic.clear()
      this.byTopic.set(topic, r)
    }
    return r === null ? undefined : r.handler(topic, payload, qos)
  }

  get all(): readonly Route[] {
    return this.list
  }
}

/**
 * The QoS 1 acknowledgements waiting on the spool. Every message of a group commit gets the same promise
 * from its handler, so the callbacks wait in one list per promise, run in arrival order when it settles:
 * one reaction per group instead of a promise and two closures per message.
 */
export class AckGroups {
  private promise: Promise<unknown> | undefined
  private list: AckCallback[] | undefined

  constructor(private readonly log: Logger) {}

  wait(p: Promise<unknown>, done: AckCallback): void {
    if (p !== this.promise || !this.list) {
      const list: AckCallback[] = []
      this.promise = p
      this.list = list
      p.then(
        () => this.settle(list, null),
        (err: unknown) => {
          // Not on disk: no PUBACK. Closing the connections makes the devices send the messages again.
          this.log.error({ err, messages: list.length }, 'could not make messages durable; closing their connections so the devices retry')
          this.settle(list, err instanceof Error ? err : new Error(String(err)))
        },
      )
    }
    this.list.push(done)
  }

  private settle(list: AckCallback[], err: Error | null): void {
    // A promise that has settled takes no more callbacks: the next message starts a new list.
    if (this.list === list) this.list = undefined
    for (const done of list) done(err)
  }
}

function createEmbedded(cfg: Extract<BrokerConfig, { type: 'embedded' }>, log: Logger): Broker {
  const routes = new Routes()
  let server: Server | undefined
  let wsServer: { close(cb?: () => void): void } | undefined
  let port = cfg.port
  const users = new Map(Object.entries(cfg.users))
  const pacer = new Pacer((topic, payload, qos) => routes.dispatch(topic, payload, qos), new AckGroups(log), log)
  const broker = new Aedes({
    id: 'smartcity-gateway',
    // aedes' router and its default concurrency, with the shortcut for telemetry nobody subscribes to.
    mq: createRouter({ concurrency: 100 }),
    // aedes' in-memory session store, with the same kind of shortcut for its per-message lookup.
    persistence: createPersistence(),
    authenticate: (_client, username, password, done) => {
      if (users.size === 0) return done(null, true)
      const ok = username !== undefined && users.get(username) === password?.toString()
      if (!ok) {
        const err = Object.assign(new Error('bad username or password'), { returnCode: 4 })
        return done(err as Error & { returnCode: number }, false)
      }
      done(null, true)
    },
    // Paced (gateway/broker/pacing.ts): the callback, and so aedes' next read of this client, waits for
    // the turn's time budget and, past the client's in-flight bound, for the message's promise.
    authorizePublish: (client, packet, done) => pacer.take(client ?? pacer, packet.topic, packet.payload as Buffer, packet.qos, done),
  })
  broker.on('clientError', (client, err) => log.debug({ client: client.id, err: err.message }, 'mqtt client error'))

  return {
    type: 'embedded',
    onMessages(filters, qos, handler) {
      routes.add({ filters, matchers: filters.map(compileFilter), qos, handler })
    },
    publish(topic, payload, opts) {
      return new Promise((resolve, reject) =>
        broker.publish(
          { cmd: 'publish', topic, payload: typeof payload === 'string' ? Buffer.from(payload) : payload, qos: opts?.qos ?? 0, retain: opts?.retain ?? false, dup: false },
          (err) => (err ? reject(err) : resolve()),
        ),
      )
    },
    async start() {
      await broker.listen()
      // TCP_NODELAY: a PUBACK is a 4-byte write, and with Nagle's algorithm on, one that follows another
      // still unacknowledged by the device's TCP waits for that acknowledgement (up to the delayed-ACK
      // timeout). Devices with QoS 1 messages in flight then waited on acks: one connection with 2,000 in
      // flight went from 28k to 61k readings/s once it was off.
      const srv = createServer({ noDelay: true }, broker.handle)
      await new Promise<void>((resolve, reject) => {
        const failed = (err: Error) => reject(new StartError('mqtt', err, { address: `${cfg.host}:${cfg.port}` }))
        srv.once('error', failed)
        srv.listen(cfg.port, cfg.host, () => {
          srv.off('error', failed)
          srv.on('error', (err) => log.error({ err }, 'MQTT server error'))
          const a = srv.address()
          if (a && typeof a === 'object') port = a.port
          resolve()
        })
      })
      server = srv
      if (cfg.wsPort !== undefined) {
        const { WebSocketServer, createWebSocketStream } = await import('ws')
        const wss = new WebSocketServer({ host: cfg.host, port: cfg.wsPort })
        try {
          // ws reports a failed listen as an 'error' event: without this wait it would be an uncaught one.
          await new Promise<void>((resolve, reject) => {
            const failed = (err: Error) => reject(new StartError('mqtt-ws', err, { address: `${cfg.host}:${cfg.wsPort}` }))
            wss.once('error', failed)
            wss.once('listening', () => {
              wss.off('error', failed)
              resolve()
            })
          })
        } catch (err) {
          // Half a broker is no broker: the TCP listener goes too, so nothing takes publishes.
          await new Promise<void>((resolve) => wss.close(() => resolve()))
          await new Promise<void>((resolve) => srv.close(() => resolve()))
          server = undefined
          throw err
        }
        wss.on('error', (err) => log.error({ err }, 'MQTT WebSocket server error'))
        wss.on('connection', (ws) => broker.handle(createWebSocketStream(ws) as never))
        wsServer = wss
      }
      log.info({ url: `mqtt://${cfg.host}:${port}`, ws: cfg.wsPort }, 'embedded MQTT broker listening')
    },
    async stop() {
      await new Promise<void>((resolve) => (wsServer ? wsServer.close(() => resolve()) : resolve()))
      await new Promise<void>((resolve) => broker.close(() => resolve()))
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
    },
    health: () => (server?.listening ? { status: 'ok', detail: `mqtt://${cfg.host}:${port}, ${broker.connectedClients} clients` } : { status: 'down', detail: 'not listening' }),
    url: () => `mqtt://${cfg.host}:${port}`,
  }
}

function createExternal(cfg: Extract<BrokerConfig, { type: 'external' }>, log: Logger): Broker {
  const routes = new Routes()
  let client: MqttClient | undefined
  let connected = false
  let lastError: string | undefined

  return {
    type: 'external',
    onMessages(filters, qos, handler) {
      routes.add({ filters, matchers: filters.map(compileFilter), qos, handler })
    },
    async publish(topic, payload, opts) {
      if (!client) throw new Error('broker not started')
      await client.publishAsync(topic, payload, { qos: opts?.qos ?? 0, retain: opts?.retain ?? false })
    },
    async start() {
      const c = mqtt.connect(cfg.url, {
        clientId: cfg.clientId,
        clean: false,
        keepalive: cfg.keepaliveSec,
        reconnectPeriod: 1000,
        connectTimeout: 10_000,
        // Subscriptions are made in the connect handler whenever the broker has no session for us.
        resubscribe: false,
        ...(cfg.username !== undefined ? { username: cfg.username } : {}),
        ...(cfg.password !== undefined ? { password: cfg.password } : {}),
      })
      client = c
      // Paced like the embedded broker's clients (gateway/broker/pacing.ts); AckGroups logs a failure.
      const pacer = new Pacer((topic, payload, qos) => routes.dispatch(topic, payload, qos), new AckGroups(log), log)
      c.handleMessage = (packet, callback) =>
        pacer.take(c, packet.topic, packet.payload as Buffer, packet.qos, (err) => {
          // Not durable: do not acknowledge. Dropping the connection makes the broker redeliver.
          if (err) c.stream.destroy()
          else callback()
        })
      const subs: Record<string, { qos: 0 | 1 }> = {}
      for (const r of routes.all) for (const f of r.filters) subs[f] = { qos: r.qos }
      let subscribed = Promise.resolve()
      c.on('connect', (ack) => {
        connected = true
        lastError = undefined
        log.info({ url: cfg.url, clientId: cfg.clientId, sessionPresent: ack.sessionPresent }, 'connected to external MQTT broker')
        // A new session (first start, or the broker lost it) needs our subscriptions; a present one has them.
        if (!ack.sessionPresent && Object.keys(subs).length > 0) {
          subscribed = new Promise<void>((resolve) =>
            c.subscribe(subs, (err) => {
              if (err) log.error({ err: err.message }, 'subscribing on the external broker failed')
              resolve()
            }),
          )
        }
      })
      c.on('close', () => {
        if (connected) log.warn({ url: cfg.url }, 'external MQTT broker connection closed; reconnecting')
        connected = false
      })
      c.on('error', (err) => {
        lastError = err.message
        log.warn({ err: err.message }, 'external MQTT broker error')
      })
      // The gateway starts whether or not the broker answers (its other sources do not need it); MQTT.js
      // keeps reconnecting and /healthz shows the broker down meanwhile.
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          log.warn({ url: cfg.url }, 'external MQTT broker not reachable yet; starting anyway and reconnecting')
          resolve()
        }, cfg.connectWaitMs)
        c.once('connect', () => {
          clearTimeout(t)
          // start() returns once the broker has acknowledged the subscriptions.
          setImmediate(() => void subscribed.then(resolve))
        })
      })
    },
    async stop() {
      // A persistent session stays on the broker: what devices send meanwhile waits there for us.
      if (client) await client.endAsync()
    },
    health: () => (connected ? { status: 'ok', detail: cfg.url } : { status: 'down', detail: lastError ?? `not connected to ${cfg.url}` }),
    url: () => cfg.url,
  }
}

export function createBroker(cfg: BrokerConfig, log: Logger): Broker {
  return cfg.type === 'embedded' ? createEmbedded(cfg, log) : createExternal(cfg, log)
}
