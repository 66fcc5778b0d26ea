/**
 * Debian chromium driven by playwright-core for the page's tests and benchmark: the flags the project's other
 * browser tests use (no sandbox as root in CI, no GPU, nothing that phones home), a page that records its console
 * errors and failed requests, and the folder the screenshots go to (test-artifacts/dashboard/, gitignored).
 * DASH_THROTTLE=N slows each page's CPU N times (Chrome's CPU throttling): the races a slow wall-screen PC
 * meets (a CI run's once-in-two failure, a chart drawn in a box with no size yet, showed at 6).
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { which } from '../helpers/env.ts'

export const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts', 'dashboard')

export async function launch(): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true })
  return chromium.launch({
    executablePath: which('chromium'),
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-background-timer-throttling', '--disable-renderer-backgrounding'],
  })
}

export interface Watched {
  page: Page
  context: BrowserContext
  /** Uncaught exceptions, console.error lines and failed requests (4xx/5xx other than the ones allowed). */
  errors: string[]
  /** Every URL the page asked for (to check nothing leaves 127.0.0.1). */
  urls: string[]
}

/** A new page (own context: own sessionStorage/localStorage) at `viewport`, watched for errors. */
export async function openPage(browser: Browser, viewport: { width: number; height: number }, allow: RegExp[] = []): Promise<Watched> {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 })
  const page = await context.newPage()
  if (process.env['DASH_THROTTLE']) await (await context.newCDPSession(page)).send('Emulation.setCPUThrottlingRate', { rate: Number(process.env['DASH_THROTTLE']) })
  const errors: string[] = []
  const urls: string[] = []
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}${e.stack ? `\n${e.stack}` : ''}`))
  page.on('console', (m) => {
    if (m.type() === 'error' && !allow.some((r) => r.test(m.text()))) errors.push(`console: ${m.text()}`)
  })
  page.on('request', (r) => urls.push(r.url()))
  page.on('response', (r) => {
    if (r.status() >= 400 && !allow.some((re) => re.test(`${r.status()} ${r.url()}`))) errors.push(`HTTP ${r.status()} ${r.url()}`)
  })
  return { page, context, errors, urls }
}
