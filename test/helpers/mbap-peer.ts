/**
 * A hand-made Modbus TCP peer on 127.0.0.1 for tests that need answers no real server gives (dropped
 * connections, late or malformed answers): every well-framed request goes to `answer` with its socket.
 */
import { createServer, type Socket } from 'node:net'
import { createMbapFramer, type MbapFrame } from '../../devices/common/modbus/mbap.ts'
import { freePort } from './net.ts'

export interface MbapPeer {
  port: number
  close(): Promise<void>
}

export async function startMbapPeer(answer: (frame: MbapFrame, sock: Socket) => void): Promise<MbapPeer> {
  const port = await freePort()
  const sockets = new Set<Socket>()
  const server = createServer((sock) => {
    sockets.add(sock)
    const framer = createMbapFramer()
    sock.on('error', () => {})
    sock.on('close', () => sockets.delete(sock))
    sock.on('data', (chunk: Buffer) => {
      for (const ev of framer.push(chunk)) if (ev.ok) answer(ev.frame, sock)
    })
  })
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()))
  return {
    port,
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}
