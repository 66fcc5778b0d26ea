/**
 * What the operators' page reads (docs/dashboard-api.md): the live stream's snapshot and deltas (devices that
 * changed, alarms that changed with their state, alarms that left the list), read with fetch() streaming and
 * a bearer token as the page does; /api/ui/config, /api/ui/geometry, /api/whoami and the vendored ECharts.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import Fastify from 'fastify'
import mqtt from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAlarmStore } from '../../gateway/alarms/store.ts'
import { createLiveView } from '../../gateway/http/live.ts'
import type { Gateway } from '../../gateway/gateway.ts'
import { newToken } from '../../gateway/http/auth.ts'
import type { LiveDelta, LiveSnapshot } from '../../gateway/http/live.ts'
import { DashboardConfig, registerUi } from '../../gateway/http/ui.ts'
import { HttpConfig } from '../../gateway/http/config.ts'
import { tempDir } from '../helpers/env.ts'
import { gatewayFrom } from '../helpers/gateway.ts'

const reader = newToken()
const operator = newToken()
const tokens = [
  { name: 'wall-display', sha256: reader.sha256, scopes: ['read' as const] },
  { name: 'ops-desk', sha256: operator.sha256, scopes: ['read' as const, 'operate' as const] },
]
const auth = (t: string) => ({ authorization: `Bearer ${t}` })

/** Server-sent events as the page reads them: fetch() with a token, the body read as a stream. */
function readEvents(url: string, token: string) {
  const ac = new AbortController()
  const events: { event: string; data: unknown }[] = []
  let buf = ''
  const done = (async () => {
    const res = await fetch(url, { headers: auth(token), signal: ac.signal })
    if (res.status !== 200) throw new Error(`status ${res.status}`)
    const dec = new TextDecoder()
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += dec.decode(chunk, { stream: true })
        let i = buf.indexOf('\n\n')
        while (i >= 0) {
          const block = buf.slice(0, i)
          buf = buf.slice(i + 2)
          const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message'
          const data = /^data: (.*)$/m.exec(block)?.[1]
          events.push({ event, data: data === undefined ? undefined : JSON.parse(data) })
          i = buf.indexOf('\n\n')
        }
      }
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw err
    }
  })().catch((err: unknown) => {
    if ((err as Error).name !== 'AbortError') throw err
  })
  /** Resolves with the first event (after `from`) that `pick` accepts, within `ms`. */
  async function next<T>(pick: (e: { event: string; data: unknown }) => T | undefined, ms = 5_000): Promise<T> {
    const t0 = Date.now()
    for (let seen = 0; Date.now() - t0 < ms; ) {
      while (seen < events.length) {
        const r = pick(events[seen++]!)
        if (r !== undefined) return r
      }
      await new Promise((r) => setTimeout(r, 20))
    }
    throw new Error(`no matching event within ${ms} ms (${events.length} events)`)
  }
  return { events, next, close: () => ac.abort(), done }
}

