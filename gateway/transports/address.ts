/**
 * One table from an address string to a byte stream that stays up: the link every source and simulator
 * opens instead of its own dial/accept/reopen loop.
 *
 * | address                                                             | what it is                              |
 * |---------------------------------------------------------------------|-----------------------------------------|
 * | `tcp://host:port`                                                   | TCP client; redials after a drop         |
 * | `rtu-over-tcp://host:port`                                          | the same TCP client, carrying RTU frames (named for clarity) |
 * | `tcp-listen://host:port`                                            | TCP server holding one peer at a time (an RSU lane controller, the server end of RTU over TCP); a newer peer replaces the older one, which is most likely a half-dead link the peer has given up on |
 * | `serial:///dev/ttyUSB0?baud=9600&dataBits=8&parity=none&stopBits=1` | a serial port through `serial.ts`; reopened when the path comes back |
 *
 * `parseAddress(s)` checks the string (an `AddressError` with code `bad_address` names what is wrong);
 * `createLink(address, options)` returns a `Link`:
 * - `start()` begins opening and keeps a stream open until `close()`: after a failed open or a lost stream
 *   it waits with the back-off (`reconnectMinMs` doubling to `reconnectMaxMs`, reset once open) and tries
 *   again. A `tcp-listen` link keeps its server listening and takes the next peer at once.
 * - `on('open', (stream) => ...)` fires for every new stream (the first and each reopen): a streaming
 *   source (NMEA, ETC) attaches its `data` handler there and resets its framer. `on('close', reason)`
 *   fires when a stream is lost; `on('open_failed', reason)` when an open fails (once per distinct reason
 *   in a row, so a log does not fill while a port stays absent). Each `on` returns its unsubscribe.
 * - `open({ waitMs })` (starts the link if needed) resolves with the open stream, or the next one; it
 *   rejects with `link_not_open` after `waitMs` (default: no limit) and `link_closed` after `close()`.
 *   A polling master (Modbus RTU, DL/T 645) calls it before each request with its request timeout, writes
 *   the request on the stream and matches the answer (`matcher.ts`).
 * - `ready()` starts the link; for `tcp-listen` it resolves once the server listens and rejects with the
 *   first listen's error (EADDRINUSE), for a listening source's `start()`.
 * - `close()` stops for good, at once even during a back-off wait, and resolves once the stream is closed.
 *
 *   const link = createLink('tcp://127.0.0.1:4001', { reconnectMinMs: 250, reconnectMaxMs: 5_000 })
 *   link.on('open', (s) => { framer.reset(); s.on('data', (c) => pump(c)) })
 *   link.start()
 *   // ...
 *   await link.close()
 */
