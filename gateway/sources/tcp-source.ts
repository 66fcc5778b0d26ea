/**
 * A source that is a TCP server (JT/T 808 terminals, HJ 212 data loggers dial in): the common start, stop,
 * health and refusals around gateway/transports/tcp-server.ts and a per-connection handler.
 */
import type { ComponentHealth, Source, SourceContext } from '../core/types.ts'
import { type AdmissionOptions, type AdmissionRefusal, type Conn, type ConnHandler, createTcpServer, peerIp, type RejectFn, type TcpServer, type TcpServerOptions } from '../transports/tcp-server.ts'

/** At most one audit record and log line per peer address and reason in this long (the count says how many). */
const REFUSAL_QUIET_MS = 60_000
const REFUSAL_KEYS_MAX = 10_000

/**
 * Report a connection a TCP device server refused: counted every time (`smartcity_tcp_connections_refused_total`),
 * audited as `tcp.connect` denied and logged once per address and reason a minute, with how many were refused
 * meanwhile: a peer that reconnects in a loop must not flood the audit log or the log.
 */
export function connectionRefusals(ctx: SourceContext, source: string, type: string, listener: () => string): (reason: AdmissionRefusal, address: string, why?: string) => void {
  const quiet = new Map<string, { until: number; suppressed: number }>()
  return (reason, address, why) => {
    ctx.metrics?.tcpRefused.labels(source, reason).inc()
    const ip = peerIp(address.replace(/:\d+$/, '')) ?? address
    const key = `${ip}\u0000${reason}`
    const t = ctx.now()
    const q = quiet.get(key)
    if (q && t < q.until) {
      q.suppressed++
      return
    }
    if (quiet.size >= REFUSAL_KEYS_MAX) quiet.clear()
    const suppressed = q?.suppressed ?? 0
    quiet.set(key, { until: t + REFUSAL_QUIET_MS, suppressed: 0 })
    const more = suppressed > 0 ? `${suppressed} more refused from ${ip} for ${reason} in the minute before` : undefined
    const detail = [why, more].filter((x) => x !== undefined).join('; ')
    ctx.audit?.record({ actor: 'anonymous', actorType: 'anonymous', action: 'tcp.connect', target: `${type}:${source} ${listener()}`, address, outcome: 'denied', reason, ...(detail ? { detail } : {}) })
    ctx.log.info({ address, reason, ...(why ? { detail: why } : {}), ...(suppressed > 0 ? { suppressed } : {}) }, 'connection refused')
  }
}

/**
 * Refuse input: dead-letter it through the context and, unless `bad` is false, spend the bad-frame budget.
 * A plain function a session calls (a session holds no closure of its own per connection).
 */
export function rejectInput(ctx: SourceContext, source: string, conn: Conn, ...[reason, raw, detail, device, bad = true]: Parameters<RejectFn>): void {
  void ctx.reject({ source, address: conn.address, raw, reason, ...(detail !== undefined ? { detail } : {}), ...(device !== undefined ? { device } : {}) })
  if (bad) conn.bad()
}

/** The server options a TCP device source's config spells the same way (jt808, hj212: `tcpServerLimits`). */
export function serverOptions(
  cfg: { host: string; port: number; idleTimeoutSec: number; rateLimitPerSec: number; maxBadFrames: number; proxyProtocol?: 'off' | 'v1' | 'v2'; trustedProxies?: readonly string[] } & AdmissionOptions,
): Omit<TcpServerOptions, 'log'> {
  return {
    ...(cfg.proxyProtocol && cfg.proxyProtocol !== 'off' ? { proxy: { version: cfg.proxyProtocol, trusted: cfg.trustedProxies ?? ['127.0.0.1/32', '::1/128'] } } : {}),
    host: cfg.host,
    port: cfg.port,
    idleTimeoutSec: cfg.idleTimeoutSec,
    ratePerSec: cfg.rateLimitPerSec,
    maxBadFrames: cfg.maxBadFrames,
    limits: { allow: cfg.allow, maxConnections: cfg.maxConnections, maxConnectionsPerAddress: cfg.maxConnectionsPerAddress },
  }
}

export interface TcpSource extends Source {
  /** Where the server listens once started. */
  address(): { host: string; port: number } | undefined
  connections(): number
}

/** A source that is a TCP server: the common start/stop/health around a per-connection handler. */
export function createTcpSource(o: {
  id: string
  type: string
  server: Omit<TcpServerOptions, 'log'>
  onStart?(ctx: SourceContext): Promise<void>
  onStop?(): Promise<void>
  connection(ctx: SourceContext, conn: Conn): ConnHandler
}): TcpSource {
  let server: TcpServer | undefined
  let bound: { host: string; port: number } | undefined
  let stopped = false
  return {
    id: o.id,
    type: o.type,
    async start(ctx) {
      stopped = false
      await o.onStart?.(ctx)
      const listener = () => (bound ? `${bound.host}:${bound.port}` : `${o.server.host}:${o.server.port}`)
      server = createTcpServer(
        {
          ...o.server,
          log: ctx.log,
          record: ctx.record,
          onRefused: connectionRefusals(ctx, o.id, o.type, listener),
          onClosed: (why) => ctx.metrics?.tcpClosed.labels(o.id, why).inc(),
        },
        (conn) => o.connection(ctx, conn),
      )
      bound = await server.listen()
    },
    async stop() {
      stopped = true
      await server?.stop()
      await o.onStop?.()
    },
    health(): ComponentHealth {
      if (stopped) return { status: 'down', detail: 'stopped' }
      return server ? { status: 'ok', detail: `listening on ${bound?.host}:${bound?.port}, ${server.connections()} connections` } : { status: 'down', detail: 'not started' }
    },
    address: () => bound,
    connections: () => server?.connections() ?? 0,
  }
}
