/**
 * Local stand-ins for the channels' endpoints, on 127.0.0.1: each checks a request exactly as the channel
 * documents it and answers as the channel would (errcode 0, or its documented error codes).
 *
 * - DingTalk custom robot: https://open.dingtalk.com/document/robots/custom-robot-access (加签: timestamp +
 *   "\n" + secret, HmacSHA256, Base64, then urlEncode; timestamp in ms within one hour; 310000 when the sign
 *   or timestamp does not verify; at most 20 messages a minute per robot, else 130101 "send too fast,
 *   exceed 20 times per minute").
 * - WeCom group robot: https://developer.work.weixin.qq.com/document/path/91770 (POST ...webhook/send?key=K,
 *   JSON, markdown.content at most 4096 bytes UTF-8, at most 20 messages a minute, else 45009 "api freq
 *   out of limit").
 */
import { createHmac } from 'node:crypto'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AlarmEvent } from '../../gateway/alarms/events.ts'

export interface Recorded {
  method: string
  url: URL
  /** The query string as sent (before any decoding). */
  rawQuery: string
  headers: IncomingMessage['headers']
  body: string
  json: unknown
  /** What the endpoint answered (its errcode, or the HTTP status for a plain webhook). */
  answer: number
  at: number
}

export interface Endpoint {
  port: number
  url: string
  requests: Recorded[]
  /** Requests that the endpoint accepted (errcode 0 / 2xx). */
  accepted(): Recorded[]
  close(): Promise<void>
}

type Handler = (r: Omit<Recorded, 'answer'>) => { status: number; body: unknown; headers?: Record<string, string>; /** Answer this much later (a slow receiver). */ delayMs?: number }