import { connect, createServer, type Server, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { createBackoff } from './backoff.ts'
import type { RecordConn, RecordTap, RecordTransport } from './record.ts'
import { openSerial, SerialPortConfig } from './serial.ts'
import { type AdmissionOptions, type AdmissionRefusal, createAdmission } from './tcp-server.ts'
import { sleep } from './timers.ts'

export type Address =
  | { scheme: 'tcp' | 'rtu-over-tcp' | 'tcp-listen'; host: string; port: number }
  | { scheme: 'serial'; serial: Pick<SerialPortConfig, 'path' | 'baudRate' | 'dataBits' | 'parity' | 'stopBits'> }

export type AddressErrorCode = 'bad_address' | 'link_not_open' | 'link_closed'

export class AddressError extends Error {
  constructor(
    readonly code: AddressErrorCode,
    message: string,
  ) {
    super(message)
    this.name = 'AddressError'
  }
}

const SERIAL_KEYS: Record<string, 'baudRate' | 'dataBits' | 'parity' | 'stopBits'> = {
  baud: 'baudRate',
  dataBits: 'dataBits',
  parity: 'parity',
  stopBits: 'stopBits',
}

/** Check and split an address string; throws `AddressError('bad_address')` naming the problem. */
export function parseAddress(s: string): Address {
  const bad = (why: string) => new AddressError('bad_address', `bad address ${JSON.stringify(s)}: ${why}`)
  const m = /^([a-z][a-z-]*):\/\/(.*)$/.exec(s)
  if (!m) throw bad('expected scheme://... (tcp, tcp-listen, rtu-over-tcp, serial)')
  const scheme = m[1]!
  if (scheme === 'tcp' || scheme === 'rtu-over-tcp' || scheme === 'tcp-listen') {
    const hp = /^(\[[0-9a-fA-F:.]+\]|[^:/?#[\]]+):(\d{1,5})$/.exec(m[2]!)
    if (!hp) throw bad('expected host:port')
    const port = Number(hp[2])
    if (port > 65535 || (port === 0 && scheme !== 'tcp-listen')) throw bad(`port ${port} out of range`)
    return { scheme, host: hp[1]!.replace(/^\[(.*)\]$/, '$1'), port }
  }
  if (scheme === 'serial') {
    const [path = '', query = ''] = m[2]!.split('?', 2)
    if (!path.startsWith('/')) throw bad('expected serial:///absolute/path')
    const raw: Record<string, unknown> = { path }
    for (const [k, v] of new URLSearchParams(query)) {
      const key = SERIAL_KEYS[k]
      if (!key) throw bad(`unknown option ${k} (known: ${Object.keys(SERIAL_KEYS).join(', ')})`)
      raw[key] = key === 'parity' ? v : Number(v)
    }
    const r = SerialPortConfig.safeParse(raw)
    if (!r.success) throw bad(r.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; '))
    const { path: p, baudRate, dataBits, parity, stopBits } = r.data
    return { scheme, serial: { path: p, baudRate, dataBits, parity, stopBits } }
  }
  throw bad(`unknown scheme ${scheme} (known: tcp, tcp-listen, rtu-over-tcp, serial)`)
}

/** The canonical string of an address (serial options always spelled out). */
export function formatAddress(a: Address): string {
  if (a.scheme === 'serial') {
    const c = a.serial
    return `serial://${c.path}?baud=${c.baudRate}&dataBits=${c.dataBits}&parity=${c.parity}&stopBits=${c.stopBits}`
  }
  return `${a.scheme}://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`
}

export interface LinkOptions {
  /** First wait before reopening (ms, default 250); doubles per failure up to `reconnectMaxMs`. */
  reconnectMinMs?: number
  /** Longest wait before reopening (ms, default 5000). */
  reconnectMaxMs?: number
  /** A TCP connect that takes longer fails (ms, default 5000). */
  connectTimeoutMs?: number
  /** Random source for the back-off's jitter (tests). */
  random?: () => number
  /** Injected opener instead of the scheme's own (tests, in-memory pairs). */
  open?: (a: Address, signal: AbortSignal) => Promise<Duplex>
  /** `tcp-listen`: who may connect (tcp-server.ts `createAdmission`: `allow` CIDR ranges); a refused peer is closed at once. */
  admission?: AdmissionOptions
  /** `tcp-listen`: a peer `admission` refused (already closed). */
  onRefused?: (reason: AdmissionRefusal, address: string) => void
  /** Record each stream's bytes both ways (gateway/core/recorder.ts), named as `recordAs` (default tcp/serial). */
  record?: RecordTap | undefined
  recordAs?: RecordTransport
}

/**
 * Tap a stream for the recorder: what it reads (a `data` listener, added before the link's users add
 * theirs, so a recorded answer follows its request) and what anyone writes on it (its `write`, wrapped on
 * this one instance, so every source's writes are recorded without each calling the recorder).
 */
function tapStream(s: Duplex, rc: RecordConn): void {
  s.on('data', (chunk: Buffer) => rc.in(chunk))
  const write = s.write
  s.write = function (this: Duplex, chunk: unknown, ...rest: unknown[]): boolean {
    rc.out(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array))
    return (write as (...a: unknown[]) => boolean).apply(this, [chunk, ...rest])
  } as Duplex['write']
  s.once('close', () => rc.close())
}

function peerOf(a: Address, s: Duplex): string {
  if (a.scheme === 'serial') return a.serial.path
  const sock = s as Partial<Socket>
  if (a.scheme === 'tcp-listen' && sock.remoteAddress !== undefined) return `${sock.remoteAddress}:${sock.remotePort ?? 0}`
  return `${a.host}:${a.port}`
}

export interface LinkStats {
  opens: number
  closes: number
  openFailures: number
}

interface LinkEvents {
  open: (stream: Duplex) => void
  close: (reason: string) => void
  open_failed: (reason: string) => void
}

export interface Link {
  readonly address: string
  /** Begin opening; keep a stream open until `close()`. Idempotent. */
  start(): void
  /**
   * Start; for `tcp-listen`, resolve once the server listens or reject with the error of the first listen
   * (EADDRINUSE...), so a source's `start()` can fail as the gateway's start-up expects. Other schemes
   * resolve at once (their opens are retried with the back-off).
   */
  ready(): Promise<void>
  /** The open stream, or the next one; rejects with `link_not_open` after `waitMs`, `link_closed` after close. */
  open(o?: { waitMs?: number }): Promise<Duplex>
  on<E extends keyof LinkEvents>(event: E, cb: LinkEvents[E]): () => void
  /** Stop for good (at once, also during a back-off wait); resolves once the stream has closed. */
  close(): Promise<void>
  readonly isOpen: boolean
  /** Why the link is not open, when it is not (`ECONNREFUSED ...`, `closed`...). */
  readonly lastError: string | undefined
  /** Where a `tcp-listen` link listens (its port when 0 was asked for), once listening. */
  listening(): { host: string; port: number } | undefined
  readonly stats: Readonly<LinkStats>
}

function dial(host: string, port: number, timeoutMs: number, signal: AbortSignal): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port })
    s.setNoDelay(true)
    const fail = (err: Error) => {
      clearTimeout(t)
      signal.removeEventListener('abort', onAbort)
      s.destroy()
      reject(err)
    }
    const onAbort = () => fail(new AddressError('link_closed', 'link closed'))
    const t = setTimeout(() => fail(new Error(`connect to ${host}:${port} timed out after ${timeoutMs} ms`)), timeoutMs)
    signal.addEventListener('abort', onAbort, { once: true })
    s.once('error', fail)
    s.once('connect', () => {
      clearTimeout(t)
      signal.removeEventListener('abort', onAbort)
      s.off('error', fail)
      resolve(s)
    })
  })
}

