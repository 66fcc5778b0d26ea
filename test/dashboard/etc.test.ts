/// <reference lib="dom" />
/**
 * The page's ETC passages per minute (docs/dashboard.md): the last hour comes from `/api/history?mode=count`
 * up to the snapshot, then grows by the live stream's running counts per result. Ten passages at one gantry
 * within one second all show in the chart's minute (the live stream's `latest` carries one of them), and the
 * passages stored before the page loaded are counted once, not once from history and again live.
 */
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Gateway } from '../../gateway/gateway.ts'
import { have, tempDir } from '../helpers/env.ts'
import { gatewayFrom } from '../helpers/gateway.ts'
import { useInflux } from '../helpers/influx.ts'
import { launch, openPage } from './browser.ts'

const DB = 'dashboard_etc'
const DISTRICT = 'xian-gaoxin'
const MIN = 60_000
const TOPIC = `city/${DISTRICT}/etc/etc-g1/telemetry`

type Minutes = [number, Record<string, number>][]
/** The page's passages per minute (`__dash.state.etcMinutes`). */
const pageMinutes = (page: Page): Promise<Minutes> =>
  // biome-ignore lint/suspicious/noExplicitAny: the page's debugging global, untyped
  page.evaluate(() => [...((globalThis as any).__dash.state.etcMinutes as Map<number, Record<string, number>>)])
/** The ETC chart's bars as drawn: minute -> total over the results. */
const chartTotals = (page: Page): Promise<Record<string, number>> =>
  page.evaluate(() => {
    // biome-ignore lint/suspicious/noExplicitAny: the page's global ECharts
    const opt = (globalThis as any).echarts.getInstanceByDom(document.getElementById('etc-chart')).getOption() as { series: { data: [number, number][] }[] }
    const out: Record<string, number> = {}
    for (const s of opt.series) for (const [k, n] of s.data) out[k] = (out[k] ?? 0) + n
    return out
  })
const total = (m: Minutes) => m.reduce((a, [, b]) => a + Object.values(b).reduce((x, y) => x + y, 0), 0)

async function until<T>(what: string, f: () => Promise<T | undefined>, ms: number): Promise<T> {
  const t0 = Date.now()
  while (Date.now() - t0 < ms) {
    const v = await f()
    if (v !== undefined) return v
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`${what}: not within ${ms} ms`)
}

describe.skipIf(!have('chromium', 'influxd'))('the ETC chart: history up to the snapshot, then every live passage', () => {
  const influx = useInflux()
  const tmp = tempDir()
  let browser: Browser
  let gw: Gateway
  let c: MqttClient
  beforeAll(async () => {
    gw = gatewayFrom(
      {
        gateway: { id: 'edge-test', district: DISTRICT },
        dataDir: join(tmp.dir, 'gw'),
        http: { port: 0 },
        devices: [{ id: 'etc-g1', kind: 'etc', district: DISTRICT, site: 'G65 K12 gantry' }],
        sinks: [{ type: 'influx-v1', url: influx.url, database: DB, flushIntervalMs: 100 }],
      },
      { mqttPort: 0 },
    )
    await gw.start()
    c = await mqtt.connectAsync(gw.endpoints().mqtt, { reconnectPeriod: 0 })
    browser = await launch()
  }, 60_000)
  afterAll(async () => {
    await browser?.close()
    await c?.endAsync()
    await gw?.stop()
    tmp.cleanup()
  })

  it('seeds the last hour from history, adds all 10 passages of one second to their minute, counts nothing twice', { timeout: 90_000 }, async () => {
    // Ten minutes ago (written straight to InfluxDB: before this gateway started): 3 ok and a timeout.
    const old = Math.floor(Date.now() / MIN) * MIN - 10 * MIN
    const line = (result: string, t: number) => `etc_transaction,device=etc-g1,kind=etc,district=${DISTRICT},lane=K12-1,result=${result} obu_id="A0B1C2D3",transaction_ms=150i ${t}`
    await fetch(`${influx.url}/query`, { method: 'POST', body: new URLSearchParams({ q: `CREATE DATABASE ${DB}` }) })
    const w = await fetch(`${influx.url}/write?db=${DB}&precision=ms`, { method: 'POST', body: [line('ok', old + 1_000), line('ok', old + 2_000), line('ok', old + 3_000), line('timeout', old + 4_000)].join('\n') })
    expect(w.status).toBe(204)
    // Three passages through the gateway before the page loads: in its live counts and in the history.
    const t1 = Date.now()
    for (let i = 0; i < 3; i++) await c.publishAsync(TOPIC, JSON.stringify({ ts: t1 + i, lane: 'K12-1', result: 'ok', obu_id: `B0${i}`, fee_fen: 1235 }), { qos: 1 })
    await until('the three stored', async () => ((await influx.count(DB, 'etc_transaction', 'obu_id', `"device" = 'etc-g1'`)) === 7 ? true : undefined), 15_000)

    const { page, errors, context } = await openPage(browser, { width: 1920, height: 1080 })
    await page.goto(gw.endpoints().http!)
    await page.locator('#link[data-state="up"]').waitFor({ timeout: 15_000 })
    // The seed: 4 ten minutes ago and the 3 of before the load, once each (history up to the snapshot; the
    // snapshot's counts are where live counting starts).
    const seeded = await until('the history seed', async () => {
      const m = await pageMinutes(page)
      return m.some(([k]) => k === old) && total(m) >= 7 ? m : undefined
    }, 20_000)
    expect(Object.fromEntries(seeded)[old]).toEqual({ ok: 3, timeout: 1 })
    expect(total(seeded)).toBe(7)

    // Ten passages within one second, not across a minute's end (the page files them by the delta's time).
    await until('a minute with room', async () => (Date.now() % MIN < 45_000 ? true : undefined), 20_000)
    const t2 = Date.now()
    const results = ['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'insufficient_balance', 'insufficient_balance', 'no_card', 'timeout']
    await Promise.all(results.map((result, i) => c.publishAsync(TOPIC, JSON.stringify({ ts: t2 + i * 20, lane: 'K12-1', result, obu_id: `C0${i}`, fee_fen: 1235 }), { qos: 1 })))
    expect(Date.now() - t2).toBeLessThan(1_000)
    const minute = Math.floor(t2 / MIN) * MIN
    const after = await until('the ten live', async () => {
      const m = await pageMinutes(page)
      return total(m) >= 17 ? m : undefined
    }, 10_000)
    // Two more deltas: nothing more arrives (no passage counted twice).
    await page.waitForTimeout(2_500)
    const settled = await pageMinutes(page)
    expect(total(settled)).toBe(17)
    expect(settled).toEqual(after)
    const byMinute = Object.fromEntries(settled)
    // The minute of the ten holds all ten (and the 3 of before the load when they fell in the same minute).
    const before = Math.floor(t1 / MIN) * MIN === minute ? 3 : 0
    expect(byMinute[minute]).toEqual({ ok: 6 + before, insufficient_balance: 2, no_card: 1, timeout: 1 })
    // The chart draws it (its ETC turn comes every few seconds).
    const drawn = await until('the chart', async () => {
      const t = await chartTotals(page)
      return t[minute] === 10 + before ? t : undefined
    }, 15_000)
    expect(drawn[old]).toBe(4)
    expect(errors).toEqual([])
    await context.close()
  })
})
