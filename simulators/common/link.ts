/**
 * What the simulators that dial in share: a TCP link that frames what the platform sends back. Requests
 * waiting for their answers (by serial number or QN) use the gateway's matcher
 * (`gateway/transports/matcher.ts`: how bytes move is the same on both sides of the wire).
 */
import { connect, type Socket } from 'node:net'
import type { Framer } from '../../devices/common/result.ts'

/** Connect to `host:port`; every frame the platform sends goes to `onFrame`, the close to `onClose`. */
export function dialFramed(o: {
  host: string
  port: number
  /** The local address to dial from (a loopback alias such as 127.0.0.7: a device's own address in tests). */
  localAddress?: string | undefined
  framer: Framer<Buffer>
  onFrame(frame: Buffer): void
  onClose(): void
  onError?: ((err: Error) => void) | undefined
}): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: o.host, port: o.port, ...(o.localAddress ? { localAddress: o.localAddress } : {}) })
    s.setNoDelay(true)
    s.once('connect', () => resolve(s))
    s.once('error', reject)
    s.on('error', (e) => o.onError?.(e))
    s.on('data', (chunk: Buffer) => {
      for (const e of o.framer.push(chunk)) if (e.ok) o.onFrame(e.frame)
    })
    s.on('close', () => o.onClose())
  })
}

/** End the link and wait for it to close (destroyed after a second if the peer does not answer the FIN). */
export async function hangUp(s: Socket | undefined): Promise<void> {
  if (!s || s.destroyed) return
  await new Promise<void>((r) => {
    s.once('close', () => r())
    s.end()
    setTimeout(() => s.destroy(), 1000).unref()
  })
}
