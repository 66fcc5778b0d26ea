/**
 * Polled protocols: a recording of the gateway polling Modbus TCP meters and an RS-485 (RTU, socat pty) bus
 * of sondes, replayed by `smartcity replay` acting as the devices (each request answered with the answer
 * recorded for it) to a fresh gateway: it stores the same values in the same order. Point times are the
 * gateway's poll times (a Modbus register has no time), so they are the replay's, not the recording's.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeRecording } from '../../cli/decode.ts'
import { modbusPart } from '../../cli/demo-parts/modbus.ts'
import { replay } from '../../cli/replay.ts'
import { readRecordings } from '../../cli/replay/recording.ts'
import type { GatewayConfigInput } from '../../gateway/config.ts'
import type { Gateway } from '../../gateway/gateway.ts'
import { startPtyPair } from '../../simulators/modbus/index.ts'
import { have, tempDir } from '../helpers/env.ts'
import { gatewayFrom } from '../helpers/gateway.ts'
import { type InfluxServer, startInflux } from '../helpers/influx.ts'
import { freePort, sleep, waitFor } from '../helpers/net.ts'

const DB = 'city'

async function drained(gw: Gateway): Promise<void> {
  await waitFor(async () => (await gw.health())['spool']?.detail?.startsWith('0 points'), 30_000, 'the spool drained', 200)
}

/** Each device's field values in time order (the time left out). */
async function valuesByDevice(influx: InfluxServer, m: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>()
  for (const r of await influx.query(DB, `SELECT * FROM "${m}" ORDER BY time`)) {
    const { time: _t, ...rest } = r
    const dev = String(rest['device'])
    const list = out.get(dev) ?? []
    list.push(JSON.stringify(Object.fromEntries(Object.entries(rest).sort(([a], [b]) => a.localeCompare(b)))))
    out.set(dev, list)
  }
  return out
}

describe.skipIf(!have('influxd', 'socat'))('record Modbus polling, replay as the devices', () => {
  const tmp = tempDir('rec-modbus-')
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

  it('the replayed meters and sondes give gateway B the values gateway A stored, in order', async () => {
    const log = pino({ level: 'silent' })
    const h = await modbusPart.prepare({ district: 'd', dataDir: join(tmp.dir, 'parts'), log, freePort, mqttUrl: 'mqtt://127.0.0.1:1' })
    const base = (dataDir: string, influx: InfluxServer, sources: GatewayConfigInput['sources']): GatewayConfigInput => ({
      dataDir,
      gateway: { district: 'd' },
      http: { enabled: false },
      sinks: [{ type: 'influx-v1', url: influx.url, database: DB, flushIntervalMs: 100 }],
      sources,
      devices: h.devices,
    })
    const gwA = gatewayFrom(base(join(tmp.dir, 'gw-a'), influxA, h.sources), { mqttPort: await freePort(), recordDir })
    await gwA.start()
    await sleep(5_000)
    await gwA.stop()
    await h.stop()
    const recs = readRecordings(recordDir)
    expect(new Set(recs.map((r) => r.header.transport))).toEqual(new Set(['modbus-tcp', 'modbus-rtu']))
    // decode reads the recording as the gateway did: Modbus TCP as the RTU frames of the same PDUs, each
    // answer in the light of its request (the meters' built-in profiles; a capture names units, not devices).
    const decoded: { ok: boolean; measurement?: string; device?: string }[] = []
    for (const rec of recs) decodeRecording(rec, (d) => decoded.push(...(d.ok ? d.points.map((p) => ({ ok: true, measurement: p.measurement, device: p.tags['device'] })) : [{ ok: false }])))
    expect(decoded.filter((d) => !d.ok)).toEqual([])
    expect(new Set(decoded.filter((d) => d.measurement === 'energy_meter').map((d) => d.device))).toEqual(new Set(['unit-1', 'unit-2', 'unit-3', 'unit-4']))
    const meters = await valuesByDevice(influxA, 'energy_meter')
    const sondes = await valuesByDevice(influxA, 'water_quality')
    expect(meters.size).toBe(4)
    expect(sondes.size).toBe(3)

    // Gateway B: the same meters address (the replay listens there now), its bus on a new pty pair.
    const dir = join(tmp.dir, 'pty-b')
    mkdirSync(dir, { recursive: true })
    const pty = await startPtyPair(dir, 'rs485b')
    stops.push(() => pty.stop())
    const sourcesB = h.sources.map((s) => (s.type === 'modbus-rtu' ? { ...s, path: pty.a } : s))
    const gwB = gatewayFrom(base(join(tmp.dir, 'gw-b'), influxB, sourcesB), { mqttPort: await freePort() })
    const lines: string[] = []
    const played = replay(recordDir, { serial: pty.b, fast: true }, { write: (s: string) => lines.push(s) } as unknown as NodeJS.WritableStream)
    await sleep(300)
    await gwB.start()
    stops.push(() => gwB.stop())
    const r = await played
    expect(r.summary.failures).toEqual([])
    expect(r.summary.answered).toBeGreaterThan(0)
    expect(r.code, lines.join('')).toBe(0)
    await drained(gwB)
    for (const [m, want] of [
      ['energy_meter', meters],
      ['water_quality', sondes],
    ] as const) {
      const got = await valuesByDevice(influxB, m)
      expect([...got.keys()].sort(), m).toEqual([...want.keys()].sort())
      for (const [dev, vals] of want) {
        // B polled at least as often as A was recorded; its first values are A's, in A's order.
        expect(got.get(dev)!.length, dev).toBeGreaterThanOrEqual(vals.length)
        expect(got.get(dev)!.slice(0, vals.length), dev).toEqual(vals)
      }
    }
  }, 120_000)
})
