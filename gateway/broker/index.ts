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
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import type { IncomingMessage } from 'node:http'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import { createServer, type Server } from 'node:net'
import type { Duplex } from 'node:stream'
import { createServer as createTlsServer } from 'node:tls'
import { Aedes, type Client } from 'aedes'
import mqtt, { type MqttClient } from 'mqtt'
import { StartError } from '../core/errors.ts'
import type { ComponentHealth, Logger } from '../core/types.ts'
import type { Audit } from '../core/audit.ts'
import type { InventoryLookup } from './acl.ts'
import type { BrokerConfig, BrokerTlsConfig, EmbeddedBrokerConfig } from './config.ts'
import { type AckCallback, Pacer } from './pacing.ts'
import { createPersistence } from './persistence.ts'
import { createRouter } from './router.ts'
import { type BrokerAction, type BrokerRefusal, createBrokerSecurity } from './security.ts'
import { compileFilter } from './topics.ts'

/**
 * Handles one message; the returned promise (settled once the message is on disk or dead-lettered) gates
 * the QoS 1 acknowledgement and, at every QoS, paces the client (gateway/broker/pacing.ts).
 */
// mqtt-packet (aedes' and MQTT.js' packet writer) keeps by default a cache of 65,536 two-byte Buffers, one
// per message id, made at the first packet it writes: 6 MB of the heap a district's gateway keeps for its
// whole life (a heap snapshot of the 10,000-device load scenario) to save allocating two bytes per packet.
// Off for this process.
const mqttPacket = createRequire(createRequire(import.meta.url).resolve('aedes'))('mqtt-packet') as { writeToStream: { cacheNumbers: boolean } }
mqttPacket.writeToStream.cacheNumbers = false

export type MessageHandler = (topic: string, payload: Buffer, qos: 0 | 1 | 2) => Promise<unknown> | undefined

export interface Broker {
  readonly type: 'embedded' | 'external'
  /**
   * Take messages matching `filters` (subscribed with `qos` on an external broker). A route with the same
   * `key` (a source id) is replaced in place: a source restarted by a configuration reload takes over its
   * predecessor's route. Returns the route's removal (a source removed by a reload); an external broker
   * keeps its subscriptions.
   */
  onMessages(filters: readonly string[], qos: 0 | 1, handler: MessageHandler, key?: string): () => void
  publish(topic: string, payload: string | Buffer, opts?: { qos?: 0 | 1; retain?: boolean }): Promise<void>
  start(): Promise<void>
  stop(): Promise<void>
  health(): ComponentHealth
  /** Where devices connect (`mqtt://127.0.0.1:1883`). */
  url(): string
  /**
   * Read credentials, ACL and TLS certificates again (SIGHUP, `POST /api/reload`), with the new broker
   * section and inventory when given. Rejects, keeping what was loaded, when a file does not parse.
   */
  reload(next?: BrokerReload): Promise<void>
  /** The TLS listener's port, once started (embedded, with `broker.tls`). */
  tlsPort?(): number | undefined
}

export { compileFilter } from './topics.ts'

interface Route {
  key?: string | undefined
  filters: readonly string[]
  matchers: readonly RegExp[]
  qos: 0 | 1
  handler: MessageHandler
}

/** The route for a topic: devices publish on the same few topics over and over, so each is matched once. */
class Routes {
  private readonly list: Route[] = []
  private readonly byTopic = new Map<string, Route | null>()

