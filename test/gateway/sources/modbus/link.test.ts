import { describe, expect, it } from 'vitest'
import { encodeMbap } from '../../../../devices/common/modbus/mbap.ts'
import { encodeResponse } from '../../../../devices/common/modbus/pdu.ts'
import { createModbusLink } from '../../../../gateway/sources/modbus/link.ts'
import { startMbapPeer } from '../../../helpers/mbap-peer.ts'
import { freePort } from '../../../helpers/net.ts'

/**
 * The Modbus link on the transports (issue 11): the address table opens and reopens the stream, the one
 * matcher (one request in flight) takes the answer. A peer that drops the connection mid-request fails that
 * request at once as `disconnected` (not after the time-out), and the next request goes out on a new
 * connection; a late answer to a timed-out request is never taken for the next one.
 */
describe('modbus link', () => {
  it('fails a request at once when the peer drops, then reopens; ignores a late answer', async () => {
    let n = 0
    const peer = await startMbapPeer((frame, sock) => {
      const k = n++
      const answer = encodeMbap(frame.transaction, frame.unit, encodeResponse({ fc: 3, registers: [k] }))
      if (k === 0) sock.destroy()
      else if (k === 2) setTimeout(() => sock.write(answer), 300) // after the request's time-out
      else sock.write(answer)
    })
    const { port } = peer
    const link = createModbusLink({ framing: 'tcp', address: `tcp://127.0.0.1:${port}`, name: `127.0.0.1:${port}` })
    try {
      expect(link.address).toBe(`127.0.0.1:${port}`)
      const t0 = Date.now()
      const dropped = await link.request(1, { fc: 3, address: 0, quantity: 1 }, 2_000)
      expect(dropped).toMatchObject({ ok: false, code: 'disconnected' })
      expect(Date.now() - t0).toBeLessThan(1_500)
      const again = await link.request(1, { fc: 3, address: 0, quantity: 1 }, 2_000)
      expect(again).toMatchObject({ ok: true, response: { registers: [1] } })
      expect(await link.request(1, { fc: 3, address: 0, quantity: 1 }, 150)).toMatchObject({ ok: false, code: 'timeout' })
      await new Promise((r) => setTimeout(r, 300))
      // The late answer (registers [2]) arrived meanwhile and was dropped: this one gets its own.
      expect(await link.request(1, { fc: 3, address: 0, quantity: 1 }, 2_000)).toMatchObject({ ok: true, response: { registers: [3] } })
    } finally {
      await link.close()
      await peer.close()
    }
  })

  it('says connect_failed when nothing listens, within the request time-out', async () => {
    const port = await freePort()
    const link = createModbusLink({ framing: 'rtu', address: `rtu-over-tcp://127.0.0.1:${port}` })
    try {
      const t0 = Date.now()
      expect(await link.request(1, { fc: 3, address: 0, quantity: 1 }, 300)).toMatchObject({ ok: false, code: 'connect_failed' })
      expect(Date.now() - t0).toBeLessThan(2_000)
    } finally {
      await link.close()
    }
  })
})
