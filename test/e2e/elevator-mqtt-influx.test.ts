import mqtt from 'mqtt'
import { afterAll, describe, expect, it } from 'vitest'
import { type MqttBuilding, startMqttBuilding } from '../../simulators/elevator/mqtt-building.ts'
import { have, tempDir } from '../helpers/env.ts'
import { gatewayFrom } from '../helpers/gateway.ts'
import { useInflux } from '../helpers/influx.ts'
import { freePort, sleep, waitFor } from '../helpers/net.ts'

const DB = 'lifts'
const CAR_OPTIONS = { ratedSpeedMs: 3, topFloor: 12, bottomFloor: 1, trappedAfterSec: 1, stoppedOutsideAfterSec: 1, silentAfterSec: 2 }

describe.skipIf(!have('influxd'))('elevators: simulated monitors over MQTT -> gateway fault detection -> InfluxDB and MQTT alarms', () => {
  const influx = useInflux()
  const tmp = tempDir()
  let sim: MqttBuilding | undefined
  afterAll(async () => {
    await sim?.stop()
    tmp.cleanup()
  })

  it('each injected fault raises exactly one event of its type that clears with the fault; the other cars raise none', async () => {
    const mqttPort = await freePort()
    const ids = Array.from({ length: 6 }, (_, i) => `tower-a-L${i + 1}`)
    const gw = gatewayFrom(
      {
        dataDir: `${tmp.dir}/gw`,
        http: { enabled: false },
        sinks: [{ type: 'influx-v1', url: influx.url, database: DB, flushIntervalMs: 100 }],
        devices: ids.map((id) => ({ id, kind: 'elevator' as const, district: 'xian-gaoxin', site: 'Tower A', protocol: 'mqtt' as const, options: CAR_OPTIONS })),
      },
      { mqttPort },
    )
    await gw.start()
    const alarms: { device: string; rule: string; active: boolean }[] = []
    const watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`)
    await watcher.subscribeAsync('city/+/alarms/#', { qos: 1 })
    watcher.on('message', (_t, p) => alarms.push(JSON.parse(p.toString())))
    try {
      sim = await startMqttBuilding({
        url: `mqtt://127.0.0.1:${mqttPort}`,
        district: 'xian-gaoxin',
        building: 'tower-a',
        seed: 5,
        cars: 6,
        bottomFloor: 1,
        topFloor: 12,
        doorMoveMs: 300,
        doorOpenMs: 500,
        ratedSpeedMs: 3,
        accelMs2: 1.5,
        peakPerMin: 120,
        stepMs: 100,
        heartbeatMs: 1000,
        reportEvents: true,
        demand: () => ({ rate: 1, up: 0.4, down: 0.4, period: 'off_peak' }),
      })
      await sleep(1500)
      // Trapped strikes on a run: wait for car 1 to be on its way (it never waits long at this traffic).
      await waitFor(() => sim!.building.status(0).moving, 20_000, 'car 1 moving')
      sim.inject(0, 'trapped', 4000)
      sim.inject(1, 'door_fault', 5000)
      sim.inject(2, 'overspeed', 0)
      sim.inject(3, 'power_loss', 3000)
      sim.inject(4, 'power_loss', 5000, { silent: true })
      const b = sim.building
      await waitFor(() => [0, 1, 2, 3, 4].every((i) => b.fault(i) === undefined), 30_000, 'faults over')
      // Door faults clear on the next good close, silence on the next message: give them a moment.
      await sleep(3000)
      const want: Record<string, string> = { 'tower-a-L1': 'trapped', 'tower-a-L2': 'door_fault', 'tower-a-L3': 'overspeed', 'tower-a-L4': 'power_loss', 'tower-a-L5': 'power_loss' }
      await waitFor(async () => (await influx.count(DB, 'elevator_event', 'active')) >= 10, 15_000, '10 event points')
      await sleep(500)
      const rows = await influx.query(DB, 'SELECT "active", "event", "device" FROM elevator_event ORDER BY time')
      const byDevice: Record<string, string[]> = {}
      for (const r of rows) {
        const d = String(r['device'])
        byDevice[d] = [...(byDevice[d] ?? []), `${r['active'] ? '+' : '-'}${String(r['event'])}`]
      }
      const expected = Object.fromEntries(Object.entries(want).map(([d, e]) => [d, [`+${e}`, `-${e}`]]))
      expect(byDevice).toEqual(expected)
      // The monitor reported its faults too (raw reports kept), yet no event was doubled.
      expect(await influx.count(DB, 'elevator_event_report', 'active')).toBeGreaterThanOrEqual(4)
      // Status points flowed for every car, the one that went silent included.
      for (const id of ids) expect(await influx.count(DB, 'elevator_status', 'floor', `"device"='${id}'`), id).toBeGreaterThan(5)
      // One MQTT alarm per start and clear.
      await waitFor(() => alarms.length >= 10, 5_000, 'alarms')
      const perDevice: Record<string, string[]> = {}
      for (const a of alarms) perDevice[a.device] = [...(perDevice[a.device] ?? []), `${a.active ? '+' : '-'}${a.rule}`]
      expect(perDevice).toEqual(Object.fromEntries(Object.entries(want).map(([d, e]) => [d, [`+elevator_${e}`, `-elevator_${e}`]])))
      expect(gw.alarms.listActive()).toEqual([])
    } finally {
      await watcher.endAsync()
      await sim?.stop()
      sim = undefined
      await gw.stop()
    }
  })
})
