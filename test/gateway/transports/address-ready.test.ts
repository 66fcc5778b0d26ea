/** `Link.ready()`: a listening link's start can fail (EADDRINUSE) the way a source's start() must. */
import { createServer } from 'node:net'
import { describe, expect, it } from 'vitest'
import { createLink } from '../../../gateway/transports/address.ts'
import { freePort } from '../../helpers/net.ts'

describe('Link.ready', () => {
  it('tcp-listen: rejects with the listen error on a taken port, resolves once listening on a free one', async () => {
    const held = createServer()
    await new Promise<void>((r) => held.listen(0, '127.0.0.1', () => r()))
    const taken = (held.address() as { port: number }).port
    const bad = createLink(`tcp-listen://127.0.0.1:${taken}`)
    await expect(bad.ready()).rejects.toMatchObject({ code: 'EADDRINUSE', port: taken })
    await bad.close()
    await new Promise((r) => held.close(r))
    const port = await freePort()
    const good = createLink(`tcp-listen://127.0.0.1:${port}`)
    await good.ready()
    expect(good.listening()).toEqual({ host: '127.0.0.1', port })
    await good.close()
  })
  it('tcp: resolves at once, the dial going on with the back-off', async () => {
    const port = await freePort()
    const l = createLink(`tcp://127.0.0.1:${port}`, { reconnectMinMs: 50, reconnectMaxMs: 50 })
    await l.ready()
    expect(l.isOpen).toBe(false)
    await l.close()
  })
})
