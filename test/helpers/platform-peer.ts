import { connect, type Socket } from 'node:net'
import { sleep } from './net.ts'
import { createJt808Framer, decodeJt808, type Jt808Message } from '../../devices/position/jt808/index.ts'
import { createHj212Framer, decodeHj212, type Hj212Message } from '../../devices/water-quality/hj212/index.ts'

/** A connection to a JT/T 808 or HJ 212 server, keeping every answer the server sent, decoded. */
export interface PlatformPeer {
  socket: Socket
  jt: Jt808Message[]
  hj: Hj212Message[]
  closed: Promise<void>
  isClosed(): boolean
}

/** Connect to `port` on 127.0.0.1 (from `from`, a loopback address of its own); resolves once connected. */
export async function dialPlatform(port: number, from = '127.0.0.1'): Promise<PlatformPeer> {
  const socket = connect({ host: '127.0.0.1', port, localAddress: from })
  socket.on('error', () => {})
  const jt: Jt808Message[] = []
  const hj: Hj212Message[] = []
  const jf = createJt808Framer()
  const hf = createHj212Framer()
  socket.on('data', (d: Buffer) => {
    for (const e of jf.push(d))
      if (e.ok) {
        const m = decodeJt808(e.frame)
        if (m.ok) jt.push(m.value)
      }
    for (const e of hf.push(d))
      if (e.ok) {
        const m = decodeHj212(e.frame)
        if (m.ok) hj.push(m.value)
      }
  })
  let closed = false
  const done = new Promise<void>((r) => socket.once('close', () => r()))
  void done.then(() => {
    closed = true
  })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve())
    socket.once('error', reject)
  })
  return { socket, jt, hj, closed: done, isClosed: () => closed }
}

/** Within `ms`: whether the server closed the connection. */
export async function closedWithin(p: Pick<PlatformPeer, 'closed' | 'isClosed'>, ms: number): Promise<boolean> {
  await Promise.race([p.closed, sleep(ms)])
  return p.isClosed()
}
