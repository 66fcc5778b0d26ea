/**
 * The ETC source over the transports' one link (gateway/transports/address.ts, issue 11): client mode
 * redials with the back-off until the RSU is there (here spelled with the deprecated `reconnectMs`), and
 * server mode holds one RSU at a time, a newer connection replacing the older.
 */
import { connect, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { createRsuFramer, decodeRsuFrame } from '../../../devices/etc/rsu/index.ts'
import type { Source } from '../../../gateway/core/types.ts'
import { createEtcRsuSource } from '../../../gateway/sources/etc-rsu/index.ts'
import { type RsuSim, startRsuSim } from '../../../simulators/etc/rsu.ts'
import { makeBlacklist } from '../../../simulators/etc/traffic.ts'
import { freePort, waitFor } from '../../helpers/net.ts'
import { recordingContext } from './record-context.ts'

/** A raw RSU end: the frame types the lane controller sent it. */
function rawRsu(port: number): Promise<{ s: Socket; types: string[]; closed: () => boolean }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port })
    const framer = createRsuFramer()
    const types: string[] = []
    let closed = false
    s.on('data', (c: Buffer) => {
      for (const ev of framer.push(c)) if (ev.ok) types.push(((d) => (d.ok ? d.value.type : d.reason))(decodeRsuFrame(ev.frame)))
    })
    s.on('close', () => {
      closed = true
    })
    s.once('error', reject)
    s.once('connect', () => resolve({ s, types, closed: () => closed }))
  })
}

describe('ETC source links', () => {
  let sim: RsuSim | undefined
  let src: Source | undefined
  const sockets: Socket[] = []
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy()
    await src?.stop()
    await sim?.stop()
    src = undefined
    sim = undefined
  })

  it('client mode keeps redialling an RSU that is not up yet, then runs its passages', async () => {
    const port = await freePort()
    const rec = recordingContext()
    const blacklist = makeBlacklist(3)
    // The lane's passage time-out and the RSU's wait for an answer leave room for a loaded machine (a
    // passage's frames a second apart still belong together); only the lost-frame passages wait them out.
    src = createEtcRsuSource({ type: 'etc-rsu', device: 'rsu-c1', port, blacklist, reconnectMs: 100, reconnectMaxMs: 200, transactionTimeoutMs: 1_500 })
    await src.start(rec)
    await new Promise((r) => setTimeout(r, 400)) // refused dials meanwhile
    expect(src.health?.().status).toBe('degraded')
    sim = await startRsuSim({ port, vehicles: 10, waitMs: 3_000, traffic: { ratePerSec: 100, seed: 5, blacklist } })
    await sim.done()
    const tx = () => rec.batches.flatMap((b) => b.points).filter((p) => p.measurement === 'etc_transaction')
    await waitFor(() => tx().length === 10, 20_000, '10 transactions')
    expect(sim.stats().mismatches).toEqual([])
    expect(src.health?.().status).toBe('ok')
  })

  it('server mode: a newer RSU connection replaces the older, and gets its own C0', async () => {
    const port = await freePort()
    const rec = recordingContext()
    src = createEtcRsuSource({ type: 'etc-rsu', device: 'rsu-s1', mode: 'server', port })
    await src.start(rec)
    const a = await rawRsu(port)
    sockets.push(a.s)
    await waitFor(() => a.types.length > 0, 2_000, 'C0 on the first connection')
    const b = await rawRsu(port)
    sockets.push(b.s)
    await waitFor(() => a.closed(), 2_000, 'the older connection closed')
    await waitFor(() => b.types.length > 0, 2_000, 'C0 on the newer connection')
    expect([a.types, b.types]).toEqual([['C0'], ['C0']])
  })
})
