/**
 * The TCP server shared by sources whose devices dial in (JT/T 808 terminals, HJ 212 data loggers): one
 * listening socket on the configured loopback/LAN address, per-connection frame handling in order, an idle
 * timeout, a per-connection rate limit (token bucket), a bad-frame budget after which the connection is
 * closed, and backpressure (the socket pauses while too much work is queued). A connection costs a socket,
 * a framer and a few numbers, so thousands of idle ones are cheap.
 *
 * A transport (issue 11): how bytes reach the gateway from devices that dial in. It knows nothing of the
 * pipeline; gateway/sources/tcp-source.ts wraps it into a source (start/stop/health, refusals).
 */
import { createServer, type Server, type Socket } from 'node:net'
import type { Framer } from '../../devices/common/result.ts'
import type { Reason } from '../../devices/common/reasons.ts'
import { createOrdered, type Ordered } from './ordered.ts'
import type { RecordTap } from './record.ts'

/** Where the server reports a handler that failed (the gateway's Logger fits). */
export interface TcpServerLog {
  error(obj: object, msg: string): void
}

export interface TcpServerOptions {
  host: string
  port: number
  idleTimeoutSec: number
  /** Frames a connection may send per second on average (burst: twice that). */
  ratePerSec: number
  /** Bad frames after which the connection is closed. */
  maxBadFrames: number
  log: TcpServerLog
  /** Record every connection's bytes, both ways (gateway/core/recorder.ts; `smartcity gateway --record`). */
  record?: RecordTap | undefined
}

export interface Conn {
  readonly address: string
  /** Run frame handling in arrival order; the socket pauses while much is queued. */
  enqueue(work: () => Promise<void>): void
  /** Take one token of the rate limit; false when the connection is over its rate. */
  allow(now: number): boolean
  /** Count a bad frame; returns true when that was one too many and the connection is closing. */
  bad(): boolean
  send(bytes: Buffer): void
  /** Close after the bytes already queued for sending are flushed. */
  close(): void
  readonly closed: boolean
}

export interface ConnHandler {
  data(chunk: Buffer): void
  /** The connection is gone (peer closed, idle timeout, error or `close`). */
  closed(why: 'end' | 'idle_timeout' | 'error' | 'closed_by_gateway' | 'stopped'): void
}

export interface TcpServer {
  listen(): Promise<{ host: string; port: number }>
  /** Stop accepting, close every connection, wait for queued work. */
  stop(): Promise<void>
  connections(): number
}

const QUEUE_HIGH = 64
const QUEUE_LOW = 8

export function createTcpServer(opts: TcpServerOptions, onConnection: (conn: Conn) => ConnHandler): TcpServer {
  const sockets = new Set<Socket>()
  const queues = new Set<Ordered>()
  let server: Server | undefined
  let stopping = false

  function accept(socket: Socket): void {
    if (stopping) {
      socket.destroy()
      return
    }
    sockets.add(socket)
    socket.setNoDelay(true)
    socket.setTimeout(opts.idleTimeoutSec * 1000)
    const address = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`
    const rec = opts.record?.connection({ transport: 'tcp', peer: address })
    let tokens = opts.ratePerSec * 2
    let last = 0
    let badCount = 0
    let closedBy: Parameters<ConnHandler['closed']>[0] | undefined
    let closed = false
    const queue = createOrdered({
      high: QUEUE_HIGH,
      low: QUEUE_LOW,
      pause: () => socket.pause(),
      resume: () => {
        if (!closed) socket.resume()
      },
      onError: (err) => opts.log.error({ err, address }, 'frame handler failed'),
    })
    queues.add(queue)
    const conn: Conn = {
      address,
      get closed() {
        return closed
      },
      enqueue(work) {
        queue.push(work)
      },
      allow(now) {
        if (last === 0) last = now
        tokens = Math.min(opts.ratePerSec * 2, tokens + ((now - last) / 1000) * opts.ratePerSec)
        last = now
        if (tokens < 1) return false
        tokens -= 1
        return true
      },
      bad() {
        badCount++
        if (badCount >= opts.maxBadFrames) {
          conn.close()
          return true
        }
        return false
      },
      send(bytes) {
        if (!closed && socket.writable) {
          rec?.out(bytes)
          socket.write(bytes)
        }
      },
      close() {
        if (closed) return
        closedBy ??= 'closed_by_gateway'
        closed = true
        socket.end()
        // A peer that never reads must not keep the socket: give the FIN a moment, then destroy.
        setTimeout(() => socket.destroy(), 2000).unref()
      },
    }
    const handler = onConnection(conn)
    socket.on('data', (chunk: Buffer) => {
      if (closed) return
      rec?.in(chunk)
      try {
        handler.data(chunk)
      } catch (err) {
        // Framers and decoders never throw; this guards the process against a bug all the same.
        opts.log.error({ err, address }, 'connection handler threw')
        conn.close()
      }
    })
    socket.on('timeout', () => {
      closedBy ??= 'idle_timeout'
      closed = true
      socket.destroy()
    })
    socket.on('error', () => {
      closedBy ??= 'error'
    })
    socket.on('end', () => {
      closedBy ??= 'end'
      socket.end()
    })
    socket.on('close', () => {
      sockets.delete(socket)
      void queue.idle().then(() => queues.delete(queue))
      closed = true
      rec?.close()
      handler.closed(closedBy ?? (stopping ? 'stopped' : 'end'))
    })
  }

  return {
    listen() {
      return new Promise((resolve, reject) => {
        const srv = createServer({ noDelay: true }, accept)
        server = srv
        srv.maxConnections = 100_000
        srv.once('error', reject)
        srv.listen({ host: opts.host, port: opts.port, backlog: 4096 }, () => {
          srv.off('error', reject)
          const a = srv.address()
          resolve(a && typeof a === 'object' ? { host: a.address, port: a.port } : { host: opts.host, port: opts.port })
        })
      })
    },
    async stop() {
      stopping = true
      const closing = server ? new Promise<void>((r) => server!.close(() => r())) : Promise.resolve()
      await Promise.all([...queues].map((q) => q.idle()))
      for (const s of sockets) s.destroy()
      await closing
    },
    connections: () => sockets.size,
  }
}

/** The `data` of a connection handler: frame the bytes, refuse what the framer refuses, handle frames in order. */
/** Refuse input (count, dead-letter) and, unless `bad` is false, spend the connection's bad-frame budget. */
export type RejectFn = (reason: Reason, raw: Uint8Array | string, detail?: string, device?: string, bad?: boolean) => void

export function framePump<F>(framer: Framer<F>, conn: Conn, reject: RejectFn, handle: (frame: F, raw: Buffer) => Promise<void>): (chunk: Buffer) => void {
  return (chunk) => {
    for (const e of framer.push(chunk)) {
      if (!e.ok) {
        reject(e.reason, e.raw, e.detail)
        if (conn.closed) return
        continue
      }
      conn.enqueue(() => handle(e.frame, e.raw))
    }
  }
}