  add(r: Route): () => void {
    const same = r.key === undefined ? -1 : this.list.findIndex((x) => x.key === r.key)
    if (same >= 0) this.list[same] = r
    else this.list.push(r)
    this.byTopic.clear()
    return () => {
      const i = this.list.indexOf(r)
      if (i >= 0) this.list.splice(i, 1)
      this.byTopic.clear()
    }
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

/** What the gateway hands the broker besides its configuration (all optional: tests build a bare broker). */
export interface BrokerOptions {
  /** Refusals of identities and topics (`mqtt.connect`, `mqtt.publish`, `mqtt.subscribe`). */
  audit?: Audit
  /** Counts a refusal by action and reason (`smartcity_mqtt_refused_total`). */
  refused?: (action: BrokerAction, reason: BrokerRefusal) => void
  /** Inventory devices' district and kind: the default ACL binds a device to its own topics. */
  inventory?: InventoryLookup
  /** The clock of token buckets and audit throttling (tests). */
  now?: () => number
}

/** What `reload()` takes: the new broker section (same listeners) and inventory, each optional. */
export interface BrokerReload {
  config?: BrokerConfig
  inventory?: InventoryLookup
}

async function readTls(t: BrokerTlsConfig): Promise<{ cert: Buffer; key: Buffer; ca?: Buffer }> {
  const [cert, key, ca] = await Promise.all([readFile(t.cert), readFile(t.key), t.ca !== undefined ? readFile(t.ca) : Promise.resolve(undefined)])
  return { cert, key, ...(ca ? { ca } : {}) }
}

/** Listen, or reject with a StartError naming the listener and address. */
function listenOn(srv: { listen(port: number, host: string, cb: () => void): unknown; once(e: 'error', f: (err: Error) => void): unknown; off(e: 'error', f: (err: Error) => void): unknown; address(): unknown }, name: string, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const failed = (err: Error) => reject(new StartError(name, err, { address: `${host}:${port}` }))
    srv.once('error', failed)
    srv.listen(port, host, () => {
      srv.off('error', failed)
      const a = srv.address()
      resolve(a && typeof a === 'object' ? (a as { port: number }).port : port)
    })
  })
}

