import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { Source } from '../../../gateway/core/types.ts'
import { createEtcRsuSource } from '../../../gateway/sources/etc-rsu/index.ts'
import { type RsuSim, startRsuSim } from '../../../simulators/etc/rsu.ts'
import { makeBlacklist, SCENARIOS } from '../../../simulators/etc/traffic.ts'
import { createPtyPair, type PtyPair } from '../../../simulators/serial/pty.ts'
import { have, tempDir } from '../../helpers/env.ts'
import { waitFor } from '../../helpers/net.ts'
import { recordingContext } from '../../gateway/sources/record-context.ts'

describe.skipIf(!have('socat'))('ETC lane controller on a serial line (socat pseudo-terminals, 115200 8N1)', () => {
  const tmp = tempDir()
  let pty: PtyPair | undefined
  let sim: RsuSim | undefined
  let src: Source | undefined
  afterEach(async () => {
    await src?.stop()
    await sim?.stop()
    await pty?.stop()
    tmp.cleanup()
  })

  it('runs every passage to its right result over the serial line', async () => {
    pty = await createPtyPair(join(tmp.dir, 'rsu'), join(tmp.dir, 'lane'))
    const rec = recordingContext()
    const points = () => rec.batches.flatMap((b) => b.points)
    // The lane controller opens its end first (its first C0 may be lost; it is sent again until a B0 comes).
    const blacklist = makeBlacklist(5)
    src = createEtcRsuSource({ type: 'etc-rsu', device: 'rsu-s1', mode: 'serial', serial: { path: pty.b }, blacklist, transactionTimeoutMs: 200, initRetryMs: 500 })
    await src.start(rec)
    await new Promise((r) => setTimeout(r, 300))
    const mix = Object.fromEntries(SCENARIOS.map((s) => [s, s === 'ok' ? 4 : 1]))
    sim = await startRsuSim({ mode: 'serial', path: pty.a, vehicles: 80, waitMs: 300, heartbeatMs: 200, traffic: { ratePerSec: 60, seed: 99, scenarioMix: mix, blacklist } })
    await sim.done()
    const tx = () => points().filter((p) => p.measurement === 'etc_transaction')
    await waitFor(() => tx().length >= 80, 10_000, '80 transactions')
    await new Promise((r) => setTimeout(r, 300))
    const st = sim.stats()
    expect(st.mismatches).toEqual([])
    expect(tx().length).toBe(st.vehicles)
    const got: Record<string, number> = {}
    for (const p of tx()) got[p.tags['result']!] = (got[p.tags['result']!] ?? 0) + 1
    expect(got).toEqual(Object.fromEntries(Object.entries(st.expected).filter(([, n]) => n > 0)))
    expect(points().some((p) => p.measurement === 'etc_rsu_status' && p.fields['online'] === true)).toBe(true)
  })
})
