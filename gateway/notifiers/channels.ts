/**
 * One sender per channel type: it turns a message (one alarm change or a digest of several) into the
 * channel's documented request and says whether the channel acknowledged it. A message counts as
 * delivered only on the channel's own success: HTTP 2xx for a webhook, HTTP 200 with `errcode: 0` for the
 * DingTalk and WeCom robots, SMTP 250 for e-mail. Anything else is a failure with a stable snake_case
 * reason (`dingtalk_310000`, `wecom_45009`, `http_503`, `smtp_451`, `network`, `timeout`), and the queue
 * keeps the notices for the next try.
 *
 * Documented requests (the tests check them as these sources describe them):
 * - DingTalk custom robot (自定义机器人, open.dingtalk.com "custom robot access" / 加签): POST
 *   `https://oapi.dingtalk.com/robot/send?access_token=T&timestamp=MS&sign=S`, `S` = urlEncode(base64(
 *   HmacSHA256(key = secret, "MS\nsecret"))), MS epoch milliseconds within one hour of DingTalk's clock;
 *   JSON body `{"msgtype":"markdown","markdown":{"title","text"},"at":{"atMobiles","isAtAll"}}`; answer
 *   `{"errcode":0,"errmsg":"ok"}`; 310000 for a bad sign or timestamp (also keyword/IP security), 130101
 *   "send too fast, exceed 20 times per minute" (20 messages a minute per robot, then throttled 10 minutes).
 * - WeCom group robot (群机器人配置说明, developer.work.weixin.qq.com/document/path/91770): POST
 *   `https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K`, `Content-Type: application/json`, body
 *   `{"msgtype":"markdown","markdown":{"content"}}` (content at most 4096 bytes, UTF-8); at most 20
 *   messages a minute; answer `{"errcode":0,"errmsg":"ok"}`, 45009 "api freq out of limit".
 */
import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import nodemailer from 'nodemailer'
import type { AlarmEvent } from '../alarms/events.ts'
import type { ChannelConfig, DingTalkChannel, SmtpChannel, WebhookChannel, WeComChannel } from './config.ts'
import { digest, single, type Text } from './format.ts'

/** What the loop hands a sender: the changes of one message, their queue keys, and how many follow in later messages. */
export interface Message {
  events: AlarmEvent[]
  keys: string[]
  /** Notices of the same read that go in the next message(s) of a split digest. */
  more: number
}

export type SendResult =
  | { ok: true }
  | {
      ok: false
      /** Stable, snake_case: a metric label and the log's `reason`. */
      reason: string
      detail: string
      /** The channel said "too many": wait at least this long (a Retry-After, or the documented throttle). */
      retryAfterMs?: number
      rateLimited?: boolean
    }

export interface Sender {
  send(m: Message, signal: AbortSignal): Promise<SendResult>
  close(): void
}

/** The text of a message: one change alone, or a digest. */
export function render(m: Message, c: ChannelConfig): Text {
  const first = m.events[0]
  if (m.events.length === 1 && m.more === 0 && first) return single(first, c.locale, c.timeZone)
  return digest(m.events, c.locale, c.timeZone, m.more)
}

/** DingTalk's 加签: base64(HMAC-SHA256(key = secret, `${timestamp}\n${secret}`)), before URL encoding. */
export function dingTalkSign(timestamp: number, secret: string): string {
  return createHmac('sha256', secret).update(`${timestamp}\n${secret}`, 'utf8').digest('base64')
}

/** The webhook channel's signature: hex HMAC-SHA256(secret, `${timestamp}.${body}`). */
export function webhookSignature(timestamp: number, body: string, secret: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex')
}

function retryAfterMs(h: string | null): number | undefined {
  if (!h) return undefined
  const s = Number(h)
  if (Number.isFinite(s)) return Math.max(0, s * 1000)
  const t = Date.parse(h)
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now())
}

function failure(reason: string, detail: string, extra: { retryAfterMs?: number; rateLimited?: boolean } = {}): SendResult {
  return { ok: false, reason, detail: detail.slice(0, 500), ...extra }
}

/** POST JSON; a network error or time-out becomes a result, never a throw. */
async function postJson(url: string, body: string, headers: Record<string, string>, timeoutMs: number, signal: AbortSignal): Promise<{ status: number; text: string; retryAfter?: number } | SendResult> {
  try {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8', ...headers }, body, signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) })
    const text = await res.text()
    const ra = retryAfterMs(res.headers.get('retry-after'))
    return { status: res.status, text, ...(ra !== undefined ? { retryAfter: ra } : {}) }
  } catch (err) {
    const e = err as Error
    if (e.name === 'TimeoutError') return failure('timeout', `no answer within ${timeoutMs} ms`)
    if (e.name === 'AbortError') return failure('stopped', 'the gateway is stopping')
    const cause = (e as { cause?: { code?: string; message?: string } }).cause
    return failure('network', cause?.code ?? cause?.message ?? e.message)
  }
}

const isResult = (r: unknown): r is SendResult => typeof r === 'object' && r !== null && 'ok' in r

/** An HTTP answer that is not a success: 429 and 5xx are worth retrying soon; other 4xx need an operator. */
function httpFailure(status: number, text: string, retryAfter?: number): SendResult {
  return failure(`http_${status}`, text, { ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {}), ...(status === 429 ? { rateLimited: true } : {}) })
}

