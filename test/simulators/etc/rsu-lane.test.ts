import { afterEach, describe, expect, it } from 'vitest'
import { createEtcRsuSource } from '../../../gateway/sources/etc-rsu/index.ts'
import type { Source } from '../../../gateway/core/types.ts'
import { type RsuSim, startRsuSim } from '../../../simulators/etc/rsu.ts'
import { SCENARIOS } from '../../../simulators/etc/traffic.ts'
import { freePort, waitFor } from '../../helpers/net.ts'
import { recordingContext } from '../../gateway/sources/record-context.ts'

const EVEN_MIX = Object.fromEntries(SCENARIOS.map((s) => [s, s === 'ok' ? 4 : 1]))

describe('ETC lane controller against the simulated RSU over TCP', () => {
  let sim: RsuSim | undefined
  let src: Source | undefined
  afterEach(async () => {
    await src?.stop()
    await sim?.stop()
  })

  it('every failure path from the simulator ends in the right result, one transaction per vehicle', async () => {
    sim = await startRsuSim({ port: 0, vehicles: 240, waitMs: 250, heartbeatMs: 100, traffic: { ratePerSec: 150, seed: 11, scenarioMix: EVEN_MIX } })
    const rec = recordingContext()
    const points = () => rec.batches.flatMap((b) => b.points)
    src = createEtcRsuSource({ type: 'etc-rsu', device: 'rsu-t1', lane: 'g1', port: sim.port, blacklist: [...sim.blacklist], transactionTimeoutMs: 150 })
    await src.start(rec)
    await sim.done()
    const tx = () => points().filter((p) => p.measurement === 'etc_transaction')
    await waitFor(() => tx().length >= 240, 10_000, 'a transaction for every vehicle')
    // Idle: heartbeats flow (and are neither answered nor refused); nothing more is written.
    await waitFor(() => sim!.stats().heartbeats >= 3, 5_000, 'heartbeats')
    const st = sim.stats()
    expect(st.vehicles).toBe(240)
    expect(st.mismatches).toEqual([])
    expect(tx().length).toBe(240)
    const got: Record<string, number> = {}
    for (const p of tx()) got[p.tags['result']!] = (got[p.tags['result']!] ?? 0) + 1
    const want = Object.fromEntries(Object.entries(st.expected).filter(([, n]) => n > 0))
    expect(got).toEqual(want)
    // Every path was exercised.
    for (const s of SCENARIOS) expect(st.expected[s], s).toBeGreaterThan(0)
    // The B0 after C0, heartbeats never answered nor refused.
    // Online as the first bytes arrive, then the B0 after C0 with the full status.
    expect(points().filter((p) => p.measurement === 'etc_rsu_status').map((p) => p.fields)).toEqual([{ online: true }, { online: true, antenna_ok: true, psam_ok: true, rsu_status: 0 }])
    expect(st.heartbeats).toBeGreaterThan(0)
    expect(rec.rejects).toEqual([])
    const ok = tx().find((p) => p.tags['result'] === 'ok')!
    expect(ok.fields).toMatchObject({ obu_id: expect.stringMatching(/^[0-9A-F]{8}$/), plate: expect.stringMatching(/^[\u4e00-\u9fa5][A-Z]/), fee_fen: expect.any(Number), card_id: expect.stringMatching(/^6101/) })
    expect(ok.fields['transaction_ms']).toBeLessThan(1000)
    const times = tx().map((p) => p.time)
    expect(new Set(times).size).toBe(times.length)
  })

  for (const laneProfile of ['2019', 'auto'] as const) {
    it(`runs every passage B2 -> C1 -> B3 -> B4 -> C6 -> B5 with a 2019 RSU, the lane on profile ${laneProfile}`, async () => {
      // The 2019 simulator: B0 with PSAM fields, B2 with the CPU card id, B4 with the EF04 status and range,
      // B5 with the write time and EF04 write status, heartbeats with RSCTL 88; it reads C6 with a 40-byte
      // station field, so a lane writing the classic layout would get mismatches.
      sim = await startRsuSim({ port: 0, vehicles: 120, waitMs: 250, heartbeatMs: 100, profile: '2019', traffic: { ratePerSec: 150, seed: 19, scenarioMix: EVEN_MIX } })
      const rec = recordingContext()
      const points = () => rec.batches.flatMap((b) => b.points)
      const tx = () => points().filter((p) => p.measurement === 'etc_transaction')
      src = createEtcRsuSource({
        type: 'etc-rsu',
        device: 'rsu-2019',
        lane: 'g2',
        port: sim.port,
        blacklist: [...sim.blacklist],
        transactionTimeoutMs: 150,
        profile: laneProfile,
        ef04: { offset: 0, length: 16 },
      })
      await src.start(rec)
      await sim.done()
      await waitFor(() => tx().length >= 120, 10_000, 'a transaction for every vehicle')
      await waitFor(() => sim!.stats().heartbeats >= 3, 5_000, 'heartbeats')
      const st = sim.stats()
      expect(st.mismatches).toEqual([])
      expect(rec.rejects).toEqual([])
      expect(st.ef04Reads).toBeGreaterThan(0) // the C0 asked for EF04 and the B4s carried it
      const got: Record<string, number> = {}
      for (const p of tx()) got[p.tags['result']!] = (got[p.tags['result']!] ?? 0) + 1
      expect(got).toEqual(Object.fromEntries(Object.entries(st.expected).filter(([, n]) => n > 0)))
      for (const s of SCENARIOS) expect(st.expected[s], s).toBeGreaterThan(0)
      const ok = tx().find((p) => p.tags['result'] === 'ok')!
      expect(ok.fields).toMatchObject({ card_id: expect.stringMatching(/^6101[0-9]{16}$/), fee_fen: expect.any(Number) })
      // The 2019 B0 gives the same status point.
      expect(points().find((p) => p.measurement === 'etc_rsu_status' && 'rsu_status' in p.fields)?.fields).toEqual({ online: true, antenna_ok: true, psam_ok: true, rsu_status: 0 })
    })
  }

  it('plays the lane controller as a TCP server too, and reports the RSU offline when it goes away', async () => {
    const port = await freePort()
    const rec = recordingContext()
    const points = () => rec.batches.flatMap((b) => b.points)
    src = createEtcRsuSource({ type: 'etc-rsu', device: 'rsu-t2', mode: 'server', port, transactionTimeoutMs: 150 })
    await src.start(rec)
    sim = await startRsuSim({ mode: 'client', port, vehicles: 20, waitMs: 250, rsuStatus: 0x01, traffic: { ratePerSec: 100, seed: 3, scenarioMix: { timeout: 0 } } })
    await sim.done()
    await waitFor(() => points().filter((p) => p.measurement === 'etc_transaction').length === 20, 5_000, '20 transactions')
    expect(sim.stats().mismatches).toEqual([])
    expect(points().find((p) => p.measurement === 'etc_rsu_status' && 'rsu_status' in p.fields)?.fields).toEqual({ online: true, psam_ok: false, antenna_ok: true, rsu_status: 1 })
    expect(rec.state('rsu-t2')).toBe(true)
    await sim.stop()
    sim = undefined
    await waitFor(() => rec.state('rsu-t2') === false, 5_000, 'RSU offline')
    expect(points().filter((p) => p.measurement === 'etc_rsu_status').at(-1)?.fields).toEqual({ online: false })
  })
})
