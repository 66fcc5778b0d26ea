/**
 * Serial transport on `serialport` (a real tty, a USB adapter, or a socat pseudo-terminal).
 *
 * The API is small on purpose so that every serial source (NMEA, DL/T 645, Modbus RTU) shares it:
 * - `SerialPortConfig` / `serialPortConfig(defaults)`: the zod config (path, baud, data bits, parity, stop bits).
 * - `openSerial(cfg)`: open once, resolve with the port as a `Duplex` (docs/style.md section 4: transports are
 *   streams). Rejects with a `SerialError` (code `serial_open_failed`).
 * - `createSerialLink(cfg, handlers)`: a link that stays up: when the port disappears (USB adapter pulled,
 *   pty removed) it closes, then reopens with exponential back-off as soon as the path is back, without a
 *   restart. Chunks go to `onData` exactly as the OS delivers them (split or concatenated): framing is the
 *   caller's job, and framers should `reset()` in `onOpen`.
 */
import type { Duplex } from 'node:stream'
import { SerialPort } from 'serialport'
import { z } from 'zod'
import { createBackoff } from './backoff.ts'

const Parity = z.enum(['none', 'even', 'odd', 'mark', 'space'])

export interface SerialDefaults {
  baudRate: number
  dataBits?: 5 | 6 | 7 | 8
  parity?: z.infer<typeof Parity>
  stopBits?: 1 | 1.5 | 2
}

/** A serial-port config schema with protocol-specific defaults (DL/T 645: 2400 8E1; NMEA: 9600 8N1). */
export function serialPortConfig(d: SerialDefaults) {
  return z.strictObject({
    /** Device path: `/dev/ttyUSB0`, `/dev/serial/by-id/...`, or a socat pty link. */
    path: z.string().min(1),
    baudRate: z.number().int().min(50).max(4_000_000).default(d.baudRate),
    dataBits: z.union([z.literal(5), z.literal(6), z.literal(7), z.literal(8)]).default(d.dataBits ?? 8),
    parity: Parity.default(d.parity ?? 'none'),
    stopBits: z.union([z.literal(1), z.literal(1.5), z.literal(2)]).default(d.stopBits ?? 1),
    /** Reopen back-off after the port disappears: starts at min, doubles up to max. */
    reconnectMinMs: z.number().int().min(10).max(60_000).default(250),
    reconnectMaxMs: z.number().int().min(10).max(600_000).default(5_000),
  })
}

export const SerialPortConfig = serialPortConfig({ baudRate: 9600 })
export type SerialPortConfig = z.infer<typeof SerialPortConfig>

/** Errors carry a stable code and the cause (docs/style.md section 6). */
export class SerialError extends Error {
  constructor(
    readonly code: 'serial_open_failed' | 'serial_not_open' | 'serial_write_failed',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'SerialError'
  }
}

/** Open the port once. The returned stream is the `SerialPort` itself (a Duplex). */
export function openSerial(cfg: Pick<SerialPortConfig, 'path' | 'baudRate' | 'dataBits' | 'parity' | 'stopBits'>): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const port = new SerialPort({
      path: cfg.path,
      baudRate: cfg.baudRate,
      dataBits: cfg.dataBits,
      parity: cfg.parity,
      stopBits: cfg.stopBits,
      autoOpen: false,
    })
    port.open((err) => {
      if (err) reject(new SerialError('serial_open_failed', `cannot open ${cfg.path}: ${err.message}`, { cause: err }))
      else resolve(port)
    })
  })
}

export interface SerialLinkHandlers {
  onData(chunk: Buffer): void
  /** The port is open (first time or after a reconnect). */
  onOpen?(): void
  /** The port went away (or failed to open the first time); it will be retried. */
  onClose?(reason: string): void
}

export interface SerialLinkStats {
  opens: number
  closes: number
  openFailures: number
  bytesIn: number
  bytesOut: number
}

export interface SerialLink {
  /** Begin opening (and keep the port open until `stop`). Does not wait for the port. */
  start(): void
  /** Close the port and stop reconnecting. */
  stop(): Promise<void>
  readonly isOpen: boolean
  /** Write and wait until the OS has taken the bytes. Rejects with serial_not_open when closed. */
  write(data: Buffer): Promise<void>
  /** Resolves once the port is open (immediately if it is); false after `timeoutMs` or `stop`. */
  waitOpen(timeoutMs: number): Promise<boolean>
  readonly stats: Readonly<SerialLinkStats>
  /** Why the port is closed, when it is (`ENOENT: ...`, `disconnected`...). */
  readonly lastError: string | undefined
}

