import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BUILTIN_PROFILES } from '../../devices/modbus-profiles.ts'
import type { Source } from '../../gateway/core/types.ts'
import { ModbusRtuSourceConfig } from '../../gateway/sources/modbus/config.ts'
import { createModbusSource } from '../../gateway/sources/modbus/index.ts'
import { type PtyPair, simulateRtu, startPtyPair } from '../../simulators/modbus/index.ts'
import { have, tempDir } from '../helpers/env.ts'
import { waitFor } from '../helpers/net.ts'
import { recordingContext } from '../helpers/recording-context.ts'

describe.skipIf(!have('socat'))('Modbus RTU end to end over a socat pseudo-terminal pair', () => {
  const tmp = tempDir('modbus-rtu-')
  let pty: PtyPair
  let sim: Awaited<ReturnType<typeof simulateRtu>>
  let source: Source
  const ctx = recordingContext([
    { id: 'wq-0001', kind: 'water_quality', options: { waterBody: 'river' } },
    { id: 'em-sdm', kind: 'energy_meter' },
    { id: 'em-chint', kind: 'energy_meter' },
  ])

  beforeAll(async () => {
    pty = await startPtyPair(tmp.dir)
    sim = await simulateRtu({
      path: pty.b,
      devices: [
        { unit: 1, profile: BUILTIN_PROFILES.get('generic-sonde')! },
        { unit: 2, profile: BUILTIN_PROFILES.get('eastron-sdm630')! },
        { unit: 3, profile: BUILTIN_PROFILES.get('chint-dtsu666')! },
      ],
    })
    source = createModbusSource(
      ModbusRtuSourceConfig.parse({
        type: 'modbus-rtu',
        id: 'bus-1',
        path: pty.a,
        timeoutMs: 300,
        pauseMs: 5,
        devices: [
          { device: 'wq-0001', unit: 1, profile: 'generic-sonde', intervalMs: 300 },
          { device: 'em-sdm', unit: 2, profile: 'eastron-sdm630', intervalMs: 300 },
          { device: 'em-chint', unit: 3, profile: 'chint-dtsu666', intervalMs: 300 },
        ],
      }),
    )
    await source.start(ctx)
  })

  afterAll(async () => {
    await source?.stop()
    await sim?.close()
    await pty?.stop()
    tmp.cleanup()
  })

  it('delivers water_quality points with the GB 3838 class and energy_meter points from each profile', async () => {
    const wq = await waitFor(() => ctx.of('wq-0001')[0], 10_000, 'a sonde reading')
    expect(wq).toMatchObject({ source: 'bus-1', kind: 'water_quality', protocol: 'modbus-rtu' })
    const f = wq.points[0]!.fields
    expect(wq.points[0]!.measurement).toBe('water_quality')
    expect(f['ph']).toBeGreaterThan(6)
    expect(f['ph']).toBeLessThan(9)
    expect(Number.isInteger(f['gb3838_class'])).toBe(true)
    expect(Object.keys(f).sort()).toEqual(
      ['ammonia_nitrogen_mg_l', 'cod_mg_l', 'conductivity_us_cm', 'dissolved_oxygen_mg_l', 'gb3838_class', 'gb3838_factor', 'orp_mv', 'ph', 'turbidity_ntu', 'water_temp_c'].sort(),
    )
    expect(f['conductivity_us_cm']).toBeGreaterThan(300)
    for (const id of ['em-sdm', 'em-chint']) {
      const em = await waitFor(() => ctx.of(id)[0], 10_000, `a reading of ${id}`)
      const e = em.points[0]!.fields
      expect(em.points[0]!.measurement).toBe('energy_meter')
      expect(e['voltage_a_v']).toBeGreaterThan(200)
      expect(e['voltage_a_v']).toBeLessThan(250)
      expect(e['frequency_hz']).toBeCloseTo(50, 0)
      expect(e['active_power_kw']).toBeGreaterThan(0)
      expect(e['import_energy_kwh']).toBeGreaterThan(0)
    }
  })

  it('energy counters rise from poll to poll', async () => {
    await waitFor(() => ctx.of('em-sdm').length >= 4, 10_000, 'four SDM630 readings')
    const e = ctx.of('em-sdm').map((b) => b.points[0]!.fields['import_energy_kwh'] as number)
    expect(e[e.length - 1]!).toBeGreaterThanOrEqual(e[0]!)
  })

  it('dead-letters a CRC error and an exception, then reads on', async () => {
    const sonde = sim.slaves.get(1)!
    sonde.fault = { kind: 'crc' }
    await waitFor(() => ctx.rejects.some((r) => r.reason === 'crc_mismatch' && r.device === 'wq-0001'), 10_000, 'a crc_mismatch reject')
    sonde.fault = { kind: 'exception', code: 4 }
    await waitFor(() => ctx.rejects.some((r) => r.reason === 'modbus_exception' && /server_device_failure/.test(r.detail ?? '')), 10_000, 'an exception reject')
    sonde.fault = { kind: 'none' }
    const n = ctx.of('wq-0001').length
    await waitFor(() => ctx.of('wq-0001').length > n + 1, 10_000, 'readings again')
    const r = ctx.rejects.find((x) => x.reason === 'crc_mismatch')!
    expect(r.address).toBe(pty.a)
    expect(r.raw).toBeInstanceOf(Uint8Array)
  })

  it('a write from the gateway starts the sonde wiper (FC 5) and sets its K factor (FC 6)', async () => {
    expect(await source.write!('wq-0001', { field: 'wipe', value: true })).toMatchObject({ ok: true })
    expect(await source.write!('wq-0001', { field: 'conductivity_k', value: 10 })).toMatchObject({ ok: true })
    expect(await source.write!('wq-0001', { field: 'ph', value: 7 })).toMatchObject({ ok: false, code: 'not_writable' })
    const v = sim.slaves.get(1)!.model.values(Date.now())
    expect(v.get('wiper_running')).toBe(true)
    expect(v.get('conductivity_k')).toBe(10)
  })
})
