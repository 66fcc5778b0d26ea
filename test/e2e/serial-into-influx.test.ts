/**
 * The serial part of the demo, end to end: the GNSS receiver and the DL/T 645 meter bus on socat
 * pseudo-terminals, the gateway opening the other ends as serial ports, points landing in a real InfluxDB
 * (Debian's influxd) with the inventory's tags.
 */
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { serialPart } from '../../cli/demo-parts/serial.ts'
import type { DemoPartHandle } from '../../cli/demo-parts/types.ts'
import type { Gateway } from '../../gateway/gateway.ts'
import { have, tempDir } from '../helpers/env.ts'
import { gatewayFrom } from '../helpers/gateway.ts'
import { type InfluxServer, startInflux } from '../helpers/influx.ts'
import { freePort, waitFor } from '../helpers/net.ts'

describe.skipIf(!have('socat', 'influxd'))('serial devices into InfluxDB', () => {
  const tmp = tempDir()
  let influx: InfluxServer | undefined
  let part: DemoPartHandle | undefined
  let gw: Gateway | undefined
  afterAll(async () => {
    await gw?.stop()
    await part?.stop()
    await influx?.stop()
    tmp.cleanup()
  })

  it('positions from the NMEA receiver and readings of every DL/T 645 meter are stored with their tags', async () => {
    influx = await startInflux(join(tmp.dir, 'influx'))
    part = await serialPart.prepare({ district: 'xian-gaoxin', dataDir: tmp.dir, log: pino({ level: 'silent' }), freePort, mqttUrl: 'mqtt://127.0.0.1:1' })
    gw = gatewayFrom(
      {
        gateway: { district: 'xian-gaoxin' },
        dataDir: join(tmp.dir, 'gw'),
        http: { port: 0 },
        sinks: [{ type: 'influx-v1', url: influx.url, database: 'city', flushIntervalMs: 200 }],
        sources: part.sources,
        devices: part.devices,
      },
      { mqttPort: 0 },
    )
    await gw.start()
    await part.start()
    expect(part.describe().join('\n')).toMatch(/DL\/T 645-2007 bus \(2400 8E1\)/)

    await waitFor(async () => (await influx!.count('city', 'position', 'fix_quality')) >= 3, 30_000, 'positions in InfluxDB')
    await waitFor(async () => (await influx!.count('city', 'energy_meter', 'import_energy_kwh')) >= 3, 30_000, 'meter readings in InfluxDB')

    const pos = await influx.query('city', `SELECT * FROM position WHERE device = 'bus-101-gnss' ORDER BY time DESC LIMIT 1`)
    expect(pos[0]).toMatchObject({ kind: 'position', protocol: 'nmea', district: 'xian-gaoxin', system: 'GNSS', fix_quality: 1, fix_mode: 3 })
    expect(pos[0]!['lat'] as number).toBeGreaterThan(34.19)
    expect(pos[0]!['lon'] as number).toBeGreaterThan(108.88)
    const sats = await influx.query('city', `SELECT count(in_view) FROM satellites GROUP BY "system"`)
    expect(sats.length).toBeGreaterThan(0)

    const meters = await influx.query('city', `SELECT last(import_energy_kwh) AS e, last(voltage_a_v) AS v FROM energy_meter GROUP BY device`)
    expect(meters.length).toBeGreaterThan(0)
    for (const d of ['meter-0161', 'meter-0002', 'meter-0003']) {
      const rows = await influx.query('city', `SELECT * FROM energy_meter WHERE device = '${d}' LIMIT 1`)
      expect(rows[0]).toMatchObject({ kind: 'energy_meter', protocol: 'dlt645', district: 'xian-gaoxin' })
      expect(rows[0]!['voltage_a_v'] as number).toBeGreaterThan(200)
    }
    const health = await gw.health()
    expect(health['source:gnss-bus-101']).toMatchObject({ status: 'ok' })
    expect(health['source:dlt645-bus-1']).toMatchObject({ status: 'ok' })
  })
})
