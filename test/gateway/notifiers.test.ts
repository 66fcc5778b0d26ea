/**
 * Alarm notifications (gateway/notifiers/): routing, the words, and the DingTalk and WeCom robots checked
 * against local endpoints that verify each request as the channels document it (see notifiers-endpoints.ts
 * for the sources), including a storm of 200 alarms under the robots' 20-messages-a-minute limit.
 */
import { join } from 'node:path'
import pino from 'pino'
import { Registry } from 'prom-client'
import { afterAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../gateway/config.ts'
import { dingTalkSign } from '../../gateway/notifiers/channels.ts'
import { NotifiersConfig, type NotifiersConfigInput } from '../../gateway/notifiers/config.ts'
import { digest, formatTime, single } from '../../gateway/notifiers/format.ts'
import { createNotifiers, fitDigest, routeEvent } from '../../gateway/notifiers/index.ts'
import { tempDir } from '../helpers/env.ts'
import { waitFor } from '../helpers/net.ts'
import { alarmEvent, dingTalkRobot, startEndpoint, weComRobot } from './notifiers-endpoints.ts'

const log = pino({ level: process.env['TEST_LOG'] ?? 'silent' })
const tmp = tempDir('smartcity-notify-')
afterAll(() => tmp.cleanup())
let dirs = 0
const newDir = () => join(tmp.dir, `q${dirs++}`)

const parse = (c: NotifiersConfigInput) => NotifiersConfig.parse(c)

async function metric(reg: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await reg.getSingleMetric(name)?.get()
  let sum = 0
  for (const v of m?.values ?? []) if (Object.entries(labels).every(([k, x]) => String((v.labels as Record<string, unknown>)[k]) === x)) sum += v.value
  return sum
}

describe('routing and configuration', () => {
  const cfg = parse({
    channels: [
      { id: 'ding', type: 'dingtalk', token: 'tok-1234', url: 'http://127.0.0.1:1/robot/send' },
      { id: 'mail', type: 'smtp', host: '127.0.0.1', from: 'gw@example.cn', to: ['duty@example.cn'] },
      { id: 'hook', type: 'webhook', url: 'http://127.0.0.1:1/hook' },
    ],
    routes: [
      { channels: ['ding'], severity: 'warning' },
      { channels: ['mail'], kinds: ['water_quality'], rules: ['ammonia_high'], actions: ['raise', 'clear'] },
      { channels: ['hook'], districts: ['north'] },
    ],
  })

  it('sends a change to the channels of every route it matches: severity and above, kinds, rules, districts, actions', () => {
    expect(routeEvent(cfg, alarmEvent(1))).toEqual(['ding', 'mail'])
    expect(routeEvent(cfg, alarmEvent(1, { severity: 'info' }))).toEqual(['mail'])
    expect(routeEvent(cfg, alarmEvent(1, { severity: 'critical', action: 'ack', actor: 'ops' }))).toEqual(['ding'])
    expect(routeEvent(cfg, alarmEvent(1, { severity: 'info', rule: 'do_low' }))).toEqual([])
    expect(routeEvent(cfg, alarmEvent(1, { severity: 'info', kind: 'elevator' }))).toEqual([])
    expect(routeEvent(cfg, alarmEvent(1, { severity: 'info', rule: 'x', district: 'north' }))).toEqual(['hook'])
    // No routes: every change to every channel.
    expect(routeEvent(parse({ channels: cfg.channels }), alarmEvent(1, { severity: 'info' }))).toEqual(['ding', 'mail', 'hook'])
  })

  it('is the notifiers: key of the gateway file; a route to a missing channel and a duplicate id are problems with their key path; its secrets are secrets', () => {
    const bad = parseConfig({ notifiers: { channels: [{ id: 'a', type: 'wecom', token: 'k-123456' }, { id: 'a', type: 'wecom', token: 'k-654321' }], routes: [{ channels: ['b'] }] } })
    expect(bad.ok).toBe(false)
    if (!bad.ok) {
      expect(bad.problems.join('\n')).toMatch(/notifiers\.channels\[1\]\.id: duplicate channel id a/)
      expect(bad.problems.join('\n')).toMatch(/notifiers\.routes\[0\]\.channels\[0\]: no channel b/)
    }
    const ok = parseConfig({ notifiers: { channels: [{ id: 'd', type: 'dingtalk', token: 'access-token-1', secret: 'SECsigning-secret' }, { id: 'm', type: 'smtp', host: 'h', password: 'mail-password', from: 'a@b.cn', to: ['c@d.cn'] }] } })
    expect(ok.ok).toBe(true)
    if (ok.ok) expect(ok.secrets).toEqual(expect.arrayContaining(['access-token-1', 'SECsigning-secret', 'mail-password']))
  })
})

describe('the words of a notice', () => {
  it('is Chinese by default with the date and time in Asia/Shanghai; English per channel', () => {
    expect(formatTime(Date.UTC(2026, 11, 1, 14, 58, 20), 'Asia/Shanghai')).toBe('2026-12-01 22:58:20')
    const zh = single(alarmEvent(0), 'zh-CN', 'Asia/Shanghai')
    expect(zh.title).toBe('【警告】告警发生：ammonia_high wq-000')
    expect(zh.text).toContain('时间: 2026-12-01 22:58:20')
    expect(zh.text).toContain('位置: demo / river-north')
    const ack = single(alarmEvent(0, { action: 'ack', actor: 'zhang.wei', note: '已派人现场查看', severity: 'critical' }), 'zh-CN', 'Asia/Shanghai')
    expect(ack.title).toBe('【严重】告警已确认：ammonia_high wq-000')
    expect(ack.markdown).toContain('- **操作人**：zhang.wei')
    expect(ack.markdown).toContain('- **备注**：已派人现场查看')
    const en = single(alarmEvent(0, { action: 'shelve', actor: 'ops', shelvedUntil: Date.UTC(2026, 11, 1, 16, 0, 0) }), 'en', 'Asia/Shanghai')
    expect(en.title).toBe('[warning] Alarm shelved: ammonia_high wq-000')
    expect(en.text).toContain('Shelved until: 2026-12-02 00:00:00')
    const d = digest([alarmEvent(1), alarmEvent(2, { action: 'clear' })], 'zh-CN', 'Asia/Shanghai', 3)
    expect(d.title).toBe('告警汇总：共 2 条')
    expect(d.text).toContain('[警告] 告警恢复 ammonia_high wq-002')
    expect(d.text).toContain('另有 3 条')
  })

  it('fits a digest into the byte cap, at least one change per message', () => {
    const c = parse({ channels: [{ id: 'w', type: 'wecom', token: 'k' }] }).channels[0]!
    const events = Array.from({ length: 200 }, (_, i) => alarmEvent(i))
    const n = fitDigest(events, c, 4000)
    expect(n).toBeGreaterThan(10)
    expect(n).toBeLessThan(200)
    expect(Buffer.byteLength(digest(events.slice(0, n), 'zh-CN', 'Asia/Shanghai', 200 - n).markdown)).toBeLessThanOrEqual(4000)
    expect(fitDigest(events.slice(0, 1), c, 512)).toBe(1)
  })
})

describe('DingTalk robot (signed) against a local robot that verifies timestamp and sign', () => {
  it('sends markdown with timestamp and sign; a wrong secret is refused 310000 and the notice stays queued until a gateway with the right one delivers it', async () => {
    const robot = await startEndpoint(dingTalkRobot('dt-access-token', 'SECright-secret'))
    const dir = newDir()
    const channel = (secret: string) => ({ id: 'ding', type: 'dingtalk' as const, url: `${robot.url}/robot/send`, token: 'dt-access-token', secret, gatherMs: 50, minBackoffMs: 100, maxBackoffMs: 300 })
    try {
      const reg1 = new Registry()
      const wrong = createNotifiers(parse({ channels: [channel('SECwrong-secret')] }), { dir, log, registry: reg1 })
      wrong.start()
      wrong.listener(alarmEvent(7, { severity: 'critical' }))
      await waitFor(() => robot.requests.length >= 2, 10_000, 'two refused tries')
      expect(robot.requests.every((r) => r.answer === 310000)).toBe(true)
      expect(await metric(reg1, 'smartcity_notify_failures_total', { channel: 'ding', reason: 'dingtalk_310000' })).toBeGreaterThanOrEqual(2)
      expect(wrong.health()['notify:ding']).toMatchObject({ status: 'degraded', detail: expect.stringContaining('dingtalk_310000') })
      expect(wrong.queued()).toEqual({ ding: 1 })
      await wrong.stop()

      const reg2 = new Registry()
      const right = createNotifiers(parse({ channels: [channel('SECright-secret')] }), { dir, log, registry: reg2 })
      expect(right.queued()).toEqual({ ding: 0 })
      right.start()
      expect(right.queued()).toEqual({ ding: 1 })
      await waitFor(() => robot.accepted().length === 1, 10_000, 'delivered with the right secret')
      const ok = robot.accepted()[0]!
      // As documented: POST /robot/send?access_token=..&timestamp=<ms>&sign=<urlEncode(base64(HmacSHA256))>.
      const ts = Number(ok.url.searchParams.get('timestamp'))
      expect(Math.abs(Date.now() - ts)).toBeLessThan(60_000)
      expect(ok.url.searchParams.get('sign')).toBe(dingTalkSign(ts, 'SECright-secret'))
      expect(ok.headers['content-type']).toMatch(/^application\/json/)
      const body = ok.json as { msgtype: string; markdown: { title: string; text: string } }
      expect(body.msgtype).toBe('markdown')
      expect(body.markdown.title).toBe('【严重】告警发生：ammonia_high wq-007')
      expect(body.markdown.text).toContain('2026-12-01 22:58:27')
      await waitFor(() => right.queued()['ding'] === 0, 5000, 'queue empty')
      expect(await metric(reg2, 'smartcity_notify_sent_total', { channel: 'ding' })).toBe(1)
      expect(await metric(reg2, 'smartcity_notify_messages_total', { channel: 'ding', type: 'single' })).toBe(1)
      await right.stop()
    } finally {
      await robot.close()
    }
  })
})

describe('a storm of 200 alarms against robots that allow 20 messages a minute', () => {
  it('DingTalk and WeCom each get a bounded number of digests listing all 200, never over the limit, WeCom content within 4096 bytes', async () => {
    const ding = await startEndpoint(dingTalkRobot('storm-token', 'SECstorm-secret'))
    const wecom = await startEndpoint(weComRobot('wecom-key-1234'))
    const reg = new Registry()
    const n = createNotifiers(
      parse({
        channels: [
          { id: 'ding', type: 'dingtalk', url: `${ding.url}/robot/send`, token: 'storm-token', secret: 'SECstorm-secret', gatherMs: 300 },
          { id: 'wecom', type: 'wecom', url: `${wecom.url}/cgi-bin/webhook/send`, token: 'wecom-key-1234', gatherMs: 300 },
        ],
      }),
      { dir: newDir(), log, registry: reg },
    )
    n.start()
    try {
      // The storm: 200 raises within about a second, the first ones alone before the rest.
      n.listener(alarmEvent(0))
      await new Promise((r) => setTimeout(r, 400))
      for (let i = 1; i < 200; i++) {
        n.listener(alarmEvent(i))
        if (i % 50 === 0) await new Promise((r) => setTimeout(r, 100))
      }
      await waitFor(() => n.queued()['ding'] === 0 && n.queued()['wecom'] === 0, 30_000, 'both queues empty')
      for (const [ep, text] of [
        [ding, (j: unknown) => (j as { markdown: { text: string } }).markdown.text],
        [wecom, (j: unknown) => (j as { markdown: { content: string } }).markdown.content],
      ] as const) {
        expect(ep.requests.every((r) => r.answer === 0)).toBe(true)
        expect(ep.requests.length).toBeLessThanOrEqual(12)
        const all = ep.requests.map((r) => text(r.json)).join('\n')
        for (let i = 0; i < 200; i++) expect(all).toContain(`wq-${String(i).padStart(3, '0')}`)
      }
      for (const r of wecom.requests) expect(Buffer.byteLength((r.json as { markdown: { content: string } }).markdown.content)).toBeLessThanOrEqual(4096)
      expect(await metric(reg, 'smartcity_notify_sent_total', { channel: 'ding' })).toBe(200)
      expect(await metric(reg, 'smartcity_notify_sent_total', { channel: 'wecom' })).toBe(200)
      expect(await metric(reg, 'smartcity_notify_messages_total', { channel: 'wecom', type: 'digest' })).toBeGreaterThanOrEqual(1)
    } finally {
      await n.stop()
      await ding.close()
      await wecom.close()
    }
  }, 60_000)

  it('a robot that says "too many" (WeCom 45009 with Retry-After) gets the notices again after the wait, none lost', async () => {
    const wecom = await startEndpoint(weComRobot('k-limited', { perMinute: 2, windowMs: 3000, retryAfterSec: 1 }))
    const reg = new Registry()
    const n = createNotifiers(parse({ channels: [{ id: 'w', type: 'wecom', url: `${wecom.url}/cgi-bin/webhook/send`, token: 'k-limited', gatherMs: 0, ratePerMinute: 100, minBackoffMs: 50, maxBackoffMs: 100 }] }), { dir: newDir(), log, registry: reg })
    n.start()
    try {
      for (let i = 0; i < 4; i++) {
        n.listener(alarmEvent(i))
        await waitFor(() => wecom.requests.length > i, 5000, `request ${i}`)
      }
      await waitFor(() => wecom.requests.some((r) => r.answer === 45009), 5000, 'a 45009')
      const limitedAt = wecom.requests.find((r) => r.answer === 45009)!.at
      await waitFor(() => n.queued()['w'] === 0, 20_000, 'all delivered')
      const next = wecom.requests.find((r) => r.at > limitedAt)!
      // The answer said Retry-After 1 s: no retry sooner than that.
      expect(next.at - limitedAt).toBeGreaterThanOrEqual(1000)
      const delivered = wecom.accepted().map((r) => (r.json as { markdown: { content: string } }).markdown.content).join('\n')
      for (let i = 0; i < 4; i++) expect(delivered).toContain(`wq-00${i}`)
      expect(await metric(reg, 'smartcity_notify_failures_total', { channel: 'w', reason: 'wecom_45009' })).toBeGreaterThanOrEqual(1)
    } finally {
      await n.stop()
      await wecom.close()
    }
  }, 90_000)
})
