/**
 * `notifiers:` in the gateway file: the channels that tell people about alarms and the routes that choose
 * them. Secrets use the keys the house already treats as secrets (gateway/secrets.ts: `token`, `secret`,
 * `password`), so they are censored in logs and `/metrics` and may come from `${VAR}` or `${file:...}`.
 *
 *   notifiers:
 *     channels:
 *       - id: ops-dingtalk
 *         type: dingtalk               # DingTalk custom robot (自定义机器人), 加签 security
 *         token: ${file:/run/secrets/dingtalk_token}    # the webhook's access_token
 *         secret: ${file:/run/secrets/dingtalk_secret}  # the SEC... signing secret
 *         # url: https://oapi.dingtalk.com/robot/send
 *         # ratePerMinute: 20          # DingTalk: 20 messages per minute per robot
 *       - id: ops-wecom
 *         type: wecom                  # WeCom group robot (群机器人)
 *         token: ${WECOM_KEY}          # the webhook's key
 *       - id: duty-mail
 *         type: smtp
 *         host: smtp.example.cn
 *         # port: 587                  # 465 with security: tls
 *         # security: starttls         # starttls | tls | none
 *         username: alarms@example.cn
 *         password: ${file:/run/secrets/smtp_password}
 *         from: 智慧城市网关 <alarms@example.cn>
 *         to: [duty@example.cn]
 *         locale: en                   # zh-CN (default) or en
 *       - id: sms-gateway
 *         type: webhook                # JSON POST; an SMS gateway or anything else
 *         url: https://sms.example.cn/hook
 *         secret: ${SMS_HOOK_SECRET}   # optional: X-Smartcity-Signature HMAC-SHA256
 *     routes:
 *       - channels: [ops-dingtalk, ops-wecom]
 *         severity: warning            # this severity and above
 *       - channels: [duty-mail]
 *         kinds: [water_quality]
 *         rules: [do_low, ammonia_high]
 *         # actions: [raise, clear, ack, shelve, unshelve]   # default: all
 */
import { z } from 'zod'
import { KINDS } from '../../devices/common/point.ts'
import { Severity } from '../alarms/store.ts'

const ChannelId = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - (at most 64)')
const HttpUrl = z.string().regex(/^https?:\/\/[^\s]+$/, 'an http:// or https:// URL')

/** What every channel takes. */
const Common = {
  id: ChannelId,
  /** The language of the notices: Chinese by default. */
  locale: z.enum(['zh-CN', 'en']).default('zh-CN'),
  /** The time zone the notices' times are written in. */
  timeZone: z.string().min(1).default('Asia/Shanghai'),
  /** Messages per minute at most (a storm beyond it becomes digests). */
  ratePerMinute: z.number().int().min(1).max(600).optional(),
  /** How long the first notice of a burst waits for the rest, so that a burst goes as one digest. */
  gatherMs: z.number().int().min(0).max(60_000).default(1000),
  /** The largest message body text in UTF-8 bytes; a longer digest is split into several messages. */
  maxBytes: z.number().int().min(512).max(1 << 20).optional(),
  /** One request's time-out. */
  timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
  /** Retry back-off (gateway/transports/backoff.ts): first and longest delay. */
  minBackoffMs: z.number().int().min(10).default(1000),
  maxBackoffMs: z.number().int().min(10).default(300_000),
}

export const WebhookChannel = z.strictObject({
  ...Common,
  type: z.literal('webhook'),
  url: HttpUrl,
  /** With a secret, `X-Smartcity-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`. */
  secret: z.string().min(1).optional(),
  /** Extra request headers (an API key header of an SMS gateway, ...). */
  headers: z.record(z.string(), z.string()).default({}),
})

export const DingTalkChannel = z.strictObject({
  ...Common,
  type: z.literal('dingtalk'),
  url: HttpUrl.default('https://oapi.dingtalk.com/robot/send'),
  /** The robot webhook's `access_token`. */
  token: z.string().min(1),
  /** The robot's signing secret (加签, `SEC...`); without it no `timestamp`/`sign` is sent (keyword or IP security). */
  secret: z.string().min(1).optional(),
  /** Mobile numbers to @ on critical alarms (DingTalk `at.atMobiles`). */
  atMobiles: z.array(z.string().regex(/^\+?[0-9-]{5,20}$/)).default([]),
})

