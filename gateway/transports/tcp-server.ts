/**
 * The TCP server shared by sources whose devices dial in (JT/T 808 terminals, HJ 212 data loggers): one
 * listening socket on the configured loopback/LAN address, per-connection frame handling in order, an idle
 * timeout, a per-connection rate limit (token bucket), a bad-frame budget after which the connection is
 * closed, and backpressure (the socket pauses while too much work is queued). A connection costs a socket,
 * a framer and a few numbers, so thousands of idle ones are cheap.
 *
 * A transport (issue 11): how bytes reach the gateway from devices that dial in. It knows nothing of the
 * pipeline; gateway/sources/tcp-source.ts wraps it into a source (start/stop/health, refusals).
 *
 * Who may connect (issue 13): an allowlist of CIDR ranges (`allow`), a cap on connections in total
 * (`maxConnections`) and per peer address (`maxConnectionsPerAddress`). A connection refused by them is
 * closed before a byte of it is read and reported through `onRefused` with its catalogued reason
 * (`address_not_allowed`, `too_many_connections`, `too_many_connections_from_address`); the same check
 * (`createAdmission`) guards the one-peer `tcp-listen` link of gateway/transports/address.ts, so every TCP
 * server of the gateway admits peers in one place.
 */
import { BlockList, createServer, isIP, type Server, type Socket } from 'node:net'
import { z } from 'zod'
import type { Framer } from '../../devices/common/result.ts'
import type { Reason } from '../../devices/common/reasons.ts'
import { createOrdered, type Ordered } from './ordered.ts'
import type { RecordTap } from './record.ts'

/** Where the server reports a handler that failed (the gateway's Logger fits). */
export interface TcpServerLog {
  error(obj: object, msg: string): void
}

/** The address without the IPv4-mapped IPv6 prefix (`::ffff:10.0.0.7` is `10.0.0.7`). */
export function peerIp(remote: string | undefined): string | undefined {
  if (remote === undefined) return undefined
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remote)
  return m ? m[1] : remote
}

/** `10.0.0.0/8`, `fd00::/8` or a bare address (one host) as [address, prefix, family], or undefined. */
export function parseCidr(s: string): [string, number, 'ipv4' | 'ipv6'] | undefined {
  const [addr = '', prefix, extra] = s.trim().split('/')
  if (extra !== undefined) return undefined
  const v = isIP(addr)
  if (v === 0) return undefined
  const max = v === 4 ? 32 : 128
  if (prefix !== undefined && !/^\d{1,3}$/.test(prefix)) return undefined
  const bits = prefix === undefined ? max : Number(prefix)
  if (bits > max) return undefined
  return [addr, bits, v === 4 ? 'ipv4' : 'ipv6']
}

/** An address or CIDR range in a config (`allow:`). */
export const Cidr = z.string().refine((s) => parseCidr(s) !== undefined, 'an IPv4 or IPv6 address or CIDR range (e.g. 10.0.0.0/8, 192.168.1.7, fd00::/8)')

/**
 * The admission keys of a TCP device server's config (jt808, hj212; etc-rsu's server mode takes `allow`).
 * No `allow` admits every address; `maxConnectionsPerAddress` has no default because terminals on a mobile
 * network often share one carrier-grade NAT address.
 */
export const tcpServerLimits = {
  allow: z.array(Cidr).min(1).optional(),
  maxConnections: z.number().int().min(1).max(100_000).default(10_000),
  maxConnectionsPerAddress: z.number().int().min(1).max(100_000).optional(),
}

export interface AdmissionOptions {
  /** CIDR ranges (or addresses) that may connect; absent: any. */
  allow?: readonly string[] | undefined
  maxConnections?: number | undefined
  maxConnectionsPerAddress?: number | undefined
}

export type AdmissionRefusal = Extract<Reason, 'address_not_allowed' | 'too_many_connections' | 'too_many_connections_from_address'>

/** Counts the connections it admitted; `release` each one when it closes. */
export interface Admission {
  /** Admit a peer (counted) or say why not. */
  admit(remoteAddress: string | undefined): AdmissionRefusal | undefined
  release(remoteAddress: string | undefined): void
}

export function createAdmission(o: AdmissionOptions): Admission {
  let list: BlockList | undefined
  if (o.allow) {
    list = new BlockList()
    for (const c of o.allow) {
      const p = parseCidr(c)
      if (!p) throw new Error(`not an address or CIDR range: ${c}`)
      list.addSubnet(p[0], p[1], p[2])
    }
  }
  const perAddress = new Map<string, number>()
  let total = 0
  return {
    admit(remote) {
      const ip = peerIp(remote)
      if (list) {
        const family = ip === undefined ? 0 : isIP(ip)
        if (family === 0 || !list.check(ip!, family === 4 ? 'ipv4' : 'ipv6')) return 'address_not_allowed'
      }
      if (o.maxConnections !== undefined && total >= o.maxConnections) return 'too_many_connections'
      const key = ip ?? '?'
      const n = perAddress.get(key) ?? 0
      if (o.maxConnectionsPerAddress !== undefined && n >= o.maxConnectionsPerAddress) return 'too_many_connections_from_address'
      perAddress.set(key, n + 1)
      total++
      return undefined
    },
    release(remote) {
      const key = peerIp(remote) ?? '?'
      const n = perAddress.get(key)
      if (n === undefined) return
      if (n <= 1) perAddress.delete(key)
      else perAddress.set(key, n - 1)
      total--
    },
  }
}

export interface TcpServerOptions {
  host: string
  port: number
  idleTimeoutSec: number
  /** Frames a connection may send per second on average (burst: twice that). */
  ratePerSec: number
  /** Bad frames after which the connection is closed. */
  maxBadFrames: number
  /** Who may connect and how many at once. */
  limits?: AdmissionOptions
  /** A connection refused by `limits` (it is already closed). */
  onRefused?(reason: AdmissionRefusal, address: string): void
  /** A connection ended, and why (idle timeouts and closes by the gateway are worth counting). */
  onClosed?(why: CloseWhy, address: string): void
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

export type CloseWhy = 'end' | 'idle_timeout' | 'error' | 'closed_by_gateway' | 'stopped'

export interface ConnHandler {
  data(chunk: Buffer): void
  /** The connection is gone (peer closed, idle timeout, error or `close`). */
  closed(why: CloseWhy): void
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
  const admission = createAdmission(opts.limits ?? {})
  let server: Server | undefined
  let stopping = false

  function accept(socket: Socket): void {
    if (stopping) {
      socket.destroy()
      return
    }
    const address = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`
    // Before any byte is read: a refused peer costs one accept and one close.
    const remote = socket.remoteAddress
    const refused = admission.admit(remote)
    if (refused) {
      socket.on('error', () => {})
      socket.destroy()
      try {
        opts.onRefused?.(refused, address)
      } catch (err) {
        opts.log.error({ err, address }, 'connection refusal handler threw')
      }
      return
    }
    sockets.add(socket)
    socket.setNoDelay(true)
    socket.setTimeout(opts.idleTimeoutSec * 1000)
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
      admission.release(remote)
      void queue.idle().then(() => queues.delete(queue))
      closed = true
      rec?.close()
      const why = closedBy ?? (stopping ? 'stopped' : 'end')
      try {
        opts.onClosed?.(why, address)
      } catch (err) {
        opts.log.error({ err, address }, 'connection close handler threw')
      }
      handler.closed(why)
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

