/**
 * An ETC RSU the gateway dials as its lane controller: recorded, then replayed by `smartcity replay`
 * listening where the gateway dials and playing the RSU's frames (each after the controller's answer, as
 * recorded) to a fresh gateway: the same transactions are stored (card, OBU, plate, fee, balance, result; their
 * time and duration are the lane controller's own, so the replay's).
 */
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cityServices } from '../../cli/demo-parts/city-services.ts'
import { replay } from '../../cli/replay.ts'
import { readRecordings } from '../../cli/replay/recording.ts'
import type { GatewayConfigInput } from '../../gateway/config.ts'
import type { Gateway } from '../../gateway/gateway.ts'
import { have, tempDir } from '../helpers/env.ts'
import { gatewayFrom } from '../helpers/gateway.ts'
import { type InfluxServer, startInflux } from '../helpers/influx.ts'
import { freePort, sleep, waitFor } from '../helpers/net.ts'

const DB = 'city'

async function drained(gw: Gateway): Promise<void> {
  await waitFor(async () => (await gw.health())['spool']?.detail?.startsWith('0 points'), 30_000, 'the spool drained', 200)
}

/**
 * Each transaction without `time` and `transaction_ms`: the lane controller stamps a transaction when it
 * completes and measures its duration, so both are the replay's (the RSU's frames carry neither).
 */
async function etcRows(influx: InfluxServer): Promise<string[]> {
  const rows = await influx.query(DB, 'SELECT * FROM "etc_transaction" ORDER BY time')
  return rows.map(({ time: _t, transaction_ms: _d, ...r }) => JSON.stringify(Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b)))))
}

describe.skipIf(!have('influxd'))('record an ETC RSU, replay it as the RSU', () => {
  const tmp = tempDir('rec-etc-')
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

  it('the transactions of the recorded vehicles are stored again', async () => {
    const h = await cityServices({ cars: 0 }).prepare({ district: 'd', dataDir: join(tmp.dir, 'parts'), log: pino({ level: 'silent' }), freePort, mqttUrl: 'mqtt://127.0.0.1:1' })
    const base = (dataDir: string, influx: InfluxServer): GatewayConfigInput => ({
      dataDir,
      gateway: { district: 'd' },
      http: { enabled: false },
      sinks: [{ type: 'influx-v1', url: influx.url, database: DB, flushIntervalMs: 100 }],
      sources: h.sources,
      devices: h.devices,
    })
    const gwA = gatewayFrom(base(join(tmp.dir, 'gw-a'), influxA), { mqttPort: await freePort(), recordDir })
    await gwA.start()
    await sleep(8_000)
    await gwA.stop()
    await h.stop()
    const recs = readRecordings(recordDir)
    expect(recs.map((r) => r.header.type)).toEqual(['etc-rsu'])
    const want = await etcRows(influxA)
    expect(want.length).toBeGreaterThanOrEqual(1)

    const gwB = gatewayFrom(base(join(tmp.dir, 'gw-b'), influxB), { mqttPort: await freePort() })
    const lines: string[] = []
    const played = replay(recordDir, { fast: true }, { write: (x: string) => lines.push(x) } as unknown as NodeJS.WritableStream)
    await sleep(200)
    await gwB.start()
    stops.push(() => gwB.stop())
    const r = await played
    expect(r.summary.failures, lines.join('')).toEqual([])
    await drained(gwB)
    const got = await etcRows(influxB)
    expect(r.code, lines.join('')).toBe(0)
    expect(got).toEqual(want)
  }, 120_000)
})
