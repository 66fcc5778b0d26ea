import { join } from 'node:path'
import mqtt from 'mqtt'
import { type Browser, chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Gateway } from '../../gateway/gateway.ts'
import { newToken } from '../../gateway/http/auth.ts'
import { have, tempDir, which } from '../helpers/env.ts'
import { gatewayFrom } from '../helpers/gateway.ts'
import { freePort } from '../helpers/net.ts'

describe.skipIf(!have('chromium'))('the live dashboard with tokens, in a real browser (Debian chromium, headless)', () => {
  const tmp = tempDir()
  const wall = newToken()
  const ops = newToken()
  let browser: Browser
  let gw: Gateway
  let mqttPort: number
  beforeAll(async () => {
    mqttPort = await freePort()
    gw = gatewayFrom(
      {
        gateway: { id: 'edge-test', district: 'xian-gaoxin' },
        dataDir: join(tmp.dir, 'gw'),
        http: {
          port: 0,
          tokens: [
            { name: 'wall-display', sha256: wall.sha256, scopes: ['read'] },
            { name: 'ops-desk', sha256: ops.sha256, scopes: ['read', 'operate'] },
          ],
        },
        devices: [{ id: 'wq-0001', kind: 'water_quality', site: 'Zaohe bridge' }],
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

  it('asks for a token once, works with a read token (live values, alarms), refuses its acknowledgement, and acknowledges with an operate token', async () => {
    const base = gw.endpoints().http!
    const context = await browser.newContext({ viewport: { width: 1200, height: 800 } })
    const page = await context.newPage()
    const errors: string[] = []
    const urls: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    page.on('request', (r) => urls.push(r.url()))
    await page.goto(base)
    // No token yet: the page asks for one.
    await page.locator('#auth:not([hidden])').waitFor({ timeout: 10_000 })
    await expect(page.locator('#auth-msg').textContent()).resolves.toBe('This gateway needs an access token.')
    await page.fill('#token', 'wrong-token')
    await page.click('#auth button[type=submit]')
    await page.getByText('The gateway refused this token. Enter another one.').waitFor({ timeout: 10_000 })
    await page.fill('#token', wall.token)
    await page.click('#auth button[type=submit]')
    await page.locator('#link.up').waitFor({ timeout: 10_000 })
    await expect(page.locator('#auth').isHidden()).resolves.toBe(true)
    await expect(page.locator('#district').textContent()).resolves.toBe('xian-gaoxin')

    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`)
    await c.publishAsync('city/xian-gaoxin/water_quality/wq-0001/telemetry', JSON.stringify({ ph: 9.6 }), { qos: 1 })
    const row = page.locator('tr[data-device="wq-0001"]')
    await row.locator('.dot.on').waitFor({ timeout: 5_000 })
    await expect(row.textContent()).resolves.toContain('9.6')
    const alarm = page.locator('tr[data-alarm="ph_out_of_range/wq-0001"]')
    await alarm.waitFor({ timeout: 5_000 })
    // A read token may look, not acknowledge.
    await alarm.locator('button[data-ack]').click()
    await page.getByText('This token may not acknowledge alarms (it needs the operate scope).').waitFor({ timeout: 5_000 })
    const ackedBy = async () => {
      const r = await fetch(`${base}/api/alarms`, { headers: { authorization: `Bearer ${wall.token}` } })
      return ((await r.json()) as { alarms: { id: string; acknowledged: boolean; ackBy?: string }[] }).alarms.find((a) => a.id === 'ph_out_of_range/wq-0001')
    }
    expect((await ackedBy())?.acknowledged).toBe(false)

    // The token is kept for the tab: a reload does not ask again.
    await page.reload()
    await page.locator('#link.up').waitFor({ timeout: 10_000 })
    await expect(page.locator('#auth').isHidden()).resolves.toBe(true)

    // Forget it and give the operator's token: the acknowledgement goes through, by the token's name.
    await page.click('#signout')
    await page.locator('#auth:not([hidden])').waitFor({ timeout: 5_000 })
    await page.fill('#token', ops.token)
    await page.click('#auth button[type=submit]')
    await page.locator('#link.up').waitFor({ timeout: 10_000 })
    await alarm.locator('button[data-ack]').click()
    await alarm.getByText('acknowledged by ops-desk').waitFor({ timeout: 5_000 })
    expect(await ackedBy()).toMatchObject({ acknowledged: true, ackBy: 'ops-desk' })

    // A new tab (its own sessionStorage) asks again.
    const other = await context.newPage()
    await other.goto(base)
    await other.locator('#auth:not([hidden])').waitFor({ timeout: 10_000 })
    await other.close()

    await page.screenshot({ path: join(tmp.dir, 'live-auth.png'), fullPage: true })
    await c.endAsync()
    await context.close()
    // The token never travels in a URL (proxy logs, history): only in the Authorization header.
    for (const u of urls) {
      expect(u).not.toContain(wall.token)
      expect(u).not.toContain(ops.token)
    }
    expect(errors).toEqual([])
  })
})