function createEmbedded(initial: EmbeddedBrokerConfig, log: Logger, opts: BrokerOptions): Broker {
  let cfg = initial
  const routes = new Routes()
  let server: Server | undefined
  // Every listener started, in order, to close in reverse.
  let closers: (() => Promise<void>)[] = []
  const secure: { setSecureContext(o: object): void }[] = []
  let port = cfg.port
  let tlsPort: number | undefined
  const pacer = new Pacer((topic, payload, qos) => routes.dispatch(topic, payload, qos), new AckGroups(log), log)
  const sec = createBrokerSecurity(cfg, { log, ...opts })
  const broker = new Aedes({
    id: 'smartcity-gateway',
    // aedes' router and its default concurrency, with the shortcut for telemetry nobody subscribes to.
    mq: createRouter({ concurrency: 100 }),
    // aedes' in-memory session store, with the same kind of shortcut for its per-message lookup.
    persistence: createPersistence(),
    authenticate: (client, username, password, done) => sec.authenticate(client, broker.connectedClients, username, password, done as never),
    authorizePublish: (client, packet, done) => {
      // Identity, ACL and limits first (security.ts): a refused message is never taken, and the connection
      // closes (MQTT 3.1.1 has no negative PUBACK), so a refused QoS 1 message is not acknowledged.
      const refused = sec.checkPublish(client, packet.topic, packet.qos, (packet.payload as Buffer).length)
      if (refused !== undefined) return done(new Error(`publish refused: ${refused}`))
      // Then paced (gateway/broker/pacing.ts): the callback, and so aedes' next read of this client, waits
      // for the turn's time budget and, past the client's in-flight bound, for the message's promise. The
      // handler refuses bad input itself (dead letter); the client is never disconnected for it. A QoS 1
      // message counts against the in-flight limit from now (waiting its turn included) to its PUBACK.
      const payload = packet.payload as Buffer
      if (client && packet.qos > 0 && sec.countsInflight()) {
        sec.inflight(client, 1)
        return pacer.take(client, packet.topic, payload, packet.qos, (err) => {
          sec.inflight(client, -1)
          done(err)
        })
      }
      pacer.take(client ?? pacer, packet.topic, payload, packet.qos, done)
    },
    authorizeSubscribe: (client, sub, done) => done(null, sec.authorizeSubscribe(client, sub.topic) ? sub : null),
    authorizeForward: (client, packet) => (sec.canRead(client, packet.topic) ? packet : null),
  })
  broker.on('clientError', (client, err) => log.debug({ client: client.id, err: err.message }, 'mqtt client error'))
  /** Every connection, whatever its listener: the packet-size guard, then aedes. */
  const handle = (conn: Duplex, req?: IncomingMessage) => {
    const s = (req?.socket ?? conn) as { remoteAddress?: string; remotePort?: number }
    sec.guard(conn, s.remoteAddress === undefined ? undefined : `${s.remoteAddress}:${s.remotePort ?? ''}`)
    broker.handle(conn, req as never)
  }
  const tlsOptions = (t: BrokerTlsConfig, files: { cert: Buffer; key: Buffer; ca?: Buffer }) => ({
    ...files,
    // Ask for a certificate whenever there is a CA to check it against; refuse without one only when required.
    requestCert: t.requireClientCert || t.ca !== undefined,
    rejectUnauthorized: t.requireClientCert,
  })
  const tlsFailed = (err: Error, socket: { remoteAddress?: string; remotePort?: number }) =>
    sec.tlsFailed(socket.remoteAddress === undefined ? undefined : `${socket.remoteAddress}:${socket.remotePort ?? ''}`, err)

  async function startWs(name: string, host: string, wsPort: number, https?: HttpsServer): Promise<void> {
    const { WebSocketServer, createWebSocketStream } = await import('ws')
    // ws buffers a whole WebSocket message before MQTT sees it: the same cap as the packet guard.
    const maxPayload = cfg.limits.maxPacketBytes + 8
    const wss = https ? new WebSocketServer({ server: https, maxPayload }) : new WebSocketServer({ host, port: wsPort, maxPayload })
    if (https) {
      closers.push(() => new Promise<void>((resolve) => https.close(() => resolve())))
      closers.push(() => new Promise<void>((resolve) => wss.close(() => resolve())))
      await listenOn(https, name, host, wsPort)
    } else {
      closers.push(() => new Promise<void>((resolve) => wss.close(() => resolve())))
      // ws reports a failed listen as an 'error' event: without this wait it would be an uncaught one.
      await new Promise<void>((resolve, reject) => {
        const failed = (err: Error) => reject(new StartError(name, err, { address: `${host}:${wsPort}` }))
        wss.once('error', failed)
        wss.once('listening', () => {
          wss.off('error', failed)
          resolve()
        })
      })
    }
    wss.on('error', (err) => log.error({ err }, 'MQTT WebSocket server error'))
    wss.on('connection', (ws, req) => handle(createWebSocketStream(ws), req))
  }

  async function closeAll(): Promise<void> {
    for (const close of closers.reverse()) await close()
    closers = []
    secure.length = 0
    server = undefined
  }

  return {
    type: 'embedded',
    onMessages(filters, qos, handler, key) {
      return routes.add({ key, filters, matchers: filters.map(compileFilter), qos, handler })
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
      // The credentials and ACL files and the TLS files are read before anything listens: a wrong one is a
      // start failure, never a broker that lets everybody in.
      try {
        await sec.init()
      } catch (err) {
        // The problem names its file and line.
        throw new StartError('mqtt-auth', err as Error)
      }
      const t = cfg.tls
      let tlsFiles: Awaited<ReturnType<typeof readTls>> | undefined
      if (t) {
        try {
          tlsFiles = await readTls(t)
        } catch (err) {
          throw new StartError('mqtt-tls', err as Error, { address: t.cert })
        }
      }
      await broker.listen()
      // TCP_NODELAY: a PUBACK is a 4-byte write, and with Nagle's algorithm on, one that follows another
      // still unacknowledged by the device's TCP waits for that acknowledgement (up to the delayed-ACK
      // timeout). Devices with QoS 1 messages in flight then waited on acks: one connection with 2,000 in
      // flight went from 28k to 61k readings/s once it was off.
      const srv = createServer({ noDelay: true }, (socket) => handle(socket))
      try {
        closers.push(() => new Promise<void>((resolve) => srv.close(() => resolve())))
        port = await listenOn(srv, 'mqtt', cfg.host, cfg.port)
        srv.on('error', (err) => log.error({ err }, 'MQTT server error'))
        server = srv
        if (cfg.wsPort !== undefined) await startWs('mqtt-ws', cfg.host, cfg.wsPort)
        if (t && tlsFiles) {
          const host = t.host ?? cfg.host
          const ts = createTlsServer({ ...tlsOptions(t, tlsFiles), noDelay: true }, (socket) => handle(socket))
          ts.on('tlsClientError', tlsFailed)
          closers.push(() => new Promise<void>((resolve) => ts.close(() => resolve())))
          tlsPort = await listenOn(ts, 'mqtt-tls', host, t.port)
          ts.on('error', (err) => log.error({ err }, 'MQTT TLS server error'))
          secure.push(ts)
          if (t.wsPort !== undefined) {
            const https = createHttpsServer(tlsOptions(t, tlsFiles))
            https.on('tlsClientError', tlsFailed)
            secure.push(https)
            await startWs('mqtt-wss', host, t.wsPort, https)
          }
        }
      } catch (err) {
        // Half a broker is no broker: every listener goes, so nothing takes publishes.
        await closeAll()
        throw err
      }
      if (!sec.secured() && cfg.host !== '127.0.0.1' && cfg.host !== 'localhost' && cfg.host !== '::1') {
        log.warn({ host: cfg.host }, 'the embedded MQTT broker takes any client on any topic: set broker.auth.passwordFile (docs/security.md)')
      }
      log.info({ url: `mqtt://${cfg.host}:${port}`, ws: cfg.wsPort, tls: tlsPort, wss: t?.wsPort, secured: sec.secured() }, 'embedded MQTT broker listening')
    },
    async stop() {
      await new Promise<void>((resolve) => broker.close(() => resolve()))
      await closeAll()
    },
    async reload(next = {}) {
      const c = next.config ?? cfg
      if (c.type !== 'embedded') throw new Error('broker.type changed: that needs a restart')
      const t = c.tls
      const files = t ? await readTls(t) : undefined
      const same = (a: EmbeddedBrokerConfig, b: EmbeddedBrokerConfig) =>
        a.host === b.host && a.port === b.port && a.wsPort === b.wsPort && a.tls?.port === b.tls?.port && a.tls?.wsPort === b.tls?.wsPort && a.tls?.host === b.tls?.host && (a.tls === undefined) === (b.tls === undefined)
      if (!same(cfg, c)) log.warn('broker listeners changed (host, ports, tls on or off): they apply after a restart; credentials, ACL, certificates and limits apply now')
      await sec.reload({ config: c, ...(next.inventory ? { inventory: next.inventory } : {}), clients: () => Object.values((broker as unknown as { clients: Record<string, Client> }).clients) })
      if (t && files) for (const s of secure) s.setSecureContext(tlsOptions(t, files))
      cfg = c
    },
    health: () => (server?.listening ? { status: 'ok', detail: `mqtt://${cfg.host}:${port}${tlsPort !== undefined ? `, mqtts port ${tlsPort}` : ''}, ${broker.connectedClients} clients` } : { status: 'down', detail: 'not listening' }),
    url: () => `mqtt://${cfg.host}:${port}`,
    tlsPort: () => tlsPort,
  }
}