export const WeComChannel = z.strictObject({
  ...Common,
  type: z.literal('wecom'),
  url: HttpUrl.default('https://qyapi.weixin.qq.com/cgi-bin/webhook/send'),
  /** The group robot webhook's `key`. */
  token: z.string().min(1),
})

export const SmtpChannel = z.strictObject({
  ...Common,
  type: z.literal('smtp'),
  host: z.string().min(1),
  /** Default 587 (starttls, none) or 465 (tls). */
  port: z.number().int().min(1).max(65535).optional(),
  /** `starttls`: plain connection upgraded, refused without STARTTLS; `tls`: TLS from the start; `none`: no TLS. */
  security: z.enum(['starttls', 'tls', 'none']).default('starttls'),
  username: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
  /** A CA certificate file (PEM) to trust, for a server with a private CA. */
  ca: z.string().min(1).optional(),
  from: z.string().min(3),
  to: z.array(z.string().min(3)).min(1),
})

export const ChannelConfig = z.discriminatedUnion('type', [WebhookChannel, DingTalkChannel, WeComChannel, SmtpChannel])
export type ChannelConfig = z.infer<typeof ChannelConfig>
export type WebhookChannel = z.infer<typeof WebhookChannel>
export type DingTalkChannel = z.infer<typeof DingTalkChannel>
export type WeComChannel = z.infer<typeof WeComChannel>
export type SmtpChannel = z.infer<typeof SmtpChannel>

export const AlarmActionName = z.enum(['raise', 'clear', 'ack', 'shelve', 'unshelve'])

export const RouteConfig = z.strictObject({
  channels: z.array(ChannelId).min(1),
  /** Only these rules (the alarm's `rule`: `do_low`, `elevator_trapped`, `jt808_sos`, ...). */
  rules: z.array(z.string().min(1)).optional(),
  kinds: z.array(z.enum(KINDS)).optional(),
  districts: z.array(z.string().min(1)).optional(),
  /** This severity and above (info < warning < critical). */
  severity: Severity.optional(),
  /** Which changes notify; default all (start, clear, acknowledgement, shelve, unshelve). */
  actions: z.array(AlarmActionName).optional(),
})
export type RouteConfig = z.infer<typeof RouteConfig>

export const NotifiersConfig = z
  .strictObject({
    channels: z.array(ChannelConfig).default([]),
    /** Without routes, every alarm change goes to every channel. */
    routes: z.array(RouteConfig).optional(),
    /** The durable queue in `<dataDir>/notify`: cap on its size (past it the oldest part is moved aside, never deleted). */
    queue: z
      .strictObject({
        maxBytes: z.number().int().min(64 * 1024).default(64 * 1024 * 1024),
        fsync: z.boolean().default(false),
      })
      .prefault({}),
  })
  .superRefine((cfg, ctx) => {
    const ids = new Set<string>()
    cfg.channels.forEach((c, i) => {
      if (ids.has(c.id)) ctx.addIssue({ code: 'custom', path: ['channels', i, 'id'], message: `duplicate channel id ${c.id}` })
      ids.add(c.id)
      if (c.maxBackoffMs < c.minBackoffMs) ctx.addIssue({ code: 'custom', path: ['channels', i, 'maxBackoffMs'], message: 'must be at least minBackoffMs' })
    })
    cfg.routes?.forEach((r, i) => {
      r.channels.forEach((id, j) => {
        if (!ids.has(id)) ctx.addIssue({ code: 'custom', path: ['routes', i, 'channels', j], message: `no channel ${id} (channels: ${[...ids].join(', ') || 'none'})` })
      })
    })
  })
export type NotifiersConfig = z.infer<typeof NotifiersConfig>
export type NotifiersConfigInput = z.input<typeof NotifiersConfig>

/** Documented per-minute limits: DingTalk and WeCom robots 20 a minute; the others a house default. */
export function defaultRate(c: ChannelConfig): number {
  if (c.ratePerMinute !== undefined) return c.ratePerMinute
  return c.type === 'dingtalk' || c.type === 'wecom' ? 20 : c.type === 'smtp' ? 30 : 60
}

/** WeCom markdown content is at most 4096 bytes (work.weixin.qq.com doc 91770); a margin for the rest. */
export function defaultMaxBytes(c: ChannelConfig): number {
  if (c.maxBytes !== undefined) return c.maxBytes
  return c.type === 'wecom' ? 4000 : c.type === 'dingtalk' ? 4000 : c.type === 'smtp' ? 64 * 1024 : 32 * 1024
}
