import { afterAll, describe, expect, it } from 'vitest'
import { BUILTIN_PROFILES } from '../../../../devices/modbus-profiles.ts'
import { ModbusRtuOverTcpSourceConfig, ModbusTcpSourceConfig } from '../../../../gateway/sources/modbus/config.ts'
import { createModbusSource } from '../../../../gateway/sources/modbus/index.ts'
import { checkModbusProfiles } from '../../../../gateway/sources/modbus/profiles.ts'
import { simulateRtuOverTcp, simulateTcp } from '../../../../simulators/modbus/index.ts'
import { tempDir } from '../../../helpers/env.ts'
import { freePort, waitFor } from '../../../helpers/net.ts'
import { recordingContext } from '../../../helpers/recording-context.ts'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

const sonde = BUILTIN_PROFILES.get('generic-sonde')!
const sdm = BUILTIN_PROFILES.get('eastron-sdm630')!

describe('Modbus transports against our simulators', () => {
  const tmp = tempDir('modbus-tr-')
  afterAll(() => tmp.cleanup())

  it('modbus-tcp: one connection per device endpoint; a slow device times out, an exception is dead-lettered', async () => {
    const a = await simulateTcp({ port: await freePort(), devices: [{ unit: 1, profile: sdm }] })
    const b = await simulateTcp({ port: await freePort(), devices: [{ unit: 1, profile: sonde }, { unit: 2, profile: sonde, fault: { kind: 'exception', code: 2 } }] })
    b.slaves.get(1)!.fault = { kind: 'slow', delayMs: 400 }
    const ctx = recordingContext([
      { id: 'em-1', kind: 'energy_meter' },
      { id: 'wq-1', kind: 'water_quality' },
      { id: 'wq-2', kind: 'water_quality' },
    ])
    const src = createModbusSource(
      ModbusTcpSourceConfig.parse({
        type: 'modbus-tcp',
        port: a.port,
        timeoutMs: 150,
        retries: 0,
        failuresBeforeBackoff: 2,
        devices: [
          { device: 'em-1', unit: 1, profile: 'eastron-sdm630', intervalMs: 200 },
          { device: 'wq-1', unit: 1, profile: 'generic-sonde', intervalMs: 200, port: b.port },
          { device: 'wq-2', unit: 2, profile: 'generic-sonde', intervalMs: 200, port: b.port },
        ],
      }),
    )
    await src.start(ctx)
    try {
      await waitFor(() => ctx.of('em-1').length >= 3, 10_000, 'meter readings')
      await waitFor(() => ctx.states.some((s) => s.device === 'wq-1' && !s.online), 10_000, 'slow sonde offline')
      expect(ctx.states.find((s) => s.device === 'wq-1' && !s.online)?.reason).toBe('timeout')
      await waitFor(() => ctx.rejects.some((r) => r.device === 'wq-2' && r.reason === 'modbus_exception'), 10_000, 'exception dead-lettered')
      // The device answered (with an exception): it is online, but gives no reading.
      expect(ctx.of('wq-2')).toHaveLength(0)
      b.slaves.get(1)!.fault = { kind: 'none' }
      await waitFor(() => ctx.of('wq-1').length >= 1, 15_000, 'slow sonde back')
      expect(src.health!().status).toBe('ok')
    } finally {
      await src.stop()
      await a.close()
      await b.close()
    }
  })

  it('modbus-rtu-over-tcp: RTU frames through a transparent serial server', async () => {
    const sim = await simulateRtuOverTcp({ port: await freePort(), devices: [{ unit: 7, profile: sonde }, { unit: 8, profile: sdm }] })
    const ctx = recordingContext([{ id: 'wq-7', kind: 'water_quality' }])
    const src = createModbusSource(
      ModbusRtuOverTcpSourceConfig.parse({
        type: 'modbus-rtu-over-tcp',
        host: '127.0.0.1',
        port: sim.port,
        devices: [
          { device: 'wq-7', unit: 7, profile: 'generic-sonde', intervalMs: 200 },
          { device: 'em-8', unit: 8, profile: 'eastron-sdm630', intervalMs: 200 },
        ],
      }),
    )
    await src.start(ctx)
    try {
      const b = await waitFor(() => ctx.of('wq-7')[0], 10_000, 'a sonde reading')
      expect(b).toMatchObject({ protocol: 'modbus-rtu', kind: 'water_quality' })
      await waitFor(() => ctx.of('em-8')[0], 10_000, 'a meter reading')
    } finally {
      await src.stop()
      await sim.close()
    }
  })

  it('refuses a wrong user profile at start-up with the file and key path', async () => {
    const file = join(tmp.dir, 'bad.yaml')
    writeFileSync(file, 'name: bad\nkind: energy_meter\npoints:\n  - { name: v, function: input, address: 0, type: float32, field: volts }\n')
    const src = createModbusSource(ModbusTcpSourceConfig.parse({ type: 'modbus-tcp', port: 1502, devices: [{ device: 'x', unit: 1, profile: file }] }))
    await expect(src.start(recordingContext())).rejects.toMatchObject({
      code: 'bad_modbus_config',
      message: expect.stringMatching(/devices\[0\]\.profile: profile .*bad\.yaml:\n\s+points\[0\]\.field: volts is not a field of energy_meter/),
    })
    expect(await checkModbusProfiles([{ type: 'mqtt' }, { type: 'modbus-tcp', devices: [{ profile: 'eastron-sdm630' }, { profile: file }] }])).toEqual([
      expect.stringMatching(/^sources\[1\]\.devices\[1\]\.profile: profile .*bad\.yaml:\n\s+points\[0\]\.field: volts/),
    ])
    const unknown = createModbusSource(ModbusTcpSourceConfig.parse({ type: 'modbus-tcp', port: 1502, devices: [{ device: 'x', unit: 1, profile: 'no-such-meter' }] }))
    await expect(unknown.start(recordingContext())).rejects.toMatchObject({ message: expect.stringMatching(/no-such-meter: neither a built-in profile/) })
  })
})