describe('/api/live: snapshot, then deltas', () => {
  const tmp = tempDir()
  let gw: Gateway
  let base: string
  let mqttUrl: string
  beforeAll(async () => {
    gw = gatewayFrom(
      {
        dataDir: join(tmp.dir, 'gw'),
        gateway: { district: 'xian-gaoxin' },
        http: { port: 0, tokens, dashboard: { timeZone: 'Asia/Shanghai' } },
        devices: [
          { id: 'wq-1', kind: 'water_quality', district: 'xian-gaoxin' },
          { id: 'etc-1', kind: 'etc', district: 'xian-gaoxin' },
        ],
        sources: [{ type: 'mqtt', id: 'mqtt' }],
      },
      { mqttPort: 0 },
    )
    await gw.start()
    base = gw.endpoints().http!
    mqttUrl = gw.endpoints().mqtt
  })
  afterAll(async () => {
    await gw?.stop()
    tmp.cleanup()
  })

  it('needs a read token; the snapshot has the district, time zone, devices, alarms and counters', async () => {
    expect((await fetch(`${base}/api/live`)).status).toBe(401)
    gw.alarms.raise({ rule: 'ph_out_of_range', severity: 'warning', active: true, device: 'wq-1', district: 'xian-gaoxin', message: 'pH 5', value: 5, time: 1 })
    const s = readEvents(`${base}/api/live`, reader.token)
    try {
      const snap = await s.next((e) => (e.event === 'snapshot' ? (e.data as LiveSnapshot) : undefined))
      expect(snap).toMatchObject({ district: 'xian-gaoxin', timeZone: 'Asia/Shanghai', gateway: 'edge-gateway', counters: { received: expect.any(Number) } })
      expect(snap.devices.map((d) => d.id).sort()).toEqual(['etc-1', 'wq-1'])
      expect(snap.alarms).toMatchObject([{ id: 'ph_out_of_range/wq-1', state: 'active' }])
      expect(Math.abs(snap.now - Date.now())).toBeLessThan(5_000)
    } finally {
      s.close()
      await s.done
    }
  })

  it('a delta carries the device that sent a reading, an acknowledged alarm with its state, and a cleared one by id', async () => {
    const s = readEvents(`${base}/api/live`, reader.token)
    const client = await mqtt.connectAsync(mqttUrl, { clientId: 'wq-1-test' })
    try {
      await s.next((e) => (e.event === 'snapshot' ? true : undefined))
      // A delta comes once a second even when nothing changed (the first may repeat what the snapshot had).
      const idle = await s.next((e) => (e.event === 'delta' && (e.data as LiveDelta).devices.length === 0 ? (e.data as LiveDelta) : undefined), 4_000)
      expect(idle).toMatchObject({ devices: [], alarms: [], removedAlarms: [], counters: expect.any(Object) })

      await client.publishAsync('city/xian-gaoxin/water_quality/wq-1/telemetry', JSON.stringify({ ts: Date.now(), ph: 7.31 }), { qos: 1 })
      const dev = await s.next((e) => (e.event === 'delta' ? (e.data as LiveDelta).devices.find((d) => d.id === 'wq-1' && d.latest['water_quality']) : undefined), 3_000)
      expect(dev.latest['water_quality']?.fields['ph']).toBe(7.31)

      const ack = await fetch(`${base}/api/alarms/${encodeURIComponent('ph_out_of_range/wq-1')}/ack`, { method: 'POST', headers: { ...auth(operator.token), 'content-type': 'application/json' }, body: '{"note":"seen"}' })
      expect(ack.status).toBe(200)
      const a = await s.next((e) => (e.event === 'delta' ? (e.data as LiveDelta).alarms.find((x) => x.id === 'ph_out_of_range/wq-1') : undefined), 3_000)
      expect(a).toMatchObject({ state: 'acknowledged', ackBy: 'ops-desk', ackNote: 'seen' })

      gw.alarms.clear('ph_out_of_range', 'wq-1')
      const removed = await s.next((e) => (e.event === 'delta' && (e.data as LiveDelta).removedAlarms.length > 0 ? (e.data as LiveDelta) : undefined), 3_000)
      expect(removed.removedAlarms).toEqual(['ph_out_of_range/wq-1'])
      expect(removed.alarms).toEqual([])
    } finally {
      await client.endAsync()
      s.close()
      await s.done
    }
  })

  it('counts every ETC passage by result: 10 passages at one gantry within one second all show in the counts', async () => {
    const s = readEvents(`${base}/api/live`, reader.token)
    const client = await mqtt.connectAsync(mqttUrl, { clientId: 'etc-1-test' })
    try {
      const snap = await s.next((e) => (e.event === 'snapshot' ? (e.data as LiveSnapshot) : undefined))
      // Before its first passage a device has no counts.
      expect(snap.devices.find((d) => d.id === 'etc-1')?.counts).toBeUndefined()
      const results = ['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'insufficient_balance', 'insufficient_balance', 'no_card']
      const t0 = Date.now()
      await Promise.all(
        results.map((result, i) =>
          client.publishAsync('city/xian-gaoxin/etc/etc-1/telemetry', JSON.stringify({ ts: t0 + i * 50, lane: 'G1', result, obu_id: `A0B1C2${String(i).padStart(2, '0')}` }), { qos: 1 }),
        ),
      )
      expect(Date.now() - t0).toBeLessThan(1_000)
      // The deltas together: the counts of the last one that has the gantry (one passage in `latest`, all in the counts).
      const want = { ok: 7, insufficient_balance: 2, no_card: 1 }
      const dev = await s.next((e) => {
        if (e.event !== 'delta') return undefined
        const d = (e.data as LiveDelta).devices.find((x) => x.id === 'etc-1')
        return d?.counts && Object.values(d.counts.etc_transaction).reduce((a, b) => a + b, 0) >= 10 ? d : undefined
      }, 5_000)
      expect(dev.counts).toEqual({ etc_transaction: want })
      expect(dev.latest['etc_transaction']?.tags['lane']).toBe('G1')
      // Another client connecting now gets the counts in its snapshot.
      const s2 = readEvents(`${base}/api/live`, reader.token)
      try {
        const snap2 = await s2.next((e) => (e.event === 'snapshot' ? (e.data as LiveSnapshot) : undefined))
        expect(snap2.devices.find((d) => d.id === 'etc-1')?.counts).toEqual({ etc_transaction: want })
      } finally {
        s2.close()
        await s2.done
      }
    } finally {
      await client.endAsync()
      s.close()
      await s.done
    }
  })

  it('/api/ui/config and /api/whoami need a read token and say who the token is', async () => {
    expect((await fetch(`${base}/api/ui/config`)).status).toBe(401)
    const cfg = (await (await fetch(`${base}/api/ui/config`, { headers: auth(reader.token) })).json()) as Record<string, unknown>
    expect(cfg).toMatchObject({ district: 'xian-gaoxin', gateway: 'edge-gateway', timeZone: 'Asia/Shanghai', history: false, map: { datum: 'wgs84' } })
    expect(await (await fetch(`${base}/api/whoami`, { headers: auth(reader.token) })).json()).toEqual({ actor: 'wall-display', actorType: 'token', scopes: ['read'], open: false })
    expect(await (await fetch(`${base}/api/whoami`, { headers: auth(operator.token) })).json()).toEqual({ actor: 'ops-desk', actorType: 'token', scopes: ['operate', 'read'], open: false })
    expect((await fetch(`${base}/api/whoami`, { headers: auth('wrong') })).status).toBe(401)
  })

  it('serves ECharts from node_modules without a token (no CDN)', async () => {
    const res = await fetch(`${base}/vendor/echarts.min.js`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('javascript')
    const body = await res.text()
    const want = readFileSync(createRequire(import.meta.url).resolve('echarts/dist/echarts.min.js'), 'utf8')
    expect(body.length).toBe(want.length)
    expect(body).toContain('registerMap')
  })
})

describe('/api/ui/geometry', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())
  const fc = { type: 'FeatureCollection', features: [{ type: 'Feature', properties: { name: '高新区' }, geometry: { type: 'Polygon', coordinates: [[[108.85, 34.17], [108.92, 34.17], [108.92, 34.22], [108.85, 34.17]]] } }] }
  const build = (dashboard: unknown, webDir: string) => {
    const app = Fastify()
    registerUi(app, { district: 'd', gatewayId: 'g', dashboard: DashboardConfig.parse(dashboard), webDir, openAccess: () => true, history: false })
    return app
  }

  it('serves the configured file with its datum; else the page demo; else 404 NO_GEOMETRY; a broken file is 500 GEOMETRY_UNREADABLE', async () => {
    const file = join(tmp.dir, 'district.geojson')
    writeFileSync(file, JSON.stringify(fc))
    const web = join(tmp.dir, 'web')
    mkdirSync(join(web, 'geo'), { recursive: true })
    const configured = build({ map: { geojson: file, datum: 'gcj02', center: [108.88, 34.19], zoom: 3 } }, web)
    expect((await configured.inject('/api/ui/config')).json()).toMatchObject({ map: { source: 'config', datum: 'gcj02', center: [108.88, 34.19], zoom: 3 } })
    const g = await configured.inject('/api/ui/geometry')
    expect(g.statusCode).toBe(200)
    expect(g.headers['content-type']).toContain('application/geo+json')
    expect(g.json()).toEqual(fc)

    const none = build({}, web)
    expect((await none.inject('/api/ui/config')).json()).toMatchObject({ map: { source: 'none' } })
    expect((await none.inject('/api/ui/geometry')).json()).toMatchObject({ error: { code: 'NO_GEOMETRY' } })

    writeFileSync(join(web, 'geo', 'demo-district.geojson'), JSON.stringify(fc))
    const demo = build({ map: { datum: 'gcj02' } }, web)
    // The demo file is WGS-84 whatever the configuration says about a file it does not name.
    expect((await demo.inject('/api/ui/config')).json()).toMatchObject({ map: { source: 'demo', datum: 'wgs84' } })
    expect((await demo.inject('/api/ui/geometry')).headers['x-geometry-source']).toBe('demo')

    writeFileSync(file, '{"type": "Point"')
    const broken = await configured.inject('/api/ui/geometry')
    expect(broken.statusCode).toBe(500)
    expect(broken.json()).toMatchObject({ error: { code: 'GEOMETRY_UNREADABLE' } })
    await Promise.all([configured.close(), none.close(), demo.close()])
  })

  it('http.dashboard: a boolean or the settings; a bad time zone is a clear problem', () => {
    expect(HttpConfig.parse({}).dashboard).toBe(true)
    expect(HttpConfig.parse({ dashboard: false }).dashboard).toBe(false)
    expect(HttpConfig.parse({ dashboard: { map: { datum: 'gcj02' } } }).dashboard).toMatchObject({ enabled: true, timeZone: 'Asia/Shanghai', map: { datum: 'gcj02' } })
    const bad = HttpConfig.safeParse({ dashboard: { timeZone: 'Mars/Olympus' } })
    expect(bad.success).toBe(false)
    expect(JSON.stringify(bad.error?.issues)).toContain('IANA time zone')
  })
})

