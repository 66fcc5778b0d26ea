/**
 * Serial devices: a BeiDou receiver (NMEA 0183, it speaks on its own) and a DL/T 645 meter bus (polled) on
 * socat pseudo-terminals, recorded, then replayed to a fresh gateway on new pty pairs
 * (`--serial SOURCE=PATH,...`): the NMEA fixes come back with their values and times (the sentences carry
 * them), the meters' values in order (their points get the new poll times).
 */
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serialPart } from '../../cli/demo-parts/serial.ts'
import { replay } from '../../cli/replay.ts'
import { readRecordings } from '../../cli/replay/recording.ts'
import type { GatewayConfigInput } from '../../gateway/config.ts'
import type { Gateway } from '../../gateway/gateway.ts'
import { createPtyPair } from '../../simulators/serial/pty.ts'
import { have, tempDir } from '../helpers/env.ts'
import { gatewayFrom } from '../helpers/gateway.ts'
import { type InfluxServer, startInflux } from '../helpers/influx.ts'
import { freePort, sleep, waitFor } from '../helpers/net.ts'

const DB = 'city'

async function drained(gw: Gateway): Promise<void> {
  await waitFor(async () => (await gw.health())['spool']?.detail?.startsWith('0 points'), 30_000, 'the spool drained', 200)
}

async function rows(influx: InfluxServer, m: string, withTime: boolean): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>()
  for (const r of await influx.query(DB, `SELECT * FROM "${m}" ORDER BY time`)) {
    const { time, ...rest } = r
    const dev = String(rest['device'])
    const list = out.get(dev) ?? []
    list.push(JSON.stringify({ ...(withTime ? { time } : {}), ...Object.fromEntries(Object.entries(rest).sort(([a], [b]) => a.localeCompare(b))) }))
    out.set(dev, list)
  }
  return out
}

describe.skipIf(!have('influxd', 'socat'))('record serial devices, replay them on new pseudo-terminals', () => {
  const tmp = tempDir('rec-serial-')
  const recordDir = join(tmp.dir, 'recordings')
  let influxA: InfluxServer
  let influxB: InfluxServer
  const stops: (() => Promise<void>)[] = []
  beforeAll(async () => {
    ;[influxA, influxB] = await Promise.all([startInflux(join(tmp.dir, 'influx-a')), startInflux(join(tmp.dir, 'influx-b'))])
  }, 60_000)
  afterAll(async () => {
    for (const f of stops.reverse()) await f().catch(() => {})
    await influxA?.stop()
    await influxB?.stop()
    tmp.cleanup()
  })

  it('NMEA fixes with their times, DL/T 645 readings with their values', async () => {
    const h = await serialPart.prepare({ district: 'd', dataDir: join(tmp.dir, 'parts'), log: pino({ level: 'silent' }), freePort, mqttUrl: 'mqtt://127.0.0.1:1' })
    stops.push(() => h.stop())
    const sources = h.sources.map((s) => (s.type === 'dlt645' ? { ...s, pollIntervalMs: 1_500 } : s))
    const base = (dataDir: string, influx: InfluxServer, src: GatewayConfigInput['sources']): GatewayConfigInput => ({
      dataDir,
      gateway: { district: 'd' },
      http: { enabled: false },
      sinks: [{ type: 'influx-v1', url: influx.url, database: DB, flushIntervalMs: 100 }],
      sources: src,
      devices: h.devices,
    })
    const gwA = gatewayFrom(base(join(tmp.dir, 'gw-a'), influxA, sources), { mqttPort: await freePort(), recordDir })
    await gwA.start()
    await sleep(5_000)
    await gwA.stop()
    await h.stop()
    expect(new Set(readRecordings(recordDir).map((r) => r.header.type))).toEqual(new Set(['nmea', 'dlt645']))
    const fixes = await rows(influxA, 'position', true)
    const meters = await rows(influxA, 'energy_meter', false)
    expect(fixes.get('bus-101-gnss')!.length).toBeGreaterThanOrEqual(3)
    expect(meters.size).toBe(3)

    const g = await createPtyPair(join(tmp.dir, 'g-a'), join(tmp.dir, 'g-b'))
    const m = await createPtyPair(join(tmp.dir, 'm-a'), join(tmp.dir, 'm-b'))
    stops.push(() => g.stop(), () => m.stop())
    const sourcesB = sources.map((s) => (s.type === 'nmea' ? { ...s, serial: { ...s.serial, path: g.b } } : s.type === 'dlt645' ? { ...s, serial: { ...s.serial, path: m.b } } : s))
    const gwB = gatewayFrom(base(join(tmp.dir, 'gw-b'), influxB, sourcesB), { mqttPort: await freePort() })
    await gwB.start()
    stops.push(() => gwB.stop())
    const lines: string[] = []
    const r = await replay(recordDir, { serial: `gnss-bus-101=${g.a},dlt645-bus-1=${m.a}`, fast: true }, { write: (x: string) => lines.push(x) } as unknown as NodeJS.WritableStream)
    expect(r.summary.failures).toEqual([])
    expect(r.code, lines.join('')).toBe(0)
    // The last NMEA epoch closes when the line goes quiet (idleFlushMs).
    await sleep(1_500)
    await drained(gwB)
    expect(await rows(influxB, 'position', true)).toEqual(fixes)
    const got = await rows(influxB, 'energy_meter', false)
    for (const [dev, vals] of meters) expect(got.get(dev)?.slice(0, vals.length), dev).toEqual(vals)
  }, 120_000)
})
