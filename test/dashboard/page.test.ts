/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// (page.evaluate callbacks run in the browser: DOM types for them)
import { copyFileSync } from 'node:fs'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { GatewayConfigInput } from '../../gateway/config.ts'
import type { Gateway } from '../../gateway/gateway.ts'
import { have, tempDir } from '../helpers/env.ts'
import { gatewayFrom } from '../helpers/gateway.ts'
import { useInflux } from '../helpers/influx.ts'
import { freePort } from '../helpers/net.ts'
import { ARTIFACTS, launch, openPage } from './browser.ts'
import { DEVICES, DISTRICT, publishRound } from './district.ts'

const DB = 'dashboard'
const zh = (await import('../../dashboards/web/i18n/zh-CN.json', { with: { type: 'json' } })).default as Record<string, string>
const en = (await import('../../dashboards/web/i18n/en.json', { with: { type: 'json' } })).default as Record<string, string>
const CJK = /[\u3400-\u9fff\uff00-\uffef]/

/** The page's ECharts option of a chart element (series data the user sees). */
async function chartOption(page: Page, id: string): Promise<{ series: { id?: string; name?: string; data: unknown[] }[] }> {
  return page.evaluate((elId) => {
    const el = document.getElementById(elId)
    // biome-ignore lint/suspicious/noExplicitAny: the page's global ECharts, typed by the library in the page only
    const inst = (globalThis as any).echarts.getInstanceByDom(el)
    return JSON.parse(JSON.stringify(inst.getOption(), (_k, v) => (typeof v === 'function' ? undefined : v)))
  }, id)
}