function createExternal(cfg: Extract<BrokerConfig, { type: 'external' }>, log: Logger): Broker {
  const routes = new Routes()
  let client: MqttClient | undefined
  let connected = false
  let lastError: string | undefined

  return {
    type: 'external',
    onMessages(filters, qos, handler, key) {
      return routes.add({ key, filters, matchers: filters.map(compileFilter), qos, handler })
    },
    async publish(topic, payload, opts) {
      if (!client) throw new Error('broker not started')
      await client.publishAsync(topic, payload, { qos: opts?.qos ?? 0, retain: opts?.retain ?? false })
    },
    async start() {
      const v5 = (cfg.protocolVersion ?? (cfg.sharedGroup !== undefined ? 5 : 4)) === 5
      const c = mqtt.connect(cfg.url, {
        clientId: cfg.clientId,
        clean: false,
        // MQTT 5 ends a session at disconnect unless it has an expiry: the broker keeps queuing for us that long.
        ...(v5 ? { protocolVersion: 5 as const, properties: { sessionExpiryInterval: cfg.sessionExpirySec ?? 86_400 } } : {}),
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
      // With a shared group the broker delivers each message to one member of the group, with its own topic,
      // so the routes still match the plain filters.
      const subs: Record<string, { qos: 0 | 1 }> = {}
      for (const r of routes.all) for (const f of r.filters) subs[sharedFilter(f, cfg.sharedGroup)] = { qos: r.qos }
      let subscribed = Promise.resolve()
      c.on('connect', (ack) => {
        connected = true
        lastError = undefined
        log.info({ url: cfg.url, clientId: cfg.clientId, sessionPresent: ack.sessionPresent, ...(cfg.sharedGroup !== undefined ? { sharedGroup: cfg.sharedGroup } : {}) }, 'connected to external MQTT broker')
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
    // The external broker's credentials and ACL are its own (docs/security.md); ours are the client's.
    reload: async () => {},
    url: () => cfg.url,
  }
}

/** `$share/<group>/<filter>` (MQTT 5 section 4.8.2) with a group, else the filter itself. */
export function sharedFilter(filter: string, group: string | undefined): string {
  return group === undefined ? filter : `$share/${group}/${filter}`
}

export function createBroker(cfg: BrokerConfig, log: Logger, opts: BrokerOptions = {}): Broker {
  return cfg.type === 'embedded' ? createEmbedded(cfg, log, opts) : createExternal(cfg, log)
}