export async function startEndpoint(handler: Handler, port = 0): Promise<Endpoint> {
  const requests: Recorded[] = []
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      let json: unknown
      try {
        json = JSON.parse(body)
      } catch {
        json = undefined
      }
      const rawUrl = req.url ?? '/'
      const r = { method: req.method ?? '', url: new URL(rawUrl, 'http://127.0.0.1'), rawQuery: rawUrl.includes('?') ? rawUrl.slice(rawUrl.indexOf('?') + 1) : '', headers: req.headers, body, json, at: Date.now() }
      const a = handler(r)
      const errcode = typeof a.body === 'object' && a.body !== null && 'errcode' in a.body ? Number((a.body as { errcode: unknown }).errcode) : a.status
      requests.push({ ...r, answer: errcode })
      const answer = () => {
        if (res.destroyed) return
        res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers })
        res.end(typeof a.body === 'string' ? a.body : JSON.stringify(a.body))
      }
      if (a.delayMs) setTimeout(answer, a.delayMs).unref()
      else answer()
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
  const addr = server.address()
  const p = typeof addr === 'object' && addr ? addr.port : port
  return {
    port: p,
    url: `http://127.0.0.1:${p}`,
    requests,
    accepted: () => requests.filter((r) => r.answer === 0 || (r.answer >= 200 && r.answer < 300)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** A sliding window (one minute as documented; shorter in a test): true when this message is over `perMinute`; only messages taken count. */
function overLimit(times: number[], now: number, perMinute: number, windowMs = 60_000): boolean {
  while (times.length > 0 && times[0]! <= now - windowMs) times.shift()
  if (times.length >= perMinute) return true
  times.push(now)
  return false
}

/** Why a DingTalk request is refused, or undefined when it is as documented. */
export function checkDingTalk(r: Omit<Recorded, 'answer'>, token: string, secret: string, now = Date.now()): string | undefined {
  if (r.method !== 'POST') return `method ${r.method}`
  if (r.url.pathname !== '/robot/send') return `path ${r.url.pathname}`
  if (!/^application\/json/.test(String(r.headers['content-type']))) return `content-type ${r.headers['content-type']}`
  if (r.url.searchParams.get('access_token') !== token) return 'access_token'
  const ts = Number(r.url.searchParams.get('timestamp'))
  if (!Number.isInteger(ts) || Math.abs(now - ts) > 3_600_000) return 'invalid timestamp'
  // The sign as sent: URL-encoded base64 (no raw + / = in the query).
  const raw = /(?:^|&)sign=([^&]*)/.exec(r.rawQuery)?.[1] ?? ''
  if (/[+/=]/.test(raw)) return 'sign not url-encoded'
  const expected = createHmac('sha256', secret).update(`${ts}\n${secret}`, 'utf8').digest('base64')
  if (decodeURIComponent(raw) !== expected) return 'sign not match'
  const j = r.json as { msgtype?: unknown; markdown?: { title?: unknown; text?: unknown } } | undefined
  if (j?.msgtype !== 'markdown' || typeof j.markdown?.title !== 'string' || typeof j.markdown.text !== 'string' || j.markdown.text === '') return 'bad body'
  return undefined
}

/** A DingTalk robot: 310000 for a bad sign/timestamp, 130101 past 20 messages a minute, else errcode 0. */
export function dingTalkRobot(token: string, secret: string, o: { perMinute?: number } = {}): Handler {
  const times: number[] = []
  return (r) => {
    const why = checkDingTalk(r, token, secret)
    if (why) return { status: 200, body: { errcode: 310000, errmsg: `${why}, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]` } }
    if (overLimit(times, r.at, o.perMinute ?? 20)) return { status: 200, body: { errcode: 130101, errmsg: 'send too fast, exceed 20 times per minute' } }
    return { status: 200, body: { errcode: 0, errmsg: 'ok' } }
  }
}

/** A WeCom group robot: 93000 for a wrong key, 40058-like refusal of an oversize content, 45009 past 20 a minute. */
export function weComRobot(key: string, o: { perMinute?: number; windowMs?: number; retryAfterSec?: number } = {}): Handler {
  const times: number[] = []
  return (r) => {
    if (r.method !== 'POST' || r.url.pathname !== '/cgi-bin/webhook/send') return { status: 404, body: 'not found' }
    if (r.url.searchParams.get('key') !== key) return { status: 200, body: { errcode: 93000, errmsg: 'invalid webhook url' } }
    if (!/^application\/json/.test(String(r.headers['content-type']))) return { status: 200, body: { errcode: 40035, errmsg: 'invalid content-type' } }
    const j = r.json as { msgtype?: unknown; markdown?: { content?: unknown } } | undefined
    if (j?.msgtype !== 'markdown' || typeof j.markdown?.content !== 'string' || j.markdown.content === '') return { status: 200, body: { errcode: 40008, errmsg: 'invalid message type' } }
    if (Buffer.byteLength(j.markdown.content, 'utf8') > 4096) return { status: 200, body: { errcode: 40058, errmsg: 'markdown.content exceed max length 4096' } }
    if (overLimit(times, r.at, o.perMinute ?? 20, o.windowMs)) return { status: 200, body: { errcode: 45009, errmsg: 'api freq out of limit' }, ...(o.retryAfterSec !== undefined ? { headers: { 'retry-after': String(o.retryAfterSec) } } : {}) }
    return { status: 200, body: { errcode: 0, errmsg: 'ok' } }
  }
}

/** An alarm change as the store reports it. */
export function alarmEvent(i: number, over: Partial<AlarmEvent> = {}): AlarmEvent {
  const device = over.device ?? `wq-${String(i).padStart(3, '0')}`
  const rule = over.rule ?? 'ammonia_high'
  return {
    action: 'raise',
    id: `${rule}/${device}`,
    rule,
    severity: 'warning',
    device,
    kind: 'water_quality',
    district: 'demo',
    site: 'river-north',
    value: 2.5 + i / 100,
    message: '氨氮超过 2.0 mg/L',
    at: Date.UTC(2026, 11, 1, 14, 58, 20) + i * 1000,
    since: Date.UTC(2026, 11, 1, 14, 58, 20) + i * 1000,
    ...over,
  }
}

/** Every notice key in the recorded webhook requests, in order. */
export const webhookKeys = (reqs: readonly Recorded[]): string[] => reqs.flatMap((r) => ((r.json as { events?: { key: string }[] } | undefined)?.events ?? []).map((e) => e.key))
