import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BUILTIN_PROFILES } from '../../devices/modbus-profiles.ts'
import type { Gateway } from '../../gateway/gateway.ts'
import { type PtyPair, simulateRtu, startPtyPair } from '../../simulators/modbus/index.ts'
import { have, tempDir } from '../helpers/env.ts'
import { gatewayFrom } from '../helpers/gateway.ts'
import { type InfluxServer, startInflux } from '../helpers/influx.ts'
import { freePort, waitFor } from '../helpers/net.ts'

const DB = 'modbus'

describe.skipIf(!have('influxd', 'socat'))('Modbus RTU over a socat pty pair, end to end into InfluxDB', () => {
  const tmp = tempDir('modbus-e2e-')
  let influx: InfluxServer
  let pty: PtyPair
  let sim: Awaited<ReturnType<typeof simulateRtu>>
  let gw: Gateway
  let http = ''

  beforeAll(async () => {
    influx = await startInflux(`${tmp.dir}/influx`)
    pty = await startPtyPair(tmp.dir)
    sim = await simulateRtu({
      path: pty.b,
      devices: [
        { unit: 1, profile: BUILTIN_PROFILES.get('generic-sonde')! },
        { unit: 2, profile: BUILTIN_PROFILES.get('eastron-sdm630')! },
        // Unit 3 is on the configuration but dead on the bus.
        { unit: 3, profile: BUILTIN_PROFILES.get('chint-dtsu666')!, fault: { kind: 'silent' } },
      ],
    })
    gw = gatewayFrom(
      {
        dataDir: `${tmp.dir}/gw`,
        gateway: { statusIntervalSec: 1 },
        http: { enabled: true, port: await freePort() },
        sinks: [{ type: 'influx-v1', url: influx.url, database: DB, flushIntervalMs: 100 }],
        sources: [
          {
            type: 'modbus-rtu',
            id: 'river-bus',
            path: pty.a,
            timeoutMs: 200,
            pauseMs: 5,
            failuresBeforeBackoff: 2,
            backoffMs: 1000,
            devices: [
              { device: 'wq-rtu-1', unit: 1, profile: 'generic-sonde', intervalMs: 250 },
              { device: 'em-rtu-2', unit: 2, profile: 'eastron-sdm630', intervalMs: 250 },
              { device: 'em-rtu-3', unit: 3, profile: 'chint-dtsu666', intervalMs: 250 },
            ],
          },
        ],
        devices: [
          { id: 'wq-rtu-1', kind: 'water_quality', district: 'xian-gaoxin', site: 'Zaohe River', options: { waterBody: 'river' } },
          { id: 'em-rtu-2', kind: 'energy_meter', district: 'xian-gaoxin' },
          { id: 'em-rtu-3', kind: 'energy_meter', district: 'xian-gaoxin' },
        ],
      },
      { mqttPort: await freePort() },
    )
    await gw.start()
    http = gw.endpoints().http!
  })

  afterAll(async () => {
    await gw?.stop()
    await sim?.close()
    await pty?.stop()
    await influx?.stop()
    tmp.cleanup()
  })

  it('stores sonde readings with the GB 3838 class and meter readings, tagged modbus-rtu', async () => {
    await waitFor(async () => (await influx.count(DB, 'water_quality', 'ph', `"device"='wq-rtu-1'`)) >= 3, 20_000, 'sonde points')
    const [wq] = await influx.query(DB, `SELECT * FROM water_quality WHERE "device"='wq-rtu-1' ORDER BY time DESC LIMIT 1`)
    expect(wq).toMatchObject({ device: 'wq-rtu-1', kind: 'water_quality', district: 'xian-gaoxin', site: 'Zaohe River', protocol: 'modbus-rtu' })
    expect(wq!['ph'] as number).toBeGreaterThan(6)
    expect(Number.isInteger(wq!['gb3838_class'])).toBe(true)
    await waitFor(async () => (await influx.count(DB, 'energy_meter', 'voltage_a_v', `"device"='em-rtu-2'`)) >= 3, 20_000, 'meter points')
    const [em] = await influx.query(DB, `SELECT * FROM energy_meter WHERE "device"='em-rtu-2' ORDER BY time DESC LIMIT 1`)
    expect(em).toMatchObject({ kind: 'energy_meter', protocol: 'modbus-rtu' })
    expect(em!['voltage_a_v'] as number).toBeGreaterThan(200)
    expect(em!['active_power_kw'] as number).toBeGreaterThan(0)
    expect(await influx.count(DB, 'energy_meter', 'voltage_a_v', `"device"='em-rtu-3'`)).toBe(0)
  })

  it('shows online/offline per device in device_status and /api/devices', async () => {
    const devices = await waitFor(async () => {
      const body = (await (await fetch(`${http}/api/devices`)).json()) as { devices: { id: string; online: boolean; offlineReason?: string }[] }
      const dead = body.devices.find((d) => d.id === 'em-rtu-3')
      return dead?.offlineReason ? body.devices : undefined
    }, 15_000, 'em-rtu-3 offline with a reason')
    expect(devices.find((d) => d.id === 'em-rtu-3')).toMatchObject({ online: false, offlineReason: 'timeout' })
    expect(devices.find((d) => d.id === 'wq-rtu-1')).toMatchObject({ online: true })
    expect(devices.find((d) => d.id === 'em-rtu-2')).toMatchObject({ online: true })
    await waitFor(async () => (await influx.count(DB, 'device_status', 'online', `"device"='em-rtu-2'`)) >= 1, 15_000, 'device_status points')
    const [ok] = await influx.query(DB, `SELECT last("online") AS online FROM device_status WHERE "device"='em-rtu-2'`)
    expect(ok!['online']).toBe(true)
    const [dead] = await influx.query(DB, `SELECT last("online") AS online FROM device_status WHERE "device"='em-rtu-3'`)
    expect(dead!['online']).toBe(false)
  })

  it('POST /api/devices/:id/write writes a writable point and refuses a read-only one', async () => {
    const post = (id: string, body: unknown) => fetch(`${http}/api/devices/${id}/write`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    const ok = await post('wq-rtu-1', { field: 'averaging_s', value: 30 })
    expect(ok.status).toBe(200)
    expect(sim.slaves.get(1)!.model.values(Date.now()).get('averaging_s')).toBe(30)
    const ro = await post('wq-rtu-1', { field: 'ph', value: 7 })
    expect(ro.status).toBe(422)
    expect(await ro.json()).toMatchObject({ error: 'not_writable' })
    const range = await post('wq-rtu-1', { field: 'averaging_s', value: 6000 })
    expect(await range.json()).toMatchObject({ error: 'out_of_range' })
  })
})
