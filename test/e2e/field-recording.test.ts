/**
 * A field problem turned into a test (README "Record and replay"): bus 13900100107's modem buffered half a
 * location frame for 2.5 s and then sent the rest glued to the next frame (one TCP read ends mid-frame, the
 * next holds the tail and a whole frame). The recording, taken with `smartcity gateway --record`, is
 * test/fixtures/recordings/jt808-bus-0107-split-read.jsonl; its gateway had `authSecret:
 * field-secret-bus-0107`. Replayed into a gateway with the same secret, and decoded, it must give all three
 * locations at the times the terminal stated.
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Gateway } from '../../gateway/gateway.ts'
import { have, tempDir } from '../helpers/env.ts'
import { gatewayFrom, metricValue } from '../helpers/gateway.ts'
import { type InfluxServer, startInflux } from '../helpers/influx.ts'
import { freePort, waitFor } from '../helpers/net.ts'

const run = promisify(execFile)
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'smartcity.js')
const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'recordings', 'jt808-bus-0107-split-read.jsonl')
const TIMES = [0, 10, 20].map((s) => Date.UTC(2026, 10, 28, 2, 15, s))

async function smartcity(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { timeout: 60_000 })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

describe('the recorded field problem: a JT/T 808 location split across TCP reads', () => {
  it('smartcity decode FILE.jsonl gives the three locations with the times the terminal stated', async () => {
    const r = await smartcity('decode', FIXTURE)
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { ok: boolean; dir: string; t: number; points: { measurement: string; time: number; tags: Record<string, string> }[] })
    // register, auth, three locations: every frame decoded, none refused.
    expect(lines.map((l) => l.ok)).toEqual([true, true, true, true, true])
    const points = lines.flatMap((l) => l.points)
    expect(points.map((p) => [p.measurement, p.tags['device'], p.time])).toEqual(TIMES.map((t) => ['position', '13900100107', t]))
  })

  describe.skipIf(!have('influxd'))('replayed into a gateway with the same authSecret', () => {
    const tmp = tempDir('field-')
    let influx: InfluxServer
    let gw: Gateway
    let port: number
    beforeAll(async () => {
      influx = await startInflux(join(tmp.dir, 'influx'))
      port = await freePort()
      gw = gatewayFrom(
        {
          dataDir: join(tmp.dir, 'gw'),
          http: { enabled: false },
          sinks: [{ type: 'influx-v1', url: influx.url, database: 'city', flushIntervalMs: 100 }],
          sources: [{ type: 'jt808', port, authSecret: 'field-secret-bus-0107' }],
        },
        { mqttPort: await freePort() },
      )
      await gw.start()
    }, 60_000)
    afterAll(async () => {
      await gw?.stop()
      await influx?.stop()
      tmp.cleanup()
    })

    it('smartcity replay --to stores all three locations at their times, each acknowledged as recorded', async () => {
      const r = await smartcity('replay', FIXTURE, '--to', `127.0.0.1:${port}`, '--speed', '10')
      expect(r.stderr).toMatch(/^replayed 1 recording\(s\): 5 records sent\n$/)
      expect(r.code).toBe(0)
      await waitFor(async () => (await influx.count('city', 'position', 'lat')) === 3, 20_000, 'three positions')
      const rows = await influx.query('city', `SELECT lat, lon, speed_kmh FROM position WHERE device = '13900100107' ORDER BY time`)
      expect(rows.map((x) => x['time'])).toEqual(TIMES)
      expect(rows.map((x) => x['lat'])).toEqual([34.23, 34.2309, 34.2318])
      expect(await metricValue(gw, 'smartcity_readings_rejected_total')).toBe(0)
    }, 60_000)
  })
})
