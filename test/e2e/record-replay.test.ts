/**
 * Issue 12 item 6: a recording of the ci-smoke device mix (3 water-quality stations and 2 elevators over
 * MQTT, 3 JT/T 808 buses, 2 HJ 212 station loggers, started from the demo parts) replayed into a fresh
 * gateway and a fresh InfluxDB gives the same points, values and times; `smartcity decode` of the recording
 * gives those points too.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cityServices } from '../../cli/demo-parts/city-services.ts'
import { tcpPlatforms } from '../../cli/demo-parts/tcp-platforms.ts'
import type { DemoPartHandle } from '../../cli/demo-parts/types.ts'
import { waterMqtt } from '../../cli/demo-parts/water-mqtt.ts'
import { decodeRecording } from '../../cli/decode.ts'
import { replay } from '../../cli/replay.ts'
import { readRecordings } from '../../cli/replay/recording.ts'
import type { GatewayConfigInput } from '../../gateway/config.ts'
import type { Gateway } from '../../gateway/gateway.ts'
import { have, tempDir } from '../helpers/env.ts'
import { gatewayFrom, metricValue } from '../helpers/gateway.ts'
import { type InfluxServer, startInflux } from '../helpers/influx.ts'
import { freePort, sleep, waitFor } from '../helpers/net.ts'

const DB = 'city'
const DISTRICT = 'xian-gaoxin'
/** Points the gateway makes on its own clock, not from the devices' bytes: not expected to repeat. */
const OWN_CLOCK = new Set(['device_status'])

async function drained(gw: Gateway): Promise<void> {
  await waitFor(async () => (await gw.health())['spool']?.detail?.startsWith('0 points'), 30_000, 'the spool drained', 200)
}

/** Every point of every measurement (but the gateway's own-clock ones), as sorted JSON lines. */
async function allPoints(influx: InfluxServer): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>()
  for (const row of await influx.query(DB, 'SHOW MEASUREMENTS')) {
    const m = String(row['name'])
    if (OWN_CLOCK.has(m)) continue
    const rows = await influx.query(DB, `SELECT * FROM "${m}"`)
    out.set(m, rows.map((r) => JSON.stringify(Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b))))).sort())
  }
  return out
}

