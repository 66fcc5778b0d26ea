/**
 * The README's wall screenshot from a running gateway (e.g. `npm start`, the demo district):
 *   node --import tsx test/dashboard/screenshot.ts http://127.0.0.1:8080/ docs/img/dashboard-wall-zh.png [seconds]
 * Opens the page at 1920x1080 in zh-CN, waits `seconds` (default 40) for the charts to fill, saves a PNG and
 * prints the page's console errors (none expected).
 */
import { launch } from './browser.ts'

const [url = 'http://127.0.0.1:8080/', out = 'test-artifacts/dashboard/wall-zh-CN-demo.png', secs = '40'] = process.argv.slice(2)
const browser = await launch()
try {
  const page = await (await browser.newContext({ viewport: { width: 1920, height: 1080 } })).newPage()
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(e.message))
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()))
  await page.goto(url)
  await page.locator('#link[data-state="up"]').waitFor({ timeout: 20_000 })
  await page.waitForTimeout(Number(secs) * 1000)
  await page.screenshot({ path: out })
  process.stdout.write(`${JSON.stringify({ out, errors })}\n`)
} finally {
  await browser.close()
}
