/**
 * The DL/T 645 master against the meter-bus simulator over a socat pseudo-terminal pair (the gateway opens
 * its end as a real serial port, 2400 8E1): several meters in turn, one silent, one answering with errors.
 */
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createDlt645Source } from '../../../gateway/sources/dlt645/index.ts'
import { Dlt645SourceConfig } from '../../../gateway/sources/dlt645/config.ts'
import { startDlt645Simulator } from '../../../simulators/dlt645/index.ts'
import { createPtyPair } from '../../../simulators/serial/pty.ts'
import { have, tempDir } from '../../helpers/env.ts'
import { waitFor } from '../../helpers/net.ts'
import { recordingContext } from './record-context.ts'

const OK1 = '000000000161'
const OK2 = '110000000002'
const SILENT = '110000000003'
const ERRORS = '110000000004'

describe.skipIf(!have('socat'))('DL/T 645 bus on a pseudo-terminal', () => {
  const cleanups: (() => Promise<void> | void)[] = []
  afterEach(async () => {
    for (const c of cleanups.reverse()) await c()
    cleanups.length = 0
  })

  it('a bus with one silent meter and one answering with errors still delivers the others', async () => {
    const tmp = tempDir()
    cleanups.push(tmp.cleanup)
    const pty = await createPtyPair(join(tmp.dir, 'meters'), join(tmp.dir, 'gateway'))
    cleanups.push(() => pty.stop())
    const sim = await startDlt645Simulator({
      path: pty.a,
      meters: [
        { address: OK1, baseLoadKw: 50 },
        { address: SILENT, behaviour: 'silent' },
        { address: ERRORS, behaviour: 'error', errorWord: 0x02 },
        { address: OK2, baseLoadKw: 12 },
      ],
    })
    cleanups.push(() => sim.stop())

    const cfg = Dlt645SourceConfig.parse({
      type: 'dlt645',
      serial: { path: pty.b },
      meters: [{ address: OK1 }, { address: SILENT }, { address: ERRORS }, { address: OK2, device: 'meter-b2', dis: ['0201FF00', '00010000'] }],
      pollIntervalMs: 300,
      // Generous for a loaded CI machine: a reply later than this is (rightly) dead-lettered as unexpected_reply.
      responseTimeoutMs: 500,
      offlineAfterMisses: 1,
      timeSyncIntervalSec: 3600,
    })
    expect(cfg.serial).toMatchObject({ baudRate: 2400, dataBits: 8, parity: 'even', stopBits: 1 })
    const src = createDlt645Source(cfg)
    const ctx = recordingContext(tmp.dir)
    await src.start(ctx)
    cleanups.push(() => src.stop())

    const pointsOf = (device: string) => ctx.batches.filter((b) => b.device === device).flatMap((b) => b.points)
    await waitFor(() => pointsOf(`dlt645-${OK1}`).length >= 4 && pointsOf('meter-b2').length >= 4, 20_000, 'four cycles of both good meters')

    // good meters: every configured DI, consistent values, energy rising with the load
    const p1 = pointsOf(`dlt645-${OK1}`)
    expect(Object.keys(p1[0]!.fields).sort()).toEqual(
      ['active_power_kw', 'current_a_a', 'current_b_a', 'current_c_a', 'export_energy_kwh', 'frequency_hz', 'import_energy_kwh', 'power_factor', 'reactive_power_kvar', 'voltage_a_v', 'voltage_b_v', 'voltage_c_v'].sort(),
    )
    for (const p of p1) {
      const f = p.fields as Record<string, number>
      expect(f['voltage_a_v']).toBeGreaterThan(200)
      expect(f['active_power_kw']).toBeGreaterThan(20)
      // P ~ sum(V*I)*PF within rounding
      const s = (f['voltage_a_v']! * f['current_a_a']! + f['voltage_b_v']! * f['current_b_a']! + f['voltage_c_v']! * f['current_c_a']!) * f['power_factor']!
      expect(Math.abs(s / 1000 - f['active_power_kw']!) / f['active_power_kw']!).toBeLessThan(0.02)
    }
    const energy = p1.map((p) => p.fields['import_energy_kwh'] as number)
    for (let i = 1; i < energy.length; i++) expect(energy[i]!).toBeGreaterThanOrEqual(energy[i - 1]!)
    expect(energy.at(-1)!).toBeGreaterThan(energy[0]!)
    const p2 = pointsOf('meter-b2')
    expect(Object.keys(p2[0]!.fields).sort()).toEqual(['import_energy_kwh', 'voltage_a_v', 'voltage_b_v', 'voltage_c_v'])
    expect(ctx.batches.every((b) => b.kind === 'energy_meter' && b.protocol === 'dlt645')).toBe(true)

    // the silent meter: offline with reason timeout, one time-out per cycle, no points
    expect(pointsOf(`dlt645-${SILENT}`)).toHaveLength(0)
    expect(ctx.state(`dlt645-${SILENT}`)).toBe(false)
    expect(ctx.online).toContainEqual({ id: `dlt645-${SILENT}`, online: false, reason: 'timeout' })
    const st = src.stats()
    expect(st.timeouts).toBeLessThanOrEqual(st.cycles + 1)

    // the meter answering with errors: online, every read dead-lettered with the error word as reason
    expect(ctx.state(`dlt645-${ERRORS}`)).toBe(true)
    const errs = ctx.rejects.filter((r) => r.device === `dlt645-${ERRORS}`)
    expect(errs.length).toBeGreaterThanOrEqual(12)
    expect(new Set(errs.map((r) => r.reason))).toEqual(new Set(['meter_error_no_data']))
    expect(errs[0]!.detail).toMatch(/error word 0x02/)
    expect(ctx.rejects.filter((r) => r.device !== `dlt645-${ERRORS}`)).toEqual([])

    // broadcast time sync reached every meter
    expect(st.timeSyncs).toBe(1)
    await waitFor(() => sim.bus.meters.every((m) => m.timeSyncs === 1), 5000, 'time sync at the meters')
    expect(src.health!().status).toBe('degraded')
  })

  it('discovers a lone meter with the AA wildcard and polls it', async () => {
    const tmp = tempDir()
    cleanups.push(tmp.cleanup)
    const pty = await createPtyPair(join(tmp.dir, 'm'), join(tmp.dir, 'g'))
    cleanups.push(() => pty.stop())
    const sim = await startDlt645Simulator({ path: pty.a, meters: [{ address: '201611220001' }] })
    cleanups.push(() => sim.stop())
    const src = createDlt645Source(
      Dlt645SourceConfig.parse({ type: 'dlt645', serial: { path: pty.b }, discover: true, pollIntervalMs: 300, responseTimeoutMs: 200, dis: ['00010000'] }),
    )
    const ctx = recordingContext(tmp.dir)
    await src.start(ctx)
    cleanups.push(() => src.stop())
    await waitFor(() => ctx.batches.length >= 1, 10_000, 'a reading from the discovered meter')
    expect(src.meters()).toEqual([{ address: '201611220001', device: 'dlt645-201611220001', online: true }])
    expect(ctx.batches[0]!.points[0]!.fields).toHaveProperty('import_energy_kwh')
  })

  it('reads identifiers the table does not know: the meter is present, its stored fields come, nothing is dead-lettered', async () => {
    const tmp = tempDir()
    cleanups.push(tmp.cleanup)
    const pty = await createPtyPair(join(tmp.dir, 'm'), join(tmp.dir, 'g'))
    cleanups.push(() => pty.stop())
    // 04000401 (the meter's own number) is not in the table; the answer is what a real meter sent (see
    // test/devices/energy-meter/dlt645-freeze.test.ts, REPEATER)
    const sim = await startDlt645Simulator({
      path: pty.a,
      meters: [
        { address: OK1, counts: { trip: 3, coverOpen: 1 }, rawData: { '04000401': '603946119819' } },
        { address: OK2, rawData: { '04000401': '020000000011' } },
      ],
    })
    cleanups.push(() => sim.stop())
    const cfg = Dlt645SourceConfig.parse({
      type: 'dlt645',
      serial: { path: pty.b },
      meters: [
        { address: OK1, dis: ['04000401', '1D000001', '03300D00', '05060001', '05060101', '00010000'] },
        { address: OK2, device: 'meter-number-only', dis: ['04000401'] },
      ],
      pollIntervalMs: 300,
      responseTimeoutMs: 500,
    })
    const src = createDlt645Source(cfg)
    const ctx = recordingContext(tmp.dir)
    await src.start(ctx)
    cleanups.push(() => src.stop())
    const of = (device: string) => ctx.batches.filter((b) => b.device === device)
    await waitFor(() => of(`dlt645-${OK1}`).length >= 2 && of('meter-number-only').length >= 2, 20_000, 'two cycles of both meters')

    const b1 = of(`dlt645-${OK1}`)[0]!
    expect(b1.frames).toBe(6) // every reply counts, the unknown and the decoded-only ones too
    expect(b1.points).toHaveLength(1)
    expect(Object.keys(b1.points[0]!.fields).sort()).toEqual(['cover_open_count', 'import_energy_kwh', 'trip_count'])
    expect(b1.points[0]!.fields).toMatchObject({ trip_count: 3, cover_open_count: 1 })
    // a meter read only for an unknown DI: presence and frame counters, no point
    for (const b of of('meter-number-only')) expect(b).toMatchObject({ kind: 'energy_meter', protocol: 'dlt645', points: [], frames: 1 })
    expect(ctx.state('meter-number-only')).toBe(true)
    expect(ctx.rejects).toEqual([])
  })

  it('accepts any well-formed data identifier and refuses a malformed one, naming the key path', () => {
    expect(Dlt645SourceConfig.safeParse({ type: 'dlt645', serial: { path: '/dev/null' }, meters: [{ address: '1', dis: ['12345678'] }] }).success).toBe(true)
    const r = Dlt645SourceConfig.safeParse({ type: 'dlt645', serial: { path: '/dev/null' }, meters: [{ address: '1', dis: ['0001000'] }] })
    expect(r.success).toBe(false)
    expect(r.error!.issues[0]!.path).toEqual(['meters', 0, 'dis', 0])
    const v97 = Dlt645SourceConfig.safeParse({ type: 'dlt645', version: '1997', serial: { path: '/dev/null' }, meters: [{ address: '1' }], dis: ['9010', '00010000'] })
    expect(v97.success).toBe(false)
    expect(v97.error!.issues[0]!.path).toEqual(['dis', 1])
  })
})

