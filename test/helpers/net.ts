import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'

/**
 * A free TCP port on 127.0.0.1 for a server a test starts. Picked below the kernel's ephemeral range
 * (/proc/sys/net/ipv4/ip_local_port_range), checked by binding it: a port from that range (`listen(0)`) could
 * be taken, between this answer and the server's listen, as the source port of any outgoing connection of
 * the suite (a test with thousands of MQTT or TCP clients beside it), which failed a start with EADDRINUSE.
 */
export async function freePort(): Promise<number> {
  const low = ephemeralLow()
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * (low - 10_000))
    if (await canListen(port)) return port
  }
  throw new Error(`no free port between 10000 and ${low - 1} after 200 tries`)
}

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])
    return Number.isInteger(low) && low > 11_000 ? low : 32_768
  } catch {
    return 32_768
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer()
    srv.unref()
    srv.once('error', () => resolve(false))
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)))
  })
}

/** Poll `check` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs = 20_000, what = 'condition', everyMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v) return v as NonNullable<T>
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
