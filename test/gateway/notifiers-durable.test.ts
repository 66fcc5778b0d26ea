/**
 * The notify queue never loses a notice: a webhook endpoint down for 10 s gets everything afterwards; a
 * restart with a full queue delivers it after the restart, each notice once; a stop in the middle of a
 * request the endpoint had already taken sends that message again (at least once, the one duplicate the
 * design allows), and the notice keys let the receiver drop it.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import pino from 'pino'
import { Registry } from 'prom-client'
import { afterAll, describe, expect, it } from 'vitest'
import { webhookSignature } from '../../gateway/notifiers/channels.ts'
import { NotifiersConfig } from '../../gateway/notifiers/config.ts'
import { createNotifiers } from '../../gateway/notifiers/index.ts'
import { tempDir } from '../helpers/env.ts'
import { freePort, sleep, waitFor } from '../helpers/net.ts'
import { alarmEvent, type Recorded, startEndpoint, webhookKeys } from './notifiers-endpoints.ts'

const log = pino({ level: process.env['TEST_LOG'] ?? 'silent' })
const tmp = tempDir('smartcity-notify-durable-')
afterAll(() => tmp.cleanup())

const SECRET = 'hook-secret-1234'
const ROOT = join(import.meta.dirname, '..', '..')

/** A webhook receiver that checks the documented headers: JSON, timestamp, HMAC-SHA256 of "<ts>.<body>". */
function checkedHook(r: Omit<Recorded, 'answer'>): { status: number; body: unknown } {
  if (r.method !== 'POST' || r.url.pathname !== '/alarms') return { status: 404, body: { error: 'not found' } }
  if (!/^application\/json/.test(String(r.headers['content-type']))) return { status: 415, body: { error: 'json only' } }
  const ts = Number(r.headers['x-smartcity-timestamp'])
  if (!Number.isInteger(ts) || Math.abs(Date.now() - ts) > 300_000) return { status: 401, body: { error: 'timestamp' } }
  if (r.headers['x-smartcity-signature'] !== `sha256=${webhookSignature(ts, r.body, SECRET)}`) return { status: 401, body: { error: 'signature' } }
  if (r.headers['x-api-key'] !== 'sms-gw-key') return { status: 403, body: { error: 'api key' } }
  return { status: 200, body: { ok: true } }
}

const hookConfig = (port: number, over: Record<string, unknown> = {}) =>
  NotifiersConfig.parse({ channels: [{ id: 'sms', type: 'webhook', url: `http://127.0.0.1:${port}/alarms`, secret: SECRET, headers: { 'x-api-key': 'sms-gw-key' }, gatherMs: 100, minBackoffMs: 200, maxBackoffMs: 1000, timeoutMs: 2000, ...over }] })