describe.skipIf(!have('socat'))('DL/T 645 master when the RS-485 adapter is pulled', () => {
  it('marks the meters offline (port_closed), reopens when the port is back, and polling resumes', async () => {
    const tmp = tempDir()
    const A = join(tmp.dir, 'meters')
    const B = join(tmp.dir, 'gateway')
    let pty = await createPtyPair(A, B)
    let sim = await startDlt645Simulator({ path: pty.a, meters: [{ address: OK1 }] })
    const src = createDlt645Source(
      Dlt645SourceConfig.parse({ type: 'dlt645', serial: { path: B, reconnectMinMs: 50, reconnectMaxMs: 300 }, meters: [{ address: OK1 }], dis: ['00010000'], pollIntervalMs: 200, responseTimeoutMs: 500 }),
    )
    const ctx = recordingContext(tmp.dir)
    try {
      await src.start(ctx)
      await waitFor(() => ctx.batches.length >= 2, 10_000, 'readings')
      await sim.stop()
      await pty.stop()
      await waitFor(() => ctx.state(`dlt645-${OK1}`) === false, 5_000, 'offline')
      expect(ctx.online).toContainEqual({ id: `dlt645-${OK1}`, online: false, reason: 'port_closed' })
      await new Promise((r) => setTimeout(r, 500))
      const before = ctx.batches.length
      pty = await createPtyPair(A, B)
      sim = await startDlt645Simulator({ path: pty.a, meters: [{ address: OK1 }] })
      await waitFor(() => ctx.batches.length >= before + 2, 10_000, 'readings after the port came back')
      expect(ctx.state(`dlt645-${OK1}`)).toBe(true)
      expect(ctx.rejects).toEqual([])
    } finally {
      await src.stop()
      await sim.stop()
      await pty.stop()
      tmp.cleanup()
    }
  })
})
