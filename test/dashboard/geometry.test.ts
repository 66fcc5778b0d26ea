/// <reference lib="dom" />
// (page.evaluate callbacks run in the browser: DOM types for them)
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Gateway } from '../../gateway/gateway.ts'
import { have, tempDir } from '../helpers/env.ts'
import { gatewayFrom } from '../helpers/gateway.ts'
import { launch, openPage } from './browser.ts'

// A station whose receiver position is the Shanghai pair of googollee/eviltransform's tests
// (https://github.com/googollee/eviltransform, python/test.py): WGS-84 31.1774276, 121.5272106 is
// GCJ-02 31.17530398364597, 121.531541859215. The operator's file is exported from a Chinese web map (GCJ-02).
const WGS: [number, number] = [121.5272106, 31.1774276]
const GCJ: [number, number] = [121.531541859215, 31.17530398364597]

describe.skipIf(!have('chromium'))("an operator's own district GeoJSON in GCJ-02, in Debian chromium", () => {
  const tmp = tempDir()
  let browser: Browser
  let gw: Gateway
  beforeAll(async () => {
    const file = join(tmp.dir, 'district.geojson')
    const [x, y] = GCJ
    const square = [[[x - 0.01, y - 0.01], [x + 0.01, y - 0.01], [x + 0.01, y + 0.01], [x - 0.01, y + 0.01], [x - 0.01, y - 0.01]]]
    writeFileSync(
      file,
      JSON.stringify({
        type: 'FeatureCollection',
        features: [
          { type: 'Feature', properties: { name: '张江', name_en: 'Zhangjiang' }, geometry: { type: 'Polygon', coordinates: square } },
          { type: 'Feature', properties: { device: 'wq-sh-01' }, geometry: { type: 'Point', coordinates: GCJ } },
        ],
      }),
    )
    gw = gatewayFrom({
      gateway: { id: 'edge-test', district: 'pudong' },
      dataDir: join(tmp.dir, 'gw'),
      http: { port: 0, dashboard: { timeZone: 'Asia/Shanghai', map: { geojson: file, datum: 'gcj02' } } },
      devices: [{ id: 'wq-sh-01', kind: 'water_quality', site: 'Zhangjiang station' }],
    })
    await gw.start()
    browser = await launch()
  })
  afterAll(async () => {
    await browser?.close()
    await gw?.stop()
    tmp.cleanup()
  })

  it('converts the file to WGS-84 so the station sits at its receiver position, and names the area in the page language', async () => {
    const { page, errors, context } = await openPage(browser, { width: 1366, height: 768 })
    await page.goto(gw.endpoints().http!)
    await page.locator('#link[data-state="up"]').waitFor({ timeout: 10_000 })
    const read = () =>
      page.evaluate(() => {
        // biome-ignore lint/suspicious/noExplicitAny: the page's global ECharts, typed in the page only
        const ec = (globalThis as any).echarts
        const inst = ec.getInstanceByDom(document.getElementById('map'))
        const o = inst.getOption()
        const fixed = o.series.find((s: { id: string }) => s.id === 'fixed')
        const geo = ec.getMap('district').geoJSON ?? ec.getMap('district').geoJson
        return { ids: inst.__ids.fixed as string[], data: fixed.data as number[][], area: geo.features[0].properties.name as string, ring: geo.features[0].geometry.coordinates[0][0] as number[] }
      })
    await expect.poll(async () => (await read()).ids, { timeout: 5_000 }).toEqual(['wq-sh-01'])
    const m = await read()
    expect(Math.abs(m.data[0]![0]! - WGS[0])).toBeLessThan(1e-7)
    expect(Math.abs(m.data[0]![1]! - WGS[1])).toBeLessThan(1e-7)
    // The polygon converted too (its corner by its own offset), not left in GCJ-02.
    const geo: { gcj02ToWgs84(lat: number, lon: number): [number, number] } = await import(pathToFileURL(`${import.meta.dirname}/../../dashboards/web/geo.js`).href)
    const [cLat, cLon] = geo.gcj02ToWgs84(GCJ[1] - 0.01, GCJ[0] - 0.01)
    expect(Math.abs(m.ring[0]! - cLon)).toBeLessThan(1e-9)
    expect(Math.abs(m.ring[1]! - cLat)).toBeLessThan(1e-9)
    expect(Math.abs(m.ring[0]! - (GCJ[0] - 0.01))).toBeGreaterThan(0.003)
    expect(m.area).toBe('张江')
    await page.locator('#lang').click()
    await page.locator('html[lang="en"]').waitFor()
    await expect.poll(async () => (await read()).area, { timeout: 5_000 }).toBe('Zhangjiang')
    expect(errors).toEqual([])
    await context.close()
  })
})