describe('the alarm store keeps its promises to listeners', () => {
  it('one event per change, after it is stored; a listener that throws does not stop the others; unsubscribe works', () => {
    const store = createAlarmStore()
    const seen: string[] = []
    store.onEvent(() => {
      throw new Error('bad listener')
    })
    const off = store.onEvent((e) => seen.push(`${e.action}:${store.get(e.id)?.state ?? 'gone'}`))
    store.raise({ rule: 'r', severity: 'info', active: true, device: 'a', district: 'd', message: 'm', time: 1 })
    store.raise({ rule: 'r', severity: 'info', active: true, device: 'a', district: 'd', message: 'm2', time: 2 })
    store.acknowledge('r/a', { by: 'x' }, 3)
    store.shelve('r/a', { minutes: 1, by: 'x' }, 4)
    store.tick(4 + 59_000)
    store.tick(4 + 60_000)
    store.clear('r', 'a', 70_000)
    off()
    store.raise({ rule: 'r', severity: 'info', active: true, device: 'b', district: 'd', message: 'm', time: 1 })
    expect(seen).toEqual(['raise:active', 'ack:acknowledged', 'shelve:shelved', 'unshelve:acknowledged', 'clear:gone'])
  })
})

describe('/api/live when the server closes', () => {
  it('ends every stream at once (the page sees the close and reconnects) and the close is not held up', { timeout: 15_000 }, async () => {
    const tmp = tempDir()
    const app = Fastify()
    createLiveView().register(app, { district: 'd', gatewayId: 'g', timeZone: 'Asia/Shanghai', devices: () => [], alarms: createAlarmStore(), counters: () => ({ received: 0, accepted: 0, rejected: 0, spoolPoints: 0 }), webDir: tmp.dir, periodMs: 100 })
    const url = await app.listen({ host: '127.0.0.1', port: 0 })
    const res = await fetch(`${url}/api/live`)
    const reader = (res.body as ReadableStream<Uint8Array>).getReader()
    const first = await reader.read()
    expect(new TextDecoder().decode(first.value)).toContain('event: snapshot')
    const t0 = Date.now()
    const ended = (async () => {
      for (let i = 0; i < 1000; i++) if ((await reader.read()).done) return Date.now() - t0
      return Number.POSITIVE_INFINITY
    })()
    await app.close()
    expect(Date.now() - t0).toBeLessThan(2_000)
    expect(await ended).toBeLessThan(2_000)
    tmp.cleanup()
  })
})
