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
import { parseProxyHeader, type ProxyVersion } from './proxy-protocol.ts'
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
  /**
   * Behind a TCP load balancer (HAProxy `send-proxy-v2`): every connection starts with a PROXY protocol
   * header naming the device's own address, which `allow`, `maxConnectionsPerAddress`, presence, audit,
   * dead letters and logs then use. Only peers in `trustedProxies` may connect at all.
   */
  proxyProtocol: z.enum(['off', 'v1', 'v2']).default('off'),
  /** With `proxyProtocol`: the load balancers' addresses (CIDR); any other peer is refused (`proxy_untrusted`). */
  trustedProxies: z.array(Cidr).min(1).default(['127.0.0.1/32', '::1/128']),
  maxConnections: z.number().int().min(1).max(100_000).default(10_000),
  maxConnectionsPerAddress: z.number().int().min(1).max(100_000).optional(),
}

export interface AdmissionOptions {
  /** CIDR ranges (or addresses) that may connect; absent: any. */
  allow?: readonly string[] | undefined
  maxConnections?: number | undefined
  maxConnectionsPerAddress?: number | undefined
}

export type AdmissionRefusal = Extract<Reason, 'address_not_allowed' | 'too_many_connections' | 'too_many_connections_from_address' | 'proxy_untrusted' | 'proxy_header_invalid'>

/** A BlockList of CIDR ranges, or a clear error naming the bad one. */
export function cidrList(cidrs: readonly string[]): BlockList {
  const list = new BlockList()
  for (const c of cidrs) {
    const p = parseCidr(c)
    if (!p) throw new Error(`not an address or CIDR range: ${c}`)
    list.addSubnet(p[0], p[1], p[2])
  }
  return list
}

/** Whether `ip` (IPv4-mapped or not) is in `list`. */
export function inList(list: BlockList, remote: string | undefined): boolean {
  const ip = peerIp(remote)
  const family = ip === undefined ? 0 : isIP(ip)
  return family !== 0 && list.check(ip!, family === 4 ? 'ipv4' : 'ipv6')
}

/** Counts the connections it admitted; `release` each one when it closes. */
export interface Admission {
  /** Admit a peer (counted) or say why not; `trusted` skips `allow` (a load balancer's own health check). */
  admit(remoteAddress: string | undefined, trusted?: boolean): AdmissionRefusal | undefined
  release(remoteAddress: string | undefined): void
}