describe.skipIf(!have('influxd'))('record a district, replay it into a fresh gateway and InfluxDB', () => {
  const tmp = tempDir('rec-e2e-')
  const recordDir = join(tmp.dir, 'recordings')
  const secret = 'replay-test-auth-secret'
  let influxA: InfluxServer
  let influxB: InfluxServer
  let sources: GatewayConfigInput['sources'] = []
  let devices: GatewayConfigInput['devices'] = []
  let recorded: Map<string, string[]>
  let gwA: Gateway | undefined
  let gwB: Gateway | undefined

  beforeAll(async () => {
    ;[influxA, influxB] = await Promise.all([startInflux(join(tmp.dir, 'influx-a')), startInflux(join(tmp.dir, 'influx-b'))])
  }, 60_000)
  afterAll(async () => {
    await gwA?.stop()
    await gwB?.stop()
    await influxA?.stop()
    await influxB?.stop()
    tmp.cleanup()
  })

  it('records the raw traffic of every source while the gateway serves it', async () => {
    const mqttPort = await freePort()
    const log = pino({ level: 'silent' })
    const ctx = { district: DISTRICT, dataDir: join(tmp.dir, 'parts'), log, freePort, mqttUrl: `mqtt://127.0.0.1:${mqttPort}` }
    const parts = [
      waterMqtt({ stations: [{ id: 'wq-0001', site: 'a' }, { id: 'wq-0002', site: 'b' }, { id: 'wq-0003', site: 'c', waterBody: 'lake' }], intervalMs: 400 }),
      cityServices({ etc: false, cars: 2, heartbeatMs: 1_000, faultEveryMs: 0, stepMs: 200 }),
      tcpPlatforms({
        vehicles: { bus: 3, taxi: 0, sanitation: 0 },
        intervalSec: 1,
        heartbeatSec: 3,
        stations: [
          { mn: 'HJ212WQ0000000000000001', pw: 'zaohe-01', site: 'Zaohe' },
          { mn: 'HJ212WQ0000000000000002', pw: 'jue-02', site: 'Jue' },
        ],
        realtimeSec: 1,
        minuteSec: 2,
      }),
    ]
    const handles: DemoPartHandle[] = []
    for (const p of parts) handles.push(await p.prepare(ctx))
    // The same JT/T 808 secret on both gateways: the replayed 0x0102 carries a code gateway B derives too.
    sources = handles.flatMap((h) => h.sources).map((s) => (s.type === 'jt808' ? { ...s, authSecret: secret } : s))
    devices = handles.flatMap((h) => h.devices)
    gwA = gatewayFrom(
      { dataDir: join(tmp.dir, 'gw-a'), gateway: { district: DISTRICT }, http: { enabled: false }, sinks: [{ type: 'influx-v1', url: influxA.url, database: DB, flushIntervalMs: 100 }], sources: [{ type: 'mqtt' }, ...sources], devices },
      { mqttPort, recordDir },
    )
    await gwA.start()
    for (const h of handles) await h.start()
    await sleep(6_000)
    for (const h of handles) await h.stop()
    await drained(gwA)
    recorded = await allPoints(influxA)
    await gwA.stop()
    gwA = undefined
    // Something of every protocol was stored, and recorded.
    expect([...recorded.keys()].sort()).toEqual(expect.arrayContaining(['elevator_status', 'position', 'water_quality']))
    expect(recorded.get('position')!.length).toBeGreaterThanOrEqual(9)
    expect(recorded.get('water_quality')!.length).toBeGreaterThanOrEqual(15)
    // HJ 212 uploads are water_quality points of the loggers' MNs.
    expect(recorded.get('water_quality')!.some((l) => l.includes('"device":"HJ212WQ0000000000000001"'))).toBe(true)
    const recs = readRecordings(recordDir)
    const types = new Set(recs.map((r) => r.header.type))
    expect([...types].sort()).toEqual(['hj212', 'jt808', 'mqtt'])
    // Both directions: the platforms' answers (0x8100, 0x8001, 9014) are in the recording.
    expect(recs.filter((r) => r.header.type === 'jt808').every((r) => r.records.some((x) => x.dir === 'out'))).toBe(true)
  }, 90_000)

  it('smartcity replay into a fresh gateway and InfluxDB stores the same points, values and times', async () => {
    const mqttPort = await freePort()
    // New listen ports: the replay finds them in gateway B's configuration (--gateway-config).
    const moved = await Promise.all(sources!.map(async (s) => ('port' in s ? { ...s, port: await freePort() } : s)))
    const raw: GatewayConfigInput = {
      dataDir: join(tmp.dir, 'gw-b'),
      gateway: { district: DISTRICT },
      http: { enabled: false },
      broker: { type: 'embedded', port: mqttPort },
      sinks: [{ type: 'influx-v1', url: influxB.url, database: DB, flushIntervalMs: 100 }],
      sources: [{ type: 'mqtt' }, ...moved],
      devices,
    }
    const file = join(tmp.dir, 'gateway-b.yaml')
    writeFileSync(file, JSON.stringify(raw, null, 2))
    gwB = gatewayFrom(raw)
    await gwB.start()
    const lines: string[] = []
    const r = await replay(recordDir, { 'gateway-config': file, fast: true }, { write: (s: string) => lines.push(s) } as unknown as NodeJS.WritableStream)
    expect(r.summary.failures).toEqual([])
    expect(r.summary.unanswered).toBe(0)
    expect(r.code).toBe(0)
    expect(lines.join('')).toMatch(/^replayed \d+ recording\(s\): \d+ records sent/)
    await drained(gwB)
    const replayed = await allPoints(influxB)
    expect([...replayed.keys()].sort()).toEqual([...recorded.keys()].sort())
    for (const [m, pts] of recorded) expect(replayed.get(m), m).toEqual(pts)
    expect(await metricValue(gwB, 'smartcity_readings_rejected_total')).toBe(0)
  }, 90_000)

  it('smartcity decode of the recording gives the stored device points with their recorded times', () => {
    const decoded = new Map<string, Set<string>>()
    let failed = 0
    for (const rec of readRecordings(recordDir)) {
      decodeRecording(rec, (r) => {
        if (!r.ok) failed++
        for (const p of r.ok ? r.points : []) {
          const set = decoded.get(p.measurement) ?? new Set()
          set.add(`${p.tags['device']} ${p.time}`)
          decoded.set(p.measurement, set)
        }
      })
    }
    expect(failed).toBe(0)
    for (const m of ['position', 'water_quality']) {
      const stored = recorded.get(m)!.map((l) => JSON.parse(l) as { device: string; time: number })
      const got = decoded.get(m) ?? new Set()
      for (const p of stored) expect(got.has(`${p.device} ${p.time}`), `${m} ${p.device} ${p.time}`).toBe(true)
    }
  })
})