/** A robot's JSON answer: errcode 0 is the one success. */
function robotAnswer(prefix: 'dingtalk' | 'wecom', status: number, text: string, retryAfter: number | undefined, rateCodes: readonly number[], throttleMs: number): SendResult {
  if (status !== 200) return httpFailure(status, text, retryAfter)
  let ans: { errcode?: unknown; errmsg?: unknown }
  try {
    ans = JSON.parse(text) as typeof ans
  } catch {
    return failure(`${prefix}_bad_answer`, `not JSON: ${text.slice(0, 200)}`)
  }
  if (ans.errcode === 0) return { ok: true }
  const code = typeof ans.errcode === 'number' ? ans.errcode : 'unknown'
  const limited = typeof code === 'number' && rateCodes.includes(code)
  return failure(`${prefix}_${code}`, String(ans.errmsg ?? ''), limited ? { rateLimited: true, retryAfterMs: retryAfter ?? throttleMs } : {})
}

function webhookSender(c: WebhookChannel): Sender {
  return {
    async send(m, signal) {
      const t = render(m, c)
      const ts = Date.now()
      const body = JSON.stringify({ source: 'smartcity', channel: c.id, title: t.title, text: t.text, count: m.events.length, more: m.more, events: m.events.map((e, i) => ({ key: m.keys[i], ...e })) })
      const headers: Record<string, string> = { ...c.headers, 'x-smartcity-timestamp': String(ts) }
      if (c.secret) headers['x-smartcity-signature'] = `sha256=${webhookSignature(ts, body, c.secret)}`
      const r = await postJson(c.url, body, headers, c.timeoutMs, signal)
      if (isResult(r)) return r
      return r.status >= 200 && r.status < 300 ? { ok: true } : httpFailure(r.status, r.text, r.retryAfter)
    },
    close() {},
  }
}

/** DingTalk throttles a robot for 10 minutes after 20 messages in a minute. */
const DINGTALK_THROTTLE_MS = 60_000
/** WeCom counts per minute. */
const WECOM_THROTTLE_MS = 60_000

function dingTalkSender(c: DingTalkChannel): Sender {
  return {
    async send(m, signal) {
      const t = render(m, c)
      const u = new URL(c.url)
      u.searchParams.set('access_token', c.token)
      let url = u.toString()
      if (c.secret) {
        const ts = Date.now()
        // Appended by hand: the sign is URL-encoded exactly once (encodeURIComponent of the base64).
        url += `&timestamp=${ts}&sign=${encodeURIComponent(dingTalkSign(ts, c.secret))}`
      }
      const critical = m.events.some((e) => e.severity === 'critical' && e.action === 'raise')
      const mention = critical && c.atMobiles.length > 0
      // DingTalk only @-mentions a number that also appears in the markdown text.
      const text = mention ? `${t.markdown}\n\n${c.atMobiles.map((n) => `@${n}`).join(' ')}` : t.markdown
      const body = JSON.stringify({ msgtype: 'markdown', markdown: { title: t.title, text }, at: { atMobiles: mention ? c.atMobiles : [], isAtAll: false } })
      const r = await postJson(url, body, {}, c.timeoutMs, signal)
      if (isResult(r)) return r
      return robotAnswer('dingtalk', r.status, r.text, r.retryAfter, [130101], DINGTALK_THROTTLE_MS)
    },
    close() {},
  }
}

function weComSender(c: WeComChannel): Sender {
  return {
    async send(m, signal) {
      const t = render(m, c)
      const u = new URL(c.url)
      u.searchParams.set('key', c.token)
      const body = JSON.stringify({ msgtype: 'markdown', markdown: { content: t.markdown } })
      const r = await postJson(u.toString(), body, {}, c.timeoutMs, signal)
      if (isResult(r)) return r
      return robotAnswer('wecom', r.status, r.text, r.retryAfter, [45009], WECOM_THROTTLE_MS)
    },
    close() {},
  }
}

function smtpSender(c: SmtpChannel): Sender {
  const transport = nodemailer.createTransport({
    host: c.host,
    port: c.port ?? (c.security === 'tls' ? 465 : 587),
    secure: c.security === 'tls',
    requireTLS: c.security === 'starttls',
    ignoreTLS: c.security === 'none',
    ...(c.username !== undefined ? { auth: { user: c.username, pass: c.password ?? '' } } : {}),
    ...(c.ca !== undefined ? { tls: { ca: readFileSync(c.ca) } } : {}),
    connectionTimeout: c.timeoutMs,
    greetingTimeout: c.timeoutMs,
    socketTimeout: c.timeoutMs,
  })
  return {
    async send(m) {
      const t = render(m, c)
      try {
        const info = await transport.sendMail({ from: c.from, to: c.to, subject: t.title, text: t.text, headers: { 'X-Smartcity-Notices': String(m.events.length) } })
        // Resolved: the server answered 250 to the message's data.
        if (info.accepted.length === 0) return failure('smtp_rejected', `every recipient refused: ${info.rejected.join(', ')}`)
        return { ok: true }
      } catch (err) {
        const e = err as Error & { responseCode?: number; code?: string; response?: string }
        if (e.responseCode !== undefined) return failure(`smtp_${e.responseCode}`, e.response ?? e.message)
        return failure(`smtp_${(e.code ?? 'error').toLowerCase()}`, e.message)
      }
    },
    close() {
      transport.close()
    },
  }
}

export function createSender(c: ChannelConfig): Sender {
  switch (c.type) {
    case 'webhook':
      return webhookSender(c)
    case 'dingtalk':
      return dingTalkSender(c)
    case 'wecom':
      return weComSender(c)
    case 'smtp':
      return smtpSender(c)
  }
}