export interface SerialLinkOptions {
  /** Injected opener (tests, in-memory pairs); default `openSerial`. */
  open?: (cfg: SerialPortConfig) => Promise<Duplex>
}

export function createSerialLink(cfg: SerialPortConfig, h: SerialLinkHandlers, opts: SerialLinkOptions = {}): SerialLink {
  const open = opts.open ?? openSerial
  let port: Duplex | undefined
  let running = false
  let timer: NodeJS.Timeout | undefined
  // Jitter 0.25: a delay is 75-100 % of its step (was 75-125 %, which could pass reconnectMaxMs).
  const backoff = createBackoff({ minMs: cfg.reconnectMinMs, maxMs: Math.max(cfg.reconnectMinMs, cfg.reconnectMaxMs), jitter: 0.25 })
  let lastError: string | undefined
  let waiters: ((ok: boolean) => void)[] = []
  const stats: SerialLinkStats = { opens: 0, closes: 0, openFailures: 0, bytesIn: 0, bytesOut: 0 }

  const schedule = () => {
    if (!running || timer) return
    timer = setTimeout(() => {
      timer = undefined
      void attempt()
    }, backoff.next())
    timer.unref?.()
  }

  const attempt = async () => {
    if (!running || port) return
    let p: Duplex
    try {
      p = await open(cfg)
    } catch (err) {
      stats.openFailures++
      const msg = err instanceof Error ? err.message : String(err)
      if (msg !== lastError) h.onClose?.(msg)
      lastError = msg
      schedule()
      return
    }
    if (!running) {
      p.destroy()
      return
    }
    port = p
    lastError = undefined
    backoff.reset()
    stats.opens++
    let gone = false
    const lost = (reason: string) => {
      if (gone) return
      gone = true
      if (port === p) port = undefined
      stats.closes++
      lastError = reason
      p.removeAllListeners('data')
      p.destroy()
      if (running) {
        h.onClose?.(reason)
        schedule()
      }
    }
    p.on('data', (chunk: Buffer) => {
      stats.bytesIn += chunk.length
      h.onData(chunk)
    })
    p.on('error', (err: Error) => lost(err.message))
    p.on('close', (err?: Error & { disconnected?: boolean }) => lost(err?.disconnected ? 'disconnected' : (err?.message ?? 'closed')))
    h.onOpen?.()
    const w = waiters
    waiters = []
    for (const f of w) f(true)
  }

  return {
    start() {
      if (running) return
      running = true
      backoff.reset()
      void attempt()
    },
    async stop() {
      running = false
      if (timer) clearTimeout(timer)
      timer = undefined
      const w = waiters
      waiters = []
      for (const f of w) f(false)
      const p = port
      port = undefined
      if (p && !p.destroyed) {
        await new Promise<void>((resolve) => {
          p.once('close', () => resolve())
          p.destroy()
          setTimeout(resolve, 1000).unref()
        })
      }
    },
    get isOpen() {
      return port !== undefined
    },
    write(data) {
      const p = port
      if (!p) return Promise.reject(new SerialError('serial_not_open', `${cfg.path} is not open${lastError ? ` (${lastError})` : ''}`))
      return new Promise((resolve, reject) => {
        p.write(data, (err) => {
          if (err) reject(new SerialError('serial_write_failed', `write to ${cfg.path} failed: ${err.message}`, { cause: err }))
          else {
            stats.bytesOut += data.length
            resolve()
          }
        })
      })
    },
    waitOpen(timeoutMs) {
      if (port) return Promise.resolve(true)
      if (!running) return Promise.resolve(false)
      return new Promise((resolve) => {
        const t = setTimeout(() => {
          waiters = waiters.filter((f) => f !== done)
          resolve(false)
        }, timeoutMs)
        const done = (ok: boolean) => {
          clearTimeout(t)
          resolve(ok)
        }
        waiters.push(done)
      })
    },
    stats,
    get lastError() {
      return lastError
    },
  }
}