export function createLink(address: string | Address, o: LinkOptions = {}): Link {
  const a = typeof address === 'string' ? parseAddress(address) : address
  const name = formatAddress(a)
  const minMs = o.reconnectMinMs ?? 250
  const backoff = createBackoff({ minMs, maxMs: Math.max(minMs, o.reconnectMaxMs ?? 5_000), jitter: 0.25, ...(o.random ? { random: o.random } : {}) })
  const stop = new AbortController()
  const listeners: { [E in keyof LinkEvents]: Set<LinkEvents[E]> } = { open: new Set(), close: new Set(), open_failed: new Set() }
  const stats: LinkStats = { opens: 0, closes: 0, openFailures: 0 }
  let current: Duplex | undefined
  let lastError: string | undefined
  let loop: Promise<void> | undefined
  let waiters: { ok: (s: Duplex) => void; fail: (e: Error) => void }[] = []

  // tcp-listen: one server for the link's life; the newest peer not yet taken waits in `incoming`.
  let server: Server | undefined
  let bound: { host: string; port: number } | undefined
  let incoming: Socket | undefined
  let takePeer: ((s: Socket) => void) | undefined
  let firstListen: Promise<void> | undefined

  const emit = <E extends keyof LinkEvents>(e: E, ...args: Parameters<LinkEvents[E]>) => {
    for (const cb of listeners[e]) {
      try {
        ;(cb as (...x: Parameters<LinkEvents[E]>) => void)(...args)
      } catch {
        // A listener's bug must not stop the link.
      }
    }
  }

  const admission = o.admission ? createAdmission(o.admission) : undefined

  function listen(host: string, port: number): Promise<void> {
    if (server) return Promise.resolve()
    const p = new Promise<void>((resolve, reject) => {
      const srv = createServer({ noDelay: true }, (s) => {
        if (stop.signal.aborted) return void s.destroy()
        s.on('error', () => {}) // 'close' follows; the link reports it
        if (admission) {
          const remote = s.remoteAddress
          const refused = admission.admit(remote)
          if (refused) {
            s.destroy()
            o.onRefused?.(refused, `${remote ?? '?'}:${s.remotePort ?? 0}`)
            return
          }
          s.once('close', () => admission.release(remote))
        }
        if (takePeer) {
          const t = takePeer
          takePeer = undefined
          t(s)
          return
        }
        incoming?.destroy()
        incoming = s
        // A newer peer replaces the one we hold (its close lets the loop take the newcomer).
        current?.destroy()
      })
      srv.once('error', reject)
      srv.listen({ host, port }, () => {
        srv.off('error', reject)
        srv.on('error', () => {})
        server = srv
        const ad = srv.address()
        bound = ad && typeof ad === 'object' ? { host: ad.address, port: ad.port } : { host, port }
        resolve()
      })
    })
    firstListen ??= p
    return p
  }

  async function openOnce(signal: AbortSignal): Promise<Duplex> {
    if (o.open) return o.open(a, signal)
    if (a.scheme === 'serial') return openSerial(a.serial)
    if (a.scheme === 'tcp' || a.scheme === 'rtu-over-tcp') return dial(a.host, a.port, o.connectTimeoutMs ?? 5_000, signal)
    await listen(a.host, a.port)
    const ready = incoming
    incoming = undefined
    if (ready && !ready.destroyed) return ready
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        takePeer = undefined
        reject(new AddressError('link_closed', 'link closed'))
      }
      signal.addEventListener('abort', onAbort, { once: true })
      takePeer = (s) => {
        signal.removeEventListener('abort', onAbort)
        resolve(s)
      }
    })
  }

  async function run(): Promise<void> {
    let lastFailure: string | undefined
    while (!stop.signal.aborted) {
      let s: Duplex
      try {
        s = await openOnce(stop.signal)
      } catch (err) {
        if (stop.signal.aborted) break
        stats.openFailures++
        const msg = err instanceof Error ? err.message : String(err)
        lastError = msg
        if (msg !== lastFailure) emit('open_failed', msg)
        lastFailure = msg
        if (!(await sleep(backoff.next(), stop.signal))) break
        continue
      }
      if (stop.signal.aborted) {
        s.destroy()
        break
      }
      lastFailure = undefined
      lastError = undefined
      backoff.reset()
      stats.opens++
      const reason = await new Promise<string>((resolve) => {
        let why: string | undefined
        s.on('error', (err: Error) => {
          why ??= err.message
        })
        s.once('close', (err?: Error & { disconnected?: boolean }) => {
          stop.signal.removeEventListener('abort', onStop)
          resolve(why ?? (err?.disconnected ? 'disconnected' : err instanceof Error ? err.message : 'closed'))
        })
        const onStop = () => s.destroy()
        stop.signal.addEventListener('abort', onStop, { once: true })
        const rc = o.record?.connection({ transport: o.recordAs ?? (a.scheme === 'serial' ? 'serial' : 'tcp'), peer: peerOf(a, s), address: name })
        if (rc) tapStream(s, rc)
        current = s
        emit('open', s)
        const w = waiters
        waiters = []
        for (const x of w) x.ok(s)
      })
      current = undefined
      stats.closes++
      lastError = reason
      if (stop.signal.aborted) break
      emit('close', reason)
      // A listening link takes its next peer at once; a dialling one waits first (a peer that accepts and
      // drops at once must not make us spin).
      if (a.scheme !== 'tcp-listen' && !(await sleep(backoff.next(), stop.signal))) break
    }
  }

  const link: Link = {
    address: name,
    start() {
      if (loop || stop.signal.aborted) return
      loop = run()
    },
    async ready() {
      link.start()
      if (a.scheme === 'tcp-listen' && !o.open) await firstListen
    },
    open(opts = {}) {
      if (stop.signal.aborted) return Promise.reject(new AddressError('link_closed', `${name} is closed`))
      link.start()
      if (current && !current.destroyed) return Promise.resolve(current)
      return new Promise((resolve, reject) => {
        let t: NodeJS.Timeout | undefined
        const w = {
          ok: (s: Duplex) => {
            if (t) clearTimeout(t)
            resolve(s)
          },
          fail: (e: Error) => {
            if (t) clearTimeout(t)
            reject(e)
          },
        }
        if (opts.waitMs !== undefined) {
          t = setTimeout(() => {
            waiters = waiters.filter((x) => x !== w)
            reject(new AddressError('link_not_open', `${name} is not open${lastError ? ` (${lastError})` : ''}`))
          }, opts.waitMs)
        }
        waiters.push(w)
      })
    },
    on(event, cb) {
      listeners[event].add(cb)
      return () => listeners[event].delete(cb)
    },
    async close() {
      stop.abort()
      const w = waiters
      waiters = []
      for (const x of w) x.fail(new AddressError('link_closed', `${name} is closed`))
      incoming?.destroy()
      incoming = undefined
      const s = current
      if (s && !s.destroyed) {
        await new Promise<void>((resolve) => {
          s.once('close', () => resolve())
          s.destroy()
          setTimeout(resolve, 1_000).unref()
        })
      }
      await loop
      const srv = server
      server = undefined
      if (srv) await new Promise<void>((r) => srv.close(() => r()))
    },
    get isOpen() {
      return current !== undefined && !current.destroyed
    },
    get lastError() {
      return lastError
    },
    listening: () => bound,
    stats,
  }
  return link
}