describe('the durable notify queue', () => {
  it('an endpoint down for 10 s: every notice is delivered afterwards, signed, in order', async () => {
    const port = await freePort()
    const reg = new Registry()
    const n = createNotifiers(hookConfig(port), { dir: join(tmp.dir, 'down'), log, registry: reg })
    n.start()
    let hook: Awaited<ReturnType<typeof startEndpoint>> | undefined
    try {
      const t0 = Date.now()
      for (let i = 0; i < 10; i++) {
        n.listener(alarmEvent(i, { action: i % 2 === 0 ? 'raise' : 'clear' }))
        await sleep(500)
      }
      await sleep(Math.max(0, 10_000 - (Date.now() - t0)))
      expect(n.queued()).toEqual({ sms: 10 })
      expect(await metricSum(reg, 'smartcity_notify_failures_total', 'network')).toBeGreaterThanOrEqual(3)
      expect(n.health()['notify:sms']?.status).toBe('degraded')
      hook = await startEndpoint(checkedHook, port)
      await waitFor(() => n.queued()['sms'] === 0, 15_000, 'all delivered after the endpoint came back')
      expect(hook.requests.every((r) => r.answer === 200)).toBe(true)
      const keys = webhookKeys(hook.requests)
      expect(keys).toEqual(Array.from({ length: 10 }, (_, i) => alarmEvent(i, { action: i % 2 === 0 ? 'raise' : 'clear' })).map((e) => `${e.id}|${e.action}|${e.at}`))
      // Everything that waited went as one digest.
      expect(hook.requests.length).toBeLessThanOrEqual(2)
      const first = hook.requests[0]!.json as { count: number; title: string; events: { device: string; action: string }[] }
      expect(first.title).toContain('告警汇总')
      expect(first.events[1]).toMatchObject({ device: 'wq-001', action: 'clear' })
      expect(n.health()['notify:sms']?.status).toBe('ok')
    } finally {
      await n.stop()
      await hook?.close()
    }
  }, 60_000)

  it('a restart with a full queue delivers it after the restart, each notice once; the queue files are all that carries it', async () => {
    const port = await freePort()
    const dir = join(tmp.dir, 'restart')
    const a = createNotifiers(hookConfig(port), { dir, log })
    a.start()
    for (let i = 0; i < 50; i++) a.listener(alarmEvent(i))
    await sleep(300)
    await a.stop()
    const hook = await startEndpoint(checkedHook, port)
    const b = createNotifiers(hookConfig(port), { dir, log })
    b.start()
    try {
      expect(b.queued()).toEqual({ sms: 50 })
      await waitFor(() => b.queued()['sms'] === 0, 15_000, 'delivered after the restart')
      const keys = webhookKeys(hook.requests)
      expect(keys.length).toBe(50)
      expect(new Set(keys).size).toBe(50)
    } finally {
      await b.stop()
    }
    // And a third start has nothing left to send.
    const c = createNotifiers(hookConfig(port), { dir, log })
    expect(c.queued()).toEqual({ sms: 0 })
    c.start()
    await sleep(500)
    expect(c.queued()).toEqual({ sms: 0 })
    await c.stop()
    expect(webhookKeys(hook.requests).length).toBe(50)
    await hook.close()
  }, 60_000)

  it('kill -9 right after the alarm changes: the notices were on disk and are delivered by the next start, each once', async () => {
    const port = await freePort()
    const dir = join(tmp.dir, 'killed')
    const cfg = hookConfig(port)
    // A process that queues 100 changes (the endpoint is down), says so, and is then killed without a stop.
    const script = `
import pino from 'pino'
import { createNotifiers } from './gateway/notifiers/index.ts'
import { alarmEvent } from './test/gateway/notifiers-endpoints.ts'
const n = createNotifiers(${JSON.stringify(cfg)}, { dir: ${JSON.stringify(dir)}, log: pino({ level: 'silent' }) })
n.start()
for (let i = 0; i < 100; i++) n.listener(alarmEvent(i))
process.stdout.write('queued\\n')
setInterval(() => {}, 1000)
`
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (c: Buffer) => (out += c.toString()))
    try {
      await waitFor(() => out.includes('queued'), 30_000, 'the child to queue its notices')
    } finally {
      child.kill('SIGKILL')
    }
    await new Promise((r) => child.once('exit', r))
    const hook = await startEndpoint(checkedHook, port)
    const n = createNotifiers(cfg, { dir, log })
    n.start()
    try {
      expect(n.queued()).toEqual({ sms: 100 })
      await waitFor(() => n.queued()['sms'] === 0, 15_000, 'delivered after kill -9')
      const keys = webhookKeys(hook.requests)
      expect(keys.length).toBe(100)
      expect(new Set(keys).size).toBe(100)
    } finally {
      await n.stop()
      await hook.close()
    }
  }, 60_000)

  it('at least once: a stop while the endpoint holds a request it has taken sends that message again after the restart, with the same notice keys', async () => {
    const port = await freePort()
    const dir = join(tmp.dir, 'twice')
    let hold = true
    // The receiver takes the request (and records it) but answers only after the sender has stopped waiting.
    const hook = await startEndpoint((r) => ({ ...checkedHook(r), ...(hold ? { delayMs: 3000 } : {}) }), port)
    const cfg = NotifiersConfig.parse({ channels: [{ id: 'sms', type: 'webhook', url: `${hook.url}/alarms`, secret: SECRET, headers: { 'x-api-key': 'sms-gw-key' }, gatherMs: 0, minBackoffMs: 200, maxBackoffMs: 400, timeoutMs: 5000 }] })
    const a = createNotifiers(cfg, { dir, log })
    a.start()
    a.listener(alarmEvent(1))
    await waitFor(() => hook.requests.length >= 1, 5000, 'the first try reached the receiver')
    await a.stop()
    hold = false
    const b = createNotifiers(cfg, { dir, log })
    b.start()
    try {
      await waitFor(() => b.queued()['sms'] === 0, 10_000, 'sent again and acknowledged')
      const keys = webhookKeys(hook.requests)
      expect(keys.length).toBeGreaterThanOrEqual(2)
      expect(new Set(keys)).toEqual(new Set([`${alarmEvent(1).id}|raise|${alarmEvent(1).at}`]))
    } finally {
      await b.stop()
      await hook.close()
    }
  }, 30_000)
})

async function metricSum(reg: Registry, name: string, reason: string): Promise<number> {
  const m = await reg.getSingleMetric(name)?.get()
  return (m?.values ?? []).filter((v) => v.labels['reason'] === reason).reduce((s, v) => s + v.value, 0)
}
