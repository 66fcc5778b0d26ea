import { connect, createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { createLink, formatAddress, type Link, parseAddress } from '../../../gateway/transports/address.ts'
import { createMatcher } from '../../../gateway/transports/matcher.ts'
import { openSerial, SerialPortConfig } from '../../../gateway/transports/serial.ts'
import { createPtyPair, type PtyPair } from '../../../simulators/serial/pty.ts'
import { have, tempDir } from '../../helpers/env.ts'
import { freePort, waitFor } from '../../helpers/net.ts'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.reverse()) await c()
  cleanups.length = 0
})

/** A TCP server on 127.0.0.1 that hands every accepted socket to `onSocket`. */
async function serve(port: number, onSocket: (s: Socket) => void): Promise<{ server: Server; sockets: Set<Socket>; stop(): Promise<void> }> {
  const sockets = new Set<Socket>()
  const server = createServer((s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => {})
    onSocket(s)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
  return {
    server,
    sockets,
    async stop() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}

function track(link: Link): Link {
  cleanups.push(() => link.close())
  return link
}

describe('parseAddress', () => {
  it('reads the four schemes and writes them back in one canonical spelling', () => {
    expect(parseAddress('tcp://127.0.0.1:502')).toEqual({ scheme: 'tcp', host: '127.0.0.1', port: 502 })
    expect(parseAddress('rtu-over-tcp://converter.local:4001')).toEqual({ scheme: 'rtu-over-tcp', host: 'converter.local', port: 4001 })
    expect(parseAddress('tcp-listen://[::1]:0')).toEqual({ scheme: 'tcp-listen', host: '::1', port: 0 })
    expect(parseAddress('serial:///dev/ttyUSB0?baud=2400&parity=even')).toEqual({
      scheme: 'serial',
      serial: { path: '/dev/ttyUSB0', baudRate: 2400, dataBits: 8, parity: 'even', stopBits: 1 },
    })
    expect(formatAddress(parseAddress('serial:///dev/ttyS1?baud=9600'))).toBe('serial:///dev/ttyS1?baud=9600&dataBits=8&parity=none&stopBits=1')
    expect(formatAddress(parseAddress('tcp-listen://[::1]:7000'))).toBe('tcp-listen://[::1]:7000')
    for (const s of ['tcp://127.0.0.1:502', 'rtu-over-tcp://h:1', 'serial:///dev/x?baud=4800&dataBits=7&parity=odd&stopBits=2'])
      expect(formatAddress(parseAddress(s))).toBe(s)
  })

  it('refuses a bad address with bad_address and says what is wrong', () => {
    const cases: [string, RegExp][] = [
      ['127.0.0.1:502', /scheme/],
      ['udp://127.0.0.1:502', /unknown scheme udp/],
      ['tcp://127.0.0.1', /host:port/],
      ['tcp://127.0.0.1:70000', /out of range/],
      ['tcp://127.0.0.1:0', /out of range/],
      ['serial://dev/ttyUSB0', /absolute/],
      ['serial:///dev/ttyUSB0?baudrate=9600', /unknown option baudrate/],
      ['serial:///dev/ttyUSB0?parity=maybe', /parity/],
      ['serial:///dev/ttyUSB0?baud=fast', /baudRate/],
    ]
    for (const [s, why] of cases) {
      expect(() => parseAddress(s), s).toThrow(why)
      expect(() => parseAddress(s), s).toThrow(expect.objectContaining({ code: 'bad_address' }))
    }
  })
})

describe('links on real TCP sockets (127.0.0.1)', () => {
  it('tcp://: a streaming reader gets its data, and when the peer goes away and comes back it is reopened with back-off', async () => {
    const port = await freePort()
    const greet = (s: Socket) => s.write('hello\n')
    let srv = await serve(port, greet)
    cleanups.push(() => srv.stop())
    const link = track(createLink(`tcp://127.0.0.1:${port}`, { reconnectMinMs: 50, reconnectMaxMs: 400, random: () => 0 }))
    const got: string[] = []
    const events: string[] = []
    link.on('open', (s) => {
      events.push('open')
      s.on('data', (c: Buffer) => got.push(c.toString()))
    })
    link.on('close', (r) => events.push(`close:${r}`))
    link.on('open_failed', (r) => events.push(`failed:${r}`))
    link.start()
    await waitFor(() => got.join('').includes('hello'), 5000, 'the greeting')
    expect(link.isOpen).toBe(true)

    // The peer goes away (server down: every redial is refused) ...
    await srv.stop()
    await waitFor(() => events.some((e) => e.startsWith('close:')), 5000, 'the close')
    const t0 = Date.now()
    await waitFor(() => link.stats.openFailures >= 3, 5000, 'a few refused redials', 10)
    const spent = Date.now() - t0
    // Back-off 50, 100, 200, ... ms: three failures take at least 50 + 100 ms, not a busy loop.
    expect(spent).toBeGreaterThanOrEqual(120)
    await new Promise((r) => setTimeout(r, 600))
    expect(link.stats.openFailures).toBeLessThan(12)
    // One open_failed per distinct reason in a row, not one per attempt.
    expect(events.filter((e) => e.startsWith('failed:'))).toHaveLength(1)
    expect(events.find((e) => e.startsWith('failed:'))).toMatch(/ECONNREFUSED/)
    expect(link.isOpen).toBe(false)
    expect(link.lastError).toMatch(/ECONNREFUSED/)

    // ... and comes back on the same port: reopened without a restart.
    got.length = 0
    srv = await serve(port, greet)
    await waitFor(() => got.join('').includes('hello'), 5000, 'the greeting after the comeback')
    expect(events.filter((e) => e === 'open')).toHaveLength(2)
    expect(link.stats).toMatchObject({ opens: 2, closes: 1 })
  })

  it('close() during back-off ends at once; waiting opens reject with link_closed, bounded ones with link_not_open', async () => {
    const port = await freePort() // nobody listens
    const link = createLink(`tcp://127.0.0.1:${port}`, { reconnectMinMs: 30_000, reconnectMaxMs: 60_000 })
    await expect(link.open({ waitMs: 50 })).rejects.toMatchObject({ code: 'link_not_open', message: expect.stringMatching(/ECONNREFUSED/) })
    expect(link.stats.openFailures).toBe(1)
    const waiting = link.open()
    const t0 = Date.now()
    await link.close()
    expect(Date.now() - t0).toBeLessThan(500)
    await expect(waiting).rejects.toMatchObject({ code: 'link_closed' })
    await expect(link.open()).rejects.toMatchObject({ code: 'link_closed' })
    expect(link.stats.openFailures).toBe(1)
  })

  it('close() while open closes the stream (the peer sees the end) and does not reopen', async () => {
    const port = await freePort()
    let peerClosed = 0
    const srv = await serve(port, (s) => s.on('close', () => peerClosed++))
    cleanups.push(() => srv.stop())
    const link = createLink(`tcp://127.0.0.1:${port}`, { reconnectMinMs: 10 })
    const s = await link.open({ waitMs: 5000 })
    expect(s.writable).toBe(true)
    await link.close()
    await waitFor(() => peerClosed === 1, 5000, 'the peer to see the close')
    await new Promise((r) => setTimeout(r, 100))
    expect(srv.sockets.size).toBe(0)
    expect(link.stats).toMatchObject({ opens: 1, closes: 1 })
  })

  it('rtu-over-tcp://: a polling master opens before each request and matches answers; a drop mid-way is survived', async () => {
    // An "RTU over TCP converter" that echoes every byte back (a loopback plug): the request is its answer.
    const port = await freePort()
    const srv = await serve(port, (s) => s.on('data', (c: Buffer) => s.write(c)))
    cleanups.push(() => srv.stop())
    const link = track(createLink(`rtu-over-tcp://127.0.0.1:${port}`, { reconnectMinMs: 20, reconnectMaxMs: 100 }))
    const answers = createMatcher<never, Buffer>({ maxPending: 1 })
    let attached: Duplex | undefined
    const request = async (frame: Buffer): Promise<Buffer> => {
      const s = await link.open({ waitMs: 2000 })
      if (s !== attached) {
        attached = s
        s.on('data', (c: Buffer) => answers.settle(c))
        s.on('close', () => answers.failAll(new Error('disconnected')))
      }
      const answer = answers.wait((b) => b[0] === frame[0], { timeoutMs: 2000, what: `answer of unit ${frame[0]}` })
      s.write(frame)
      return answer
    }
    // Read holding register 0 of unit 1 (Modbus over serial line V1.02, 2.5.1.2: address, function, data, CRC).
    const req = Buffer.from([0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0a])
    expect(await request(req)).toEqual(req)
    for (const s of srv.sockets) s.destroy() // the converter reboots
    await waitFor(() => link.stats.closes === 1, 5000, 'the drop', 5)
    expect(await request(req)).toEqual(req)
    expect(link.stats.opens).toBe(2)
  })

  it('tcp-listen://: holds one peer at a time; a newer peer replaces the older, and a peer that leaves is followed by the next', async () => {
    const link = track(createLink('tcp-listen://127.0.0.1:0'))
    const got: string[] = []
    const closes: string[] = []
    link.on('open', (s) => s.on('data', (c: Buffer) => got.push(c.toString())))
    link.on('close', (r) => closes.push(r))
    link.start()
    const where = await waitFor(() => link.listening(), 5000, 'the server to listen')
    expect(where.host).toBe('127.0.0.1')
    const dial = () =>
      new Promise<Socket>((resolve) => {
        const c = connect({ host: '127.0.0.1', port: where.port }, () => resolve(c))
        c.on('error', () => {})
        c.resume() // read (and drop) what the link sends, so the FIN is seen
        cleanups.push(() => void c.destroy())
      })

    const first = await dial()
    const firstClosed = new Promise<void>((r) => first.once('close', () => r()))
    first.write('one\n')
    await waitFor(() => got.join('').includes('one'), 5000, 'the first peer')
    const stream = await link.open({ waitMs: 1000 })
    stream.write('to-first\n')

    const second = await dial()
    await firstClosed // replaced
    second.write('two\n')
    await waitFor(() => got.join('').includes('two'), 5000, 'the second peer')
    const fromLink: string[] = []
    second.on('data', (c: Buffer) => fromLink.push(c.toString()))
    ;(await link.open({ waitMs: 1000 })).write('to-second\n')
    await waitFor(() => fromLink.join('').includes('to-second'), 5000, 'the link writing to the second peer')

    second.destroy()
    await waitFor(() => closes.length === 2 && !link.isOpen, 5000, 'the second peer leaving')
    const third = await dial()
    third.write('three\n')
    await waitFor(() => got.join('').includes('three'), 5000, 'the third peer')
    expect(link.stats).toMatchObject({ opens: 3, closes: 2 })

    const t0 = Date.now()
    await link.close()
    expect(Date.now() - t0).toBeLessThan(1500)
    // The server is gone with the link: a new peer is refused.
    const refused = await new Promise<Error>((resolve) => connect({ host: '127.0.0.1', port: where.port }).once('error', resolve))
    expect(refused.message).toMatch(/ECONNREFUSED/)
  })

  it('tcp-listen://: a port already taken is an open failure, retried with back-off', async () => {
    const port = await freePort()
    const srv = await serve(port, () => {})
    cleanups.push(() => srv.stop())
    const link = track(createLink(`tcp-listen://127.0.0.1:${port}`, { reconnectMinMs: 20, reconnectMaxMs: 50 }))
    const failures: string[] = []
    link.on('open_failed', (r) => failures.push(r))
    link.start()
    await waitFor(() => link.stats.openFailures >= 2, 5000, 'two failed listens')
    expect(failures[0]).toMatch(/EADDRINUSE/)
    expect(link.listening()).toBeUndefined()
  })
})

describe.skipIf(!have('socat'))('serial:// links on socat pseudo-terminals', () => {
  it('opens the port with the address options, and when the pty disappears and comes back it is reopened with back-off', async () => {
    const tmp = tempDir()
    cleanups.push(tmp.cleanup)
    const A = join(tmp.dir, 'meter')
    const B = join(tmp.dir, 'gw')
    let pty: PtyPair = await createPtyPair(A, B)
    cleanups.push(() => pty.stop())
    const link = track(createLink(`serial://${B}?baud=2400&parity=even`, { reconnectMinMs: 50, reconnectMaxMs: 400 }))
    const got: string[] = []
    const events: string[] = []
    link.on('open', (s) => {
      events.push('open')
      s.on('data', (c: Buffer) => got.push(c.toString()))
    })
    link.on('close', (r) => events.push(`close:${r}`))
    await link.open({ waitMs: 5000 })

    const send = async (text: string) => {
      const a = await openSerial(SerialPortConfig.parse({ path: A, baudRate: 2400, parity: 'even' }))
      await new Promise<void>((r) => a.write(text, () => r()))
      await waitFor(() => got.join('').includes(text), 5000, `"${text}" through the link`)
      a.destroy()
    }
    await send('before\n')

    await pty.stop() // the USB adapter is pulled
    await waitFor(() => !link.isOpen, 5000, 'the link to notice')
    expect(events.some((e) => e.startsWith('close:'))).toBe(true)
    await waitFor(() => link.stats.openFailures > 0, 5000, 'a failed reopen (ENOENT)')
    expect(link.lastError).toMatch(/cannot open/)

    pty = await createPtyPair(A, B) // and plugged back in
    await link.open({ waitMs: 5000 })
    await send('after\n')
    expect(events.filter((e) => e === 'open')).toHaveLength(2)

    const t0 = Date.now()
    await link.close()
    expect(Date.now() - t0).toBeLessThan(1500)
    expect(link.isOpen).toBe(false)
  })
})
