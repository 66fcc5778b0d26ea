/** Errors with a stable code and a cause (fastify lib/errors.js style). */
export class GatewayError extends Error {
  readonly code: string
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = 'GatewayError'
  }
}

/**
 * A component could not start (a port already taken, a profile that does not load, ...). `component`
 * names it (`http`, `mqtt`, `mqtt-ws`, `source.jt808`), `id` the configured instance where there is one,
 * `address` where it was to listen. The message is the one line an operator reads:
 * `cannot start http on 127.0.0.1:8080: address already in use (EADDRINUSE)`.
 */
export class StartError extends GatewayError {
  readonly component: string
  readonly id: string | undefined
  readonly address: string | undefined

  constructor(component: string, cause: unknown, where: { id?: string; address?: string } = {}) {
    const address = where.address ?? addressOf(cause)
    const name = where.id !== undefined ? `${component} "${where.id}"` : component
    super('start_failed', `cannot start ${name}${address ? ` on ${address}` : ''}: ${causeText(cause)}`, { cause })
    this.name = 'StartError'
    this.component = component
    this.id = where.id
    this.address = address
  }
}

type SystemError = Error & { code?: string; syscall?: string; address?: string; port?: number }

/** `host:port` of a failed listen (Node puts both on the error). */
function addressOf(err: unknown): string | undefined {
  const e = err as SystemError | undefined
  if (typeof e?.address !== 'string') return undefined
  return e.port !== undefined ? `${e.address.includes(':') ? `[${e.address}]` : e.address}:${e.port}` : e.address
}

/** `address already in use (EADDRINUSE)` from Node's `listen EADDRINUSE: address already in use 127.0.0.1:8080`. */
function causeText(err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  const e = err as SystemError
  let m = e.message
  if (typeof e.code !== 'string' || typeof e.syscall !== 'string') return m
  const prefix = `${e.syscall} ${e.code}: `
  if (m.startsWith(prefix)) m = m.slice(prefix.length)
  if (typeof e.address === 'string') {
    const suffix = ` ${e.address}${e.port !== undefined ? `:${e.port}` : ''}`
    if (m.endsWith(suffix)) m = m.slice(0, -suffix.length)
  }
  return `${m} (${e.code})`
}
