import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BUILTIN_PROFILES } from '../../../../devices/modbus-profiles.ts'
import type { Source } from '../../../../gateway/core/types.ts'
import { ModbusRtuSourceConfig } from '../../../../gateway/sources/modbus/config.ts'
import { createModbusSource } from '../../../../gateway/sources/modbus/index.ts'
import { type PtyPair, simulateRtu, startPtyPair } from '../../../../simulators/modbus/index.ts'
import { have, tempDir } from '../../../helpers/env.ts'
import { sleep, waitFor } from '../../../helpers/net.ts'
import { recordingContext } from '../../../helpers/recording-context.ts'

const INTERVAL = 500
const TIMEOUT = 100
const UNITS = Array.from({ length: 10 }, (_, i) => i + 1)
const DEAD = new Set([3, 6, 9])
const id = (u: number) => `wq-${String(u).padStart(2, '0')}`

describe.skipIf(!have('socat'))('a 10-slave RTU bus with 3 dead slaves', () => {
  const tmp = tempDir('modbus-dead-')
  let pty: PtyPair
  let sim: Awaited<ReturnType<typeof simulateRtu>>
  let source: Source
  const ctx = recordingContext(UNITS.map((u) => ({ id: id(u), kind: 'water_quality' as const })))
  let t0 = 0

  beforeAll(async () => {
    pty = await startPtyPair(tmp.dir, 'bus10')
    const profile = BUILTIN_PROFILES.get('generic-sonde')!
    sim = await simulateRtu({ path: pty.b, devices: UNITS.map((unit) => ({ unit, profile, ...(DEAD.has(unit) ? { fault: { kind: 'silent' as const } } : {}) })) })
    source = createModbusSource(
      ModbusRtuSourceConfig.parse({
        type: 'modbus-rtu',
        path: pty.a,
        timeoutMs: TIMEOUT,
        retries: 2,
        pauseMs: 5,
        failuresBeforeBackoff: 2,
        backoffMs: 1000,
        maxBackoffMs: 2000,
        devices: UNITS.map((unit) => ({ device: id(unit), unit, profile: 'generic-sonde', intervalMs: INTERVAL })),
      }),
    )
    t0 = Date.now()
    await source.start(ctx)
  })

  afterAll(async () => {
    await source?.stop()
    await sim?.close()
    await pty?.stop()
    tmp.cleanup()
  })

  it('marks the 3 dead slaves offline and still delivers the other 7 at their interval', async () => {
    // Warm-up: the dead slaves cost their retries until they are backed off.
    await sleep(2500)
    const from = Date.now()
    const windowMs = 5000
    await sleep(windowMs)
    const to = Date.now()
    for (const u of UNITS) {
      const got = ctx.of(id(u)).filter((b) => b.at >= from && b.at < to)
      if (DEAD.has(u)) {
        expect(ctx.of(id(u)), id(u)).toHaveLength(0)
        expect(ctx.states.find((s) => s.device === id(u) && !s.online), id(u)).toMatchObject({ reason: 'timeout' })
        continue
      }
      // 10 polls are due in the window; allow two for the edges and a loaded CI machine. Were the dead slaves
      // not backed off, each round would cost them 3 x 3 x TIMEOUT = 900 ms and give about 5.
      expect(got.length, `${id(u)} readings in ${windowMs} ms`).toBeGreaterThanOrEqual(windowMs / INTERVAL - 2)
      expect(got.length, id(u)).toBeLessThanOrEqual(windowMs / INTERVAL + 1)
      // No poll missed: a probe of a dead slave delays the others by at most its time-out.
      const gaps = got.slice(1).map((b, i) => b.at - got[i]!.at)
      expect(Math.max(...gaps), `${id(u)} largest gap`).toBeLessThan(2 * INTERVAL)
      expect(ctx.states.find((s) => s.device === id(u))?.online, id(u)).toBe(true)
    }
    expect(Date.now() - t0).toBeLessThan(20_000)
  })

  it('probes a backed-off slave and brings it back online when it answers again', async () => {
    sim.slaves.get(6)!.fault = { kind: 'none' }
    const back = await waitFor(() => ctx.states.find((s) => s.device === id(6) && s.online), 5_000, 'wq-06 online again')
    expect(back.online).toBe(true)
    await waitFor(() => ctx.of(id(6)).length >= 3, 5_000, 'wq-06 readings')
    // Back on its interval, not on the probe interval.
    const b = ctx.of(id(6))
    expect(b[b.length - 1]!.at - b[b.length - 3]!.at).toBeLessThan(2 * INTERVAL + 300)
  })
})