describe.skipIf(!have('chromium', 'influxd'))('the operators page in Debian chromium (headless), open access', () => {
  const influx = useInflux()
  const tmp = tempDir()
  let browser: Browser
  let gw: Gateway
  let c: MqttClient
  let mqttPort: number
  let httpPort: number
  let base: string
  let round = 0
  const config = (): GatewayConfigInput => ({
    gateway: { id: 'edge-test', district: DISTRICT },
    dataDir: join(tmp.dir, 'gw'),
    http: { port: httpPort },
    devices: DEVICES.map((d) => ({ ...d })) as GatewayConfigInput['devices'],
    alarms: { rules: [{ name: 'ph_out_of_range', measurement: 'water_quality', field: 'ph', outside: [6, 9], severity: 'critical' }] },
    sinks: [{ type: 'influx-v1', url: influx.url, database: DB, flushIntervalMs: 100 }],
  })
  const start = async () => {
    gw = gatewayFrom(config(), { mqttPort })
    await gw.start()
    c = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { reconnectPeriod: 0 })
  }

  beforeAll(async () => {
    mqttPort = await freePort()
    httpPort = await freePort()
    await start()
    base = gw.endpoints().http!
    browser = await launch()
    for (let i = 0; i < 3; i++) await publishRound(c, round++)
  })
  afterAll(async () => {
    await browser?.close()
    await c?.endAsync()
    await gw?.stop()
    tmp.cleanup()
  })

  it('loads in zh-CN with no console errors, shows a published reading within 2 s and patches rows in place', async () => {
    const { page, errors, urls, context } = await openPage(browser, { width: 1920, height: 1080 })
    await page.goto(base)
    await page.locator('#link[data-state="up"]').waitFor({ timeout: 10_000 })
    await expect(page.locator('html').getAttribute('lang')).resolves.toBe('zh-CN')
    await expect(page.locator('#district').textContent()).resolves.toBe('西安高新区')
    await expect(page.locator('#alarms-h [data-i18n="alarms.title"]').textContent()).resolves.toBe('告警')
    // Dates carry the date, in the district's zone (Asia/Shanghai: UTC+8) whatever the browser's zone.
    const clock = (await page.locator('#clock').textContent()) ?? ''
    const shanghai = new Intl.DateTimeFormat('zh-CN', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' }).format(Date.now())
    expect(clock.startsWith(shanghai)).toBe(true)

    const row = page.locator('tr[data-device="wq-0002"]')
    await row.waitFor()
    await row.evaluate((el) => {
      ;(el as HTMLElement & { mark?: number }).mark = 42
    })
    const t0 = Date.now()
    await c.publishAsync(`city/${DISTRICT}/water_quality/wq-0002/telemetry`, JSON.stringify({ ph: 8.47, dissolved_oxygen_mg_l: 7.7 }), { qos: 1 })
    await row.locator('td', { hasText: '8.47' }).waitFor({ timeout: 2_000 })
    const took = Date.now() - t0
    expect(took).toBeLessThan(2_000)
    // The same element, patched: its text changed, the row was not rebuilt.
    await expect(row.evaluate((el) => (el as HTMLElement & { mark?: number }).mark)).resolves.toBe(42)
    // GB 3838: the worst graded factor decides and is named, in Chinese; its cell is marked.
    const w1 = page.locator('tr[data-device="wq-0001"]')
    await expect(w1.locator('.cls').textContent()).resolves.toBe('V类 · 氨氮')
    await expect(w1.locator('td.decided').count()).resolves.toBe(1)
    // A factor without a column of its own (total nitrogen, lakes) carries its value on the badge.
    await expect(page.locator('tr[data-device="wq-0003"] .cls').textContent()).resolves.toMatch(/^劣V类 · 总氮 2(\.\d+)?$|^V类 · 总氮 1\.8\d*$/)
    // Fees in yuan.
    await expect(page.locator('tr[data-device="rsu-g65-k12"]').textContent()).resolves.toMatch(/¥1[0-9],?\d*\.\d\d|¥12\.\d\d/)
    expect(urls.filter((u) => !u.startsWith(base) && !u.startsWith('data:'))).toEqual([])
    expect(errors).toEqual([])
    await context.close()
  })

  it('moves a vehicle on the map and draws its last 30 minutes of track', async () => {
    const { page, errors, context } = await openPage(browser, { width: 1366, height: 768 })
    await page.goto(base)
    await page.locator('#link[data-state="up"]').waitFor({ timeout: 10_000 })
    const taxi = async () => {
      const o = await chartOption(page, 'map')
      // biome-ignore lint/suspicious/noExplicitAny: the page's global ECharts, typed in the page only
      const ids = await page.evaluate(() => (globalThis as any).echarts.getInstanceByDom(document.getElementById('map')).__ids as { fixed: string[]; moving: string[] })
      const at = (sid: 'fixed' | 'moving') => (o.series.find((s) => s.id === sid)!.data as [number, number][]).map((v, i) => ({ name: ids[sid][i]!, value: [v[0], v[1]] as [number, number] }))
      const dev = [...at('fixed'), ...at('moving')]
      const tracks = o.series.find((s) => s.id === 'tracks')!.data as { name: string; coords: [number, number][] }[]
      return { at: dev.find((d) => d.name === 'taxi-7')?.value, track: tracks.find((t) => t.name === 'taxi-7')?.coords ?? [], placed: dev.map((d) => d.name) }
    }
    await expect.poll(async () => (await taxi()).at, { timeout: 5_000 }).toBeDefined()
    const before = await taxi()
    // Fixed devices are placed by the demo GeoJSON's Point features.
    expect(before.placed).toEqual(expect.arrayContaining(['wq-0001', 'em-0001', 'rsu-g65-k12', 'tower-a-L1']))
    await publishRound(c, round++)
    await publishRound(c, round++)
    await expect.poll(async () => (await taxi()).at?.[1], { timeout: 5_000 }).toBeGreaterThan(before.at![1])
    // The track (redrawn every 5 s) ends where the vehicle is, one point longer at least.
    await expect.poll(async () => { const a = await taxi(); return JSON.stringify(a.track.at(-1)) === JSON.stringify(a.at) && a.track.length > before.track.length }, { timeout: 10_000 }).toBe(true)
    expect(errors).toEqual([])
    await context.close()
  })

  it('shows in a device chart the history the test wrote to InfluxDB, extended live', async () => {
    await influx.query(DB, `CREATE DATABASE "${DB}"`).catch(() => [])
    const now = Date.now()
    // 36 readings over the last 3 hours, every 5 minutes, ph 7.00..7.35.
    const lines = Array.from({ length: 36 }, (_, i) => `water_quality,device=wq-hist,kind=water_quality,district=${DISTRICT},interval=realtime ph=${(7 + i / 100).toFixed(2)},dissolved_oxygen_mg_l=6.4 ${now - (36 - i) * 5 * 60_000}`)
    const w = await fetch(`${influx.url}/write?db=${DB}&precision=ms`, { method: 'POST', body: lines.join('\n') })
    expect(w.status).toBe(204)
    const { page, errors, context } = await openPage(browser, { width: 1366, height: 768 })
    await page.goto(base)
    await page.locator('#link[data-state="up"]').waitFor({ timeout: 10_000 })
    await page.locator('tr[data-device="wq-hist"]').click()
    await page.locator('#detail[open]').waitFor()
    const ph = async () => {
      const o = await chartOption(page, 'detail-chart')
      return ((o.series.find((s) => s.name === zh['field.ph'])?.data ?? []) as [number, number | null][]).filter((p) => p[1] !== null)
    }
    await expect.poll(async () => (await ph()).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(36)
    const pts = await ph()
    expect(pts[0]![1]).toBeCloseTo(7, 2)
    expect(Math.max(...pts.map((p) => p[1]!))).toBeCloseTo(7.35, 2)
    // A live reading extends the line.
    await c.publishAsync(`city/${DISTRICT}/water_quality/wq-hist/telemetry`, JSON.stringify({ ph: 7.77, dissolved_oxygen_mg_l: 6.6 }), { qos: 1 })
    await expect.poll(async () => (await ph()).at(-1)?.[1], { timeout: 5_000 }).toBe(7.77)
    await page.locator('#detail-close').click()
    expect(errors).toEqual([])
    await context.close()
  })

  it('raises an alarm; a short press does nothing, a 1.5 s press acknowledges it while live updates patch the row, and it survives a gateway restart', async () => {
    const { page, errors, context } = await openPage(browser, { width: 1920, height: 1080 }, [/ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|net::ERR/])
    await page.goto(base)
    await page.locator('#link[data-state="up"]').waitFor({ timeout: 10_000 })
    await c.publishAsync(`city/${DISTRICT}/water_quality/wq-0004/telemetry`, JSON.stringify({ ph: 9.6 }), { qos: 1 })
    const row = page.locator('tr[data-alarm="ph_out_of_range/wq-0004"]')
    await row.waitFor({ timeout: 5_000 })
    await expect(row.locator('.sev-badge').textContent()).resolves.toBe('紧急')
    await expect(row.locator('.rule').textContent()).resolves.toBe('pH 超出范围')
    const btn = row.locator('button[data-ack]')
    await expect(btn.textContent()).resolves.toBe('按住确认')
    await btn.evaluate((el) => {
      ;(el as HTMLElement & { mark?: number }).mark = 7
    })
    const box = (await btn.boundingBox())!
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2)

    // A short press (0.5 s) does nothing.
    await page.mouse.down()
    await page.waitForTimeout(500)
    await page.mouse.up()
    await page.waitForTimeout(400)
    const list = async () => ((await (await fetch(`${base}/api/alarms`)).json()) as { alarms: { id: string; state: string; ackBy?: string }[] }).alarms
    expect((await list()).find((a) => a.id === 'ph_out_of_range/wq-0004')?.state).toBe('active')

    // The real press: 1.6 s, while two more alarms are raised: each delta inserts a row above or below
    // the one being pressed, and the device rows change too.
    await page.mouse.down()
    const pressed = Date.now()
    await c.publishAsync(`city/${DISTRICT}/water_quality/wq-0001/telemetry`, JSON.stringify({ ph: 9.5 }), { qos: 1 })
    await c.publishAsync(`city/${DISTRICT}/water_quality/wq-0002/telemetry`, JSON.stringify({ ph: 5.1 }), { qos: 1 })
    await page.locator('#alarms tbody tr').nth(2).waitFor({ timeout: 1_400 })
    const during = await page.locator('#alarms tbody tr').count()
    await page.waitForTimeout(Math.max(0, 1_600 - (Date.now() - pressed)))
    await page.mouse.up()
    expect(during).toBe(3)
    await expect.poll(async () => (await list()).find((a) => a.id === 'ph_out_of_range/wq-0004')?.state, { timeout: 5_000 }).toBe('acknowledged')
    await expect.poll(() => row.locator('.astate').textContent(), { timeout: 5_000 }).toMatch(/^已确认：anonymous/)
    // Only the pressed alarm was acknowledged, and its button was the same element all along.
    expect((await list()).filter((a) => a.state === 'acknowledged').map((a) => a.id)).toEqual(['ph_out_of_range/wq-0004'])
    await expect(btn.evaluate((el) => (el as HTMLElement & { mark?: number }).mark)).resolves.toBe(7)
    expect(Number(await btn.getAttribute('data-held-ms'))).toBeGreaterThanOrEqual(1_490)

    // Restart the gateway on the same ports: the page reconnects and the acknowledgement is still there.
    await c.endAsync()
    await gw.stop()
    await page.locator('#link:not([data-state="up"])').waitFor({ timeout: 20_000 })
    await start()
    await page.locator('#link[data-state="up"]').waitFor({ timeout: 15_000 })
    expect((await list()).find((a) => a.id === 'ph_out_of_range/wq-0004')).toMatchObject({ state: 'acknowledged', ackBy: 'anonymous' })
    await expect(row.locator('.astate').textContent()).resolves.toMatch(/^已确认：anonymous/)
    expect(errors).toEqual([])
    await context.close()
  })

  it('switches to English: every string from the catalogue, no key or Chinese left, remembered on reload', async () => {
    // The restart above emptied the live view: every device reports again.
    await publishRound(c, round++)
    const { page, errors, context } = await openPage(browser, { width: 1366, height: 768 })
    await page.goto(base)
    await page.locator('#link[data-state="up"]').waitFor({ timeout: 10_000 })
    await page.locator('tr[data-device="wq-0001"] .cls:not(:empty)').waitFor()
    await page.locator('#lang').click()
    await page.locator('html[lang="en"]').waitFor()
    await expect(page.locator('#district').textContent()).resolves.toBe(en['district.xian-gaoxin'])
    await expect(page.locator('tr[data-device="wq-0001"] .cls').textContent()).resolves.toBe('Class V · NH₃-N')
    const check = async () => {
      // Visible text outside data (translate="no": ids, sites, plates) and the switch back (中文).
      const text = await page.evaluate(() => {
        const out: string[] = []
        const walk = (n: Node) => {
          if (n instanceof HTMLElement && (n.translate === false || n.id === 'lang' || n.hidden || getComputedStyle(n).display === 'none')) return
          if (n.nodeType === Node.TEXT_NODE && n.textContent?.trim()) out.push(n.textContent.trim())
          for (const ch of n.childNodes) walk(ch)
        }
        walk(document.body)
        for (const el of document.querySelectorAll('[title],[placeholder],[aria-label]')) for (const a of ['title', 'placeholder', 'aria-label']) if (el.getAttribute(a) && !el.closest('[translate="no"]')) out.push(el.getAttribute(a)!)
        return out
      })
      expect(text.length).toBeGreaterThan(100)
      expect(text.filter((s) => CJK.test(s))).toEqual([])
      const keys = new Set(Object.keys(en))
      expect(text.filter((s) => keys.has(s) || /^[a-z]+\.[a-zA-Z_.]+$/.test(s))).toEqual([])
      // Every static string is the English catalogue's.
      const statics = await page.$$eval('[data-i18n]', (els) => els.map((e) => [(e as HTMLElement).dataset['i18n'] ?? '', e.textContent ?? ''] as const))
      for (const [k, v] of statics) expect(v, k).toBe(en[k])
    }
    await check()
    await expect(page.locator('#lang').textContent()).resolves.toBe('中文')
    await page.reload()
    await page.locator('#link[data-state="up"]').waitFor({ timeout: 10_000 })
    await page.locator('html[lang="en"]').waitFor()
    await page.locator('tr[data-device="wq-0001"] .cls:not(:empty)').waitFor()
    await check()
    expect(errors).toEqual([])
    await context.close()
  })

  it('leaves a chart box with no size alone (ECharts lays the map out there with a singular transform and throws) and draws it once it has one', async () => {
    const { page, errors, context } = await openPage(browser, { width: 1366, height: 768 })
    await page.goto(base)
    await page.locator('#link[data-state="up"]').waitFor({ timeout: 10_000 })
    await page.locator('#map canvas').first().waitFor()
    // A box without a height (a layout in between, a panel collapsed, a slow machine laying out): resized and
    // redrawn through several turns of the charts (the map every 2 s).
    await page.evaluate(() => {
      for (const id of ['map', 'energy-load', 'energy-use', 'etc-chart']) {
        const el = document.getElementById(id)
        if (el) el.style.cssText = 'height: 0; min-height: 0; flex: 0 0 0'
      }
      dispatchEvent(new Event('resize'))
    })
    await page.waitForTimeout(2_500)
    await publishRound(c, round++)
    await page.waitForTimeout(2_500)
    expect(errors).toEqual([])
    await page.evaluate(() => {
      for (const id of ['map', 'energy-load', 'energy-use', 'etc-chart']) document.getElementById(id)?.removeAttribute('style')
      dispatchEvent(new Event('resize'))
    })
    // Drawn again at its size: the map's canvas as tall as its box.
    await expect
      .poll(() => page.evaluate(() => { const el = document.getElementById('map'); const cv = el?.querySelector('canvas'); return el && cv ? Math.abs(cv.clientHeight - el.clientHeight) : -1 }), { timeout: 5_000 })
      .toBe(0)
    expect(errors).toEqual([])
    await context.close()
  })

  it('lays out the wall (1920x1080, dark, no scrolling), the laptop (1366x768) and the phone (390 px, nothing wider), in zh-CN and en; screenshots saved', async () => {
    for (let i = 0; i < 3; i++) await publishRound(c, round++)
    // Something for the alarm list: a pH excursion at one station, acknowledged by the desk, and one new.
    await c.publishAsync(`city/${DISTRICT}/water_quality/wq-0002/telemetry`, JSON.stringify({ ph: 9.42, dissolved_oxygen_mg_l: 7.9 }), { qos: 1 })
    await c.publishAsync(`city/${DISTRICT}/water_quality/wq-0003/telemetry`, JSON.stringify({ ph: 5.61, dissolved_oxygen_mg_l: 8.1 }), { qos: 1 })
    await expect.poll(async () => ((await (await fetch(`${base}/api/alarms`)).json()) as { alarms: unknown[] }).alarms.length, { timeout: 5_000 }).toBeGreaterThanOrEqual(2)
    const ack = await fetch(`${base}/api/alarms/${encodeURIComponent('ph_out_of_range/wq-0003')}/ack`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ by: 'zhang.wei', note: '已派人现场核查' }) })
    expect(ack.status).toBe(200)
    for (const lang of ['zh-CN', 'en'] as const) {
      for (const [name, width, height] of [
        ['wall', 1920, 1080],
        ['laptop', 1366, 768],
        ['phone', 390, 844],
      ] as const) {
        const { page, errors, context } = await openPage(browser, { width, height })
        await context.addInitScript((l) => localStorage.setItem('smartcity.lang', l), lang)
        await page.goto(base)
        await page.locator('#link[data-state="up"]').waitFor({ timeout: 10_000 })
        await page.locator(`html[lang="${lang}"]`).waitFor()
        await expect(page.locator('body').getAttribute('data-layout')).resolves.toBe(name)
        await expect(page.locator('body').getAttribute('data-theme')).resolves.toBe(name === 'wall' ? 'dark' : 'light')
        await page.locator('tr[data-device="wq-0001"] .cls:not(:empty)').waitFor()
        await page.waitForTimeout(1_200)
        const size = await page.evaluate(() => ({ w: document.documentElement.scrollWidth, h: document.documentElement.scrollHeight }))
        expect(size.w, `${name} ${lang}: page wider than the screen`).toBeLessThanOrEqual(width)
        if (name === 'wall') expect(size.h, 'the wall scrolls').toBeLessThanOrEqual(height)
        const file = join(ARTIFACTS, `${name}-${lang}-${width}x${height}.png`)
        await page.screenshot({ path: file, fullPage: name !== 'wall' })
        if (name === 'wall' && lang === 'zh-CN' && process.env['DASHBOARD_README_SHOT']) copyFileSync(file, process.env['DASHBOARD_README_SHOT'])
        expect(errors).toEqual([])
        await context.close()
      }
    }
  })

  it('patches a row scrolled out of its table only when it comes back into view, then with the latest reading', async () => {
    const { page, errors, context } = await openPage(browser, { width: 1920, height: 1080 })
    await page.goto(base)
    await page.locator('#link[data-state="up"]').waitFor({ timeout: 10_000 })
    const first = page.locator('tr[data-device="wq-0001"]')
    const far = page.locator('tr[data-device="wq-0004"]')
    await far.waitFor({ state: 'attached' })
    // A water table that shows one tall row: wq-0004 is well below its scroll box (and the observer's margin).
    await page.addStyleTag({ content: 'section[data-kind="water_quality"] .scroll { flex: none !important; height: 80px !important; } section[data-kind="water_quality"] tr[data-device] { height: 600px; }' })
    await page.waitForTimeout(300)
    await far.evaluate((el) => {
      const w = el as HTMLElement & { writes?: number }
      w.writes = 0
      new MutationObserver((l) => {
        w.writes = (w.writes ?? 0) + l.length
      }).observe(el, { subtree: true, childList: true, characterData: true, attributes: true })
    })
    await c.publishAsync(`city/${DISTRICT}/water_quality/wq-0001/telemetry`, JSON.stringify({ ph: 8.11, dissolved_oxygen_mg_l: 6.4 }), { qos: 1 })
    await c.publishAsync(`city/${DISTRICT}/water_quality/wq-0004/telemetry`, JSON.stringify({ ph: 8.12, dissolved_oxygen_mg_l: 9.1 }), { qos: 1 })
    // The row in view is patched by the delta; the one out of view is not written at all...
    await first.locator('td', { hasText: '8.11' }).waitFor({ timeout: 3_000 })
    await page.waitForTimeout(1_200)
    await expect(far.evaluate((el) => (el as HTMLElement & { writes?: number }).writes)).resolves.toBe(0)
    await expect(far.textContent()).resolves.not.toContain('8.12')
    // ...until it is scrolled into view: then it shows the device as it is now.
    await far.evaluate((el) => el.scrollIntoView())
    await far.locator('td', { hasText: '8.12' }).waitFor({ timeout: 2_000 })
    expect(errors).toEqual([])
    await context.close()
  })
})
