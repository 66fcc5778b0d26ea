import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { createSerialLink, openSerial, SerialPortConfig } from '../../../gateway/transports/serial.ts'
import { createPtyPair, type PtyPair } from '../../../simulators/serial/pty.ts'
import { have, tempDir } from '../../helpers/env.ts'
import { waitFor } from '../../helpers/net.ts'

describe.skipIf(!have('socat'))('serial transport on socat pseudo-terminals', () => {
  const cleanups: (() => Promise<void> | void)[] = []
  afterEach(async () => {
    for (const c of cleanups.reverse()) await c()
    cleanups.length = 0
  })

  it('opens a port from the config (2400 8E1) and carries bytes both ways', async () => {
    const tmp = tempDir()
    cleanups.push(tmp.cleanup)
    const pty = await createPtyPair(join(tmp.dir, 'a'), join(tmp.dir, 'b'))
    cleanups.push(() => pty.stop())
    const cfg = SerialPortConfig.parse({ path: pty.b, baudRate: 2400, parity: 'even' })
    expect(cfg).toMatchObject({ dataBits: 8, stopBits: 1, parity: 'even' })
    const a = await openSerial(SerialPortConfig.parse({ path: pty.a }))
    const b = await openSerial(cfg)
    cleanups.push(() => {
      a.destroy()
      b.destroy()
    })
    const got: Buffer[] = []
    b.on('data', (d: Buffer) => got.push(d))
    a.write(Buffer.from([0x68, 0x01, 0x16]))
    await waitFor(() => Buffer.concat(got).length >= 3, 5000, 'bytes on b')
    expect(Buffer.concat(got)).toEqual(Buffer.from([0x68, 0x01, 0x16]))
    await expect(openSerial(SerialPortConfig.parse({ path: join(tmp.dir, 'missing') }))).rejects.toMatchObject({ code: 'serial_open_failed' })
  })

  it('the link reopens with back-off when the pty disappears and comes back, without a restart', async () => {
    const tmp = tempDir()
    cleanups.push(tmp.cleanup)
    const A = join(tmp.dir, 'gnss')
    const B = join(tmp.dir, 'gw')
    let pty: PtyPair = await createPtyPair(A, B)
    cleanups.push(() => pty.stop())
    const got: string[] = []
    const events: string[] = []
    const link = createSerialLink(SerialPortConfig.parse({ path: B, reconnectMinMs: 50, reconnectMaxMs: 400 }), {
      onData: (c) => got.push(c.toString()),
      onOpen: () => events.push('open'),
      onClose: (r) => events.push(`close:${r}`),
    })
    cleanups.push(() => link.stop())
    link.start()
    expect(await link.waitOpen(5000)).toBe(true)

    const send = async (text: string) => {
      const a: Duplex = await openSerial(SerialPortConfig.parse({ path: A }))
      await new Promise<void>((r) => a.write(text, () => r()))
      await waitFor(() => got.join('').includes(text), 5000, `"${text}" through the link`)
      a.destroy()
    }
    await send('before\n')

    // pull the "adapter": socat exits, both links vanish
    await pty.stop()
    await waitFor(() => !link.isOpen, 5000, 'the link to notice')
    expect(events.some((e) => e.startsWith('close:'))).toBe(true)
    await new Promise((r) => setTimeout(r, 600)) // a few failed reopen attempts (ENOENT)
    expect(link.stats.openFailures).toBeGreaterThan(0)

    // plug it back in: a new socat on the same paths
    pty = await createPtyPair(A, B)
    expect(await link.waitOpen(5000)).toBe(true)
    await send('after\n')
    expect(events.filter((e) => e === 'open')).toHaveLength(2)
    expect(link.stats.opens).toBe(2)
    await expect((async () => link.write(Buffer.from('x')))()).resolves.toBeUndefined()
    await link.stop()
    await expect(link.write(Buffer.from('x'))).rejects.toMatchObject({ code: 'serial_not_open' })
  })
})
