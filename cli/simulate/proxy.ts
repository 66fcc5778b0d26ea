/**
 * A TCP proxy the runner owns between the gateway and InfluxDB (the `influx_network` fault): it passes
 * bytes both ways, or (`drop`) closes every connection and refuses new ones (accepts and closes at once,
 * as a firewall's reset does), or (`delay`) holds each chunk `delayMs` in each direction, in order.
 */
import { createServer, type Server, type Socket, connect } from 'node:net'

export type ProxyMode = { mode: 'pass' } | { mode: 'drop' } | { mode: 'delay'; delayMs: number }

export interface TcpProxy {
  /** Where the proxy listens (127.0.0.1). */
  port: number
  set(mode: ProxyMode): void
  mode(): ProxyMode
  /** Connections accepted / refused (while dropping) so far. */
  stats(): { accepted: number; refused: number; open: number }
  close(): Promise<void>
}

export async function startProxy(target: { host: string; port: number }, listenPort = 0): Promise<TcpProxy> {
  let mode: ProxyMode = { mode: 'pass' }
  const pairs = new Set<{ a: Socket; b: Socket }>()
  let accepted = 0
  let refused = 0

  /** Copy `from` to `to`, each chunk held by the delay in force when it arrived (never overtaking). */
  const pipe = (from: Socket, to: Socket) => {
    let last = 0
    from.on('data', (chunk: Buffer) => {
      if (mode.mode !== 'delay') {
        if (!to.write(chunk)) from.pause()
        return
      }
      const due = Math.max(Date.now() + mode.delayMs, last)
      last = due
      setTimeout(() => {
        if (!to.destroyed) to.write(chunk)
      }, due - Date.now())
    })
    to.on('drain', () => from.resume())
    from.on('end', () => {
      const wait = Math.max(0, last - Date.now())
      setTimeout(() => to.end(), wait)
    })
  }

  const server: Server = createServer((a) => {
    if (mode.mode === 'drop') {
      refused++
      a.destroy()
      return
    }
    accepted++
    a.pause()
    const b = connect({ host: target.host, port: target.port })
    const pair = { a, b }
    pairs.add(pair)
    const done = () => {
      pairs.delete(pair)
      a.destroy()
      b.destroy()
    }
    a.on('error', done)
    b.on('error', done)
    a.on('close', done)
    b.on('close', done)
    b.once('connect', () => a.resume())
    pipe(a, b)
    pipe(b, a)
  })
  await new Promise<void>((ok, fail) => {
    server.once('error', fail)
    server.listen(listenPort, '127.0.0.1', () => ok())
  })
  const addr = server.address()
  const port = typeof addr === 'object' && addr ? addr.port : listenPort
  return {
    port,
    set(m) {
      mode = m
      if (m.mode === 'drop') {
        for (const p of pairs) {
          p.a.destroy()
          p.b.destroy()
        }
        pairs.clear()
      }
    },
    mode: () => mode,
    stats: () => ({ accepted, refused, open: pairs.size }),
    async close() {
      for (const p of pairs) {
        p.a.destroy()
        p.b.destroy()
      }
      pairs.clear()
      await new Promise<void>((ok) => server.close(() => ok()))
    },
  }
}
