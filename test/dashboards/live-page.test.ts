import { join } from 'node:path'
import mqtt from 'mqtt'
import { type Browser, chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Gateway } from '../../gateway/gateway.ts'
import { have, tempDir, which } from '../helpers/env.ts'
import { gatewayFrom } from '../helpers/gateway.ts'
import { freePort } from '../helpers/net.ts'

describe.skipIf(!have('chromium'))('the live dashboard in a real browser (Debian chromium, headless)', () => {
  const tmp = tempDir()
  let browser: Browser
  let gw: Gateway
  let mqttPort: number
  beforeAll(async () => {
    mqttPort = await freePort()
    gw = gatewayFrom(
      {
        gateway: { id: 'edge-test', district: 'xian-gaoxin' },
        dataDir: join(tmp.dir, 'gw'),
        http: { port: 0 },
        devices: [
          { id: 'wq-0001', kind: 'water_quality', site: 'Zaohe bridge' },
          { id: 'wq-lake', kind: 'water_quality', site: 'Xingqing lake', options: { waterBody: 'lake' } },
          { id: 'em-0001', kind: 'energy_meter', site: 'Substation 3' },
        ],
        alarms: { rules: [{ name: 'ph_out_of_range', measurement: 'water_quality', field: 'ph', outside: [6, 9], severity: 'critical' }] },
      },
      { mqttPort },
    )
    await gw.start()
    browser = await chromium.launch({
      executablePath: which('chromium'),
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    })
  })
  afterAll(async () => {
    await browser?.close()
    await gw?.stop()
    tmp.cleanup()
  })

  it('shows devices with their latest values as readings arrive, raises an alarm and takes its acknowledgement', async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } })
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    await page.goto(gw.endpoints().http!)
    await page.locator('#link.up').waitFor({ timeout: 10_000 })
    await expect(page.locator('#district').textContent()).resolves.toBe('xian-gaoxin')
    // Inventory devices are listed before they say anything, offline.
    await page.locator('tr[data-device="em-0001"] .dot.off').waitFor()

    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`)
    await c.publishAsync('city/xian-gaoxin/water_quality/wq-0001/telemetry', JSON.stringify({ ph: 7.25, dissolved_oxygen_mg_l: 5.5, ammonia_nitrogen_mg_l: 0.4 }), { qos: 1 })
    const row = page.locator('tr[data-device="wq-0001"]')
    await row.locator('.dot.on').waitFor({ timeout: 5_000 })
    await expect(row.textContent()).resolves.toContain('7.25')
    // GB 3838 class III from the dissolved oxygen, shown as a badge that names the deciding factor, whose
    // cell is marked.
    await expect(row.locator('.cls').textContent()).resolves.toBe('III · DO')
    await expect(row.locator('.cls').getAttribute('title')).resolves.toBe('GB 3838-2002 class III, decided by dissolved oxygen 5.5 mg/L')
    await expect(row.locator('td.decided').textContent()).resolves.toBe('5.5')
    await expect(page.locator('#no-alarms').isVisible()).resolves.toBe(true)

    // The worst factor decides and is on screen: NH3-N 1.8 is class V while DO, COD and TP are class III or
    // better (before, the badge said "V" and nothing on the row said why).
    await c.publishAsync('city/xian-gaoxin/water_quality/wq-0001/telemetry', JSON.stringify({ ph: 7.3, dissolved_oxygen_mg_l: 6.5, cod_mg_l: 18, ammonia_nitrogen_mg_l: 1.8, total_phosphorus_mg_l: 0.15 }), { qos: 1 })
    await row.locator('.cls[data-factor="ammonia_nitrogen_mg_l"]').waitFor({ timeout: 5_000 })
    await expect(row.locator('.cls').textContent()).resolves.toBe('V · NH₃-N')
    await expect(row.locator('td.decided').textContent()).resolves.toBe('1.8')
    await expect(row.textContent()).resolves.toContain('0.15')

    // A factor without a column of its own (total nitrogen, graded for lakes) puts its value on the badge.
    await c.publishAsync('city/xian-gaoxin/water_quality/wq-lake/telemetry', JSON.stringify({ ph: 7.8, dissolved_oxygen_mg_l: 8.2, total_nitrogen_mg_l: 1.8 }), { qos: 1 })
    const lakeRow = page.locator('tr[data-device="wq-lake"]')
    await lakeRow.locator('.cls').waitFor({ timeout: 5_000 })
    await expect(lakeRow.locator('.cls').textContent()).resolves.toBe('V · TN 1.8')

    await c.publishAsync('city/xian-gaoxin/water_quality/wq-0001/telemetry', JSON.stringify({ ph: 9.6 }), { qos: 1 })
    const alarm = page.locator('tr[data-alarm="ph_out_of_range/wq-0001"]')
    await alarm.waitFor({ timeout: 5_000 })
    // pH alone is not graded by GB 3838: that reading has no class, and the row shows none.
    await expect(row.textContent()).resolves.toContain('9.6')
    await expect(row.locator('.cls').count()).resolves.toBe(0)
    await expect(alarm.locator('.sev-critical').textContent()).resolves.toBe('critical')
    await alarm.locator('button[data-ack]').click()
    await alarm.getByText('acknowledged').waitFor({ timeout: 5_000 })
    const api = (await (await fetch(`${gw.endpoints().http}/api/alarms`)).json()) as { alarms: { id: string; acknowledged: boolean }[] }
    expect(api.alarms.find((a) => a.id === 'ph_out_of_range/wq-0001')?.acknowledged).toBe(true)
    await expect(page.locator('#c-accepted').textContent()).resolves.toBe('4')

    await page.screenshot({ path: join(tmp.dir, 'live.png'), fullPage: true })
    await c.endAsync()
    expect(errors).toEqual([])
  })
})
