/**
 * A source that is a TCP server (JT/T 808 terminals, HJ 212 data loggers dial in): the common start, stop,
 * health and refusals around gateway/transports/tcp-server.ts and a per-connection handler.
 */
import type { ComponentHealth, Source, SourceContext } from '../core/types.ts'
import { type Conn, type ConnHandler, createTcpServer, type RejectFn, type TcpServer, type TcpServerOptions } from '../transports/tcp-server.ts'

/** Refuse input: dead-letter it through the context and, unless `bad` is false, spend the bad-frame budget. */
export function connRejecter(ctx: SourceContext, source: string, conn: Conn): RejectFn {
  return (reason, raw, detail, device, bad = true) => {
    void ctx.reject({ source, address: conn.address, raw, reason, ...(detail !== undefined ? { detail } : {}), ...(device !== undefined ? { device } : {}) })
    if (bad) conn.bad()
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
      server = createTcpServer({ ...o.server, log: ctx.log, record: ctx.record }, (conn) => o.connection(ctx, conn))
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