export function createAdmission(o: AdmissionOptions): Admission {
  const list = o.allow ? cidrList(o.allow) : undefined
  const perAddress = new Map<string, number>()
  let total = 0
  return {
    admit(remote, trusted = false) {
      const ip = peerIp(remote)
      if (list && !trusted && !inList(list, ip)) return 'address_not_allowed'
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
  /**
   * Connections come through a load balancer that sends a PROXY protocol header first
   * (gateway/transports/proxy-protocol.ts); absent or `off`: the peer is the device.
   */
  proxy?: { version: ProxyVersion; trusted: readonly string[]; headerTimeoutMs?: number } | undefined
  /** A connection refused by `limits` or by the PROXY protocol checks (it is already closed). */
  onRefused?(reason: AdmissionRefusal, address: string, detail?: string): void
  /** A connection ended, and why (idle timeouts and closes by the gateway are worth counting). */
  onClosed?(why: CloseWhy, address: string): void
  log: TcpServerLog
  /** Record every connection's bytes, both ways (gateway/core/recorder.ts; `smartcity gateway --record`). */
  record?: RecordTap | undefined
}

export interface Conn {
  /** The device's `ip:port`: the peer's, or the one a trusted proxy's PROXY header named. */
  readonly address: string
  /** The load balancer's `ip:port` when the connection came through one (PROXY protocol), else undefined. */
  readonly via: string | undefined
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
/** A trusted proxy sends its header at once (HAProxy does with the connection's first bytes). */
const PROXY_HEADER_TIMEOUT_MS = 10_000

/** What every connection of one server shares (so a connection holds one reference, not copies or closures). */
interface Shared {
  opts: TcpServerOptions
  admission: Admission
  /** Connections open or with queued work still running (stop waits for them). */
  live: Set<Connection>
  /** Connections whose socket is open. */
  open: number
  /** The idle wheel's clock: the time of its last turn, so a read costs no clock call. */
  now: number
  stopping: boolean
}

/**
 * One device connection. Its per-connection state is this object's fields and the socket (issue 15 item 6:
 * 50,000 terminals in 600 MB): the socket's listeners are shared functions that find the connection on the
 * socket, the work queue calls this object's `pause`/`resume`/`onError`, and idle time-outs are one wheel
 * per server (a sweep a second) instead of a timer per socket.
 */
class Connection implements Conn {
  handler: ConnHandler | undefined
  closed = false
  closedBy: CloseWhy | undefined
  lastActive: number
  private tokens: number
  private last = 0
  private badCount = 0
  private queue: Ordered | undefined
  readonly high = QUEUE_HIGH
  readonly low = QUEUE_LOW
  constructor(
    readonly shared: Shared,
    readonly socket: Socket,
    readonly address: string,
    /** The IP admission counted this connection under (released when it closes). */
    readonly admitted: string | undefined,
    readonly via: string | undefined,
    readonly rec: ReturnType<RecordTap['connection']> | undefined,
  ) {
    this.tokens = shared.opts.ratePerSec * 2
    this.lastActive = shared.now
  }
  // The work queue's hooks (OrderedOptions), called as methods of this connection.
  pause(): void {
    this.socket.pause()
  }
  resume(): void {
    if (!this.closed) this.socket.resume()
  }
  onError(err: unknown): void {
    this.shared.opts.log.error({ err, address: this.address }, 'frame handler failed')
  }
  enqueue(work: () => Promise<void>): void {
    this.queue ??= createOrdered(this)
    this.queue.push(work)
  }
  idle(): Promise<void> {
    return this.queue ? this.queue.idle() : Promise.resolve()
  }
  get busy(): boolean {
    return this.queue !== undefined && this.queue.size > 0
  }
  allow(now: number): boolean {
    const rate = this.shared.opts.ratePerSec
    if (this.last === 0) this.last = now
    this.tokens = Math.min(rate * 2, this.tokens + ((now - this.last) / 1000) * rate)
    this.last = now
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
  bad(): boolean {
    this.badCount++
    if (this.badCount >= this.shared.opts.maxBadFrames) {
      this.close()
      return true
    }
    return false
  }
  send(bytes: Buffer): void {
    if (!this.closed && this.socket.writable) {
      this.rec?.out(bytes)
      this.socket.write(bytes)
    }
  }
  close(): void {
    if (this.closed) return
    this.closedBy ??= 'closed_by_gateway'
    this.closed = true
    this.socket.end()
    // A peer that never reads must not keep the socket: give the FIN a moment, then destroy.
    const s = this.socket
    setTimeout(() => s.destroy(), 2000).unref()
  }
  /** Bytes from the device (after any PROXY header). */
  data(chunk: Buffer): void {
    if (this.closed) return
    this.lastActive = this.shared.now
    this.rec?.in(chunk)
    try {
      this.handler!.data(chunk)
    } catch (err) {
      // Framers and decoders never throw; this guards the process against a bug all the same.
      this.shared.opts.log.error({ err, address: this.address }, 'connection handler threw')
      this.close()
    }
  }
}

const CONN = Symbol('connection')
type ConnSocket = Socket & { [CONN]?: Connection }

function onData(this: ConnSocket, chunk: Buffer): void {
  this[CONN]?.data(chunk)
}
function onError(this: ConnSocket): void {
  const c = this[CONN]
  if (c) c.closedBy ??= 'error'
}
function onEnd(this: ConnSocket): void {
  const c = this[CONN]
  if (c) c.closedBy ??= 'end'
  this.end()
}
function onClose(this: ConnSocket): void {
  const c = this[CONN]
  if (!c) return
  const { shared } = c
  shared.admission.release(c.admitted)
  shared.open--
  if (c.busy) void c.idle().then(() => shared.live.delete(c))
  else shared.live.delete(c)
  c.closed = true
  c.rec?.close()
  const why = c.closedBy ?? (shared.stopping ? 'stopped' : 'end')
  try {
    shared.opts.onClosed?.(why, c.address)
  } catch (err) {
    shared.opts.log.error({ err, address: c.address }, 'connection close handler threw')
  }
  c.handler?.closed(why)
}
const ignore = (): void => {}

export function createTcpServer(opts: TcpServerOptions, onConnection: (conn: Conn) => ConnHandler): TcpServer {
  const shared: Shared = { opts, admission: createAdmission(opts.limits ?? {}), live: new Set(), open: 0, now: Date.now(), stopping: false }
  const trusted = opts.proxy ? cidrList(opts.proxy.trusted) : undefined
  /** Connections from a proxy whose header has not arrived yet. */
  const waiting = new Set<Socket>()
  let server: Server | undefined
  let wheel: NodeJS.Timeout | undefined
  const idleMs = opts.idleTimeoutSec * 1000

  function refuse(socket: Socket, reason: AdmissionRefusal, address: string, detail?: string): void {
    socket.on('error', ignore)
    socket.destroy()
    try {
      opts.onRefused?.(reason, address, detail)
    } catch (err) {
      opts.log.error({ err, address }, 'connection refusal handler threw')
    }
  }

  /** The connection's device is `ip` (`address` with its port); admitted or refused here. */
  function open(socket: Socket, ip: string | undefined, address: string, via: string | undefined, first: Buffer | undefined, skipAllow: boolean): void {
    const refused = skipAllow ? shared.admission.admit(ip, true) : shared.admission.admit(ip)
    if (refused) {
      refuse(socket, refused, address)
      return
    }
    socket.setNoDelay(true)
    const rec = opts.record?.connection({ transport: 'tcp', peer: address })
    const conn = new Connection(shared, socket, address, ip, via, rec)
    shared.live.add(conn)
    shared.open++
    ;(socket as ConnSocket)[CONN] = conn
    conn.handler = onConnection(conn)
    socket.on('data', onData)
    socket.on('error', onError)
    socket.on('end', onEnd)
    socket.on('close', onClose)
    if (first && first.length > 0) conn.data(first)
  }

  /** A trusted proxy's connection: its PROXY header first, then the device's bytes. */
  function awaitHeader(socket: Socket, peer: string): void {
    const version = opts.proxy!.version
    waiting.add(socket)
    let got: Buffer | undefined
    const timer = setTimeout(() => done('bad', `no complete PROXY ${version} header within ${(opts.proxy!.headerTimeoutMs ?? PROXY_HEADER_TIMEOUT_MS) / 1000} s`), opts.proxy!.headerTimeoutMs ?? PROXY_HEADER_TIMEOUT_MS)
    const onHeaderData = (chunk: Buffer) => {
      got = got ? Buffer.concat([got, chunk]) : chunk
      const r = parseProxyHeader(got, version)
      if (r.status === 'more') return
      if (r.status === 'bad') return done('bad', r.detail)
      const rest = got.subarray(r.header.length)
      if (r.header.command === 'local') return done('ok', undefined, peerIp(socket.remoteAddress), peer, undefined, rest)
      const ip = peerIp(r.header.source.address)
      done('ok', undefined, ip, `${ip}:${r.header.source.port}`, peer, rest)
    }
    const onEarlyClose = () => done('gone')
    function done(how: 'ok' | 'bad' | 'gone', detail?: string, ip?: string, address?: string, via?: string, rest?: Buffer): void {
      clearTimeout(timer)
      waiting.delete(socket)
      socket.off('data', onHeaderData)
      socket.off('close', onEarlyClose)
      socket.off('error', ignore)
      if (how === 'gone') return
      if (how === 'bad') {
        refuse(socket, 'proxy_header_invalid', peer, detail)
        return
      }
      if (shared.stopping) {
        socket.destroy()
        return
      }
      // LOCAL (a health check of the balancer) is the proxy's own connection: not held to `allow`.
      open(socket, ip, address!, via, rest, via === undefined)
    }
    socket.on('data', onHeaderData)
    socket.on('close', onEarlyClose)
    socket.on('error', ignore)
  }

  function accept(socket: Socket): void {
    if (shared.stopping) {
      socket.destroy()
      return
    }
    const remote = socket.remoteAddress
    if (remote === undefined) {
      // The peer reset the connection before it was accepted (a balancer's TCP health check does): nobody
      // to admit or refuse.
      socket.on('error', ignore)
      socket.destroy()
      return
    }
    const peer = `${remote}:${socket.remotePort ?? 0}`
    if (trusted) {
      // Before any byte is read: only the balancers may speak for devices (spec 7, "security considerations").
      if (!inList(trusted, remote)) refuse(socket, 'proxy_untrusted', peer, 'peer is not in trustedProxies')
      else awaitHeader(socket, peer)
      return
    }
    // Before any byte is read: a refused peer costs one accept and one close.
    open(socket, peerIp(remote), peer, undefined, undefined, false)
  }

  function sweep(): void {
    const now = Date.now()
    shared.now = now
    for (const c of shared.live) {
      if (!c.closed && now - c.lastActive > idleMs) {
        c.closedBy ??= 'idle_timeout'
        c.closed = true
        c.socket.destroy()
      }
    }
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
          shared.now = Date.now()
          // One wheel for every connection's idle time-out: a turn a second (a quarter of a short time-out).
          wheel = setInterval(sweep, Math.max(100, Math.min(1000, idleMs / 4)))
          wheel.unref()
          const a = srv.address()
          resolve(a && typeof a === 'object' ? { host: a.address, port: a.port } : { host: opts.host, port: opts.port })
        })
      })
    },
    async stop() {
      shared.stopping = true
      if (wheel) clearInterval(wheel)
      const closing = server ? new Promise<void>((r) => server!.close(() => r())) : Promise.resolve()
      for (const s of waiting) s.destroy()
      await Promise.all([...shared.live].map((c) => c.idle()))
      for (const c of shared.live) c.socket.destroy()
      await closing
    },
    connections: () => shared.open,
  }
}

/** Refuse input (count, dead-letter) and, unless `bad` is false, spend the connection's bad-frame budget. */
export type RejectFn = (reason: Reason, raw: Uint8Array | string, detail?: string, device?: string, bad?: boolean) => void

/**
 * The `data` of a connection handler: frame the bytes, refuse what the framer refuses, handle frames in
 * order. A function the session calls with its own framer and handlers (no closure per connection).
 */
export function pumpFrames<F>(framer: Framer<F>, chunk: Buffer, conn: Conn, reject: RejectFn, handle: (frame: F, raw: Buffer) => Promise<void>): void {
  for (const e of framer.push(chunk)) {
    if (!e.ok) {
      reject(e.reason, e.raw, e.detail)
      if (conn.closed) return
      continue
    }
    conn.enqueue(() => handle(e.frame, e.raw))
  }
}
