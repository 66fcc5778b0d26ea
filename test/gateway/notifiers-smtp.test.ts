/**
 * E-mail notices through nodemailer against smtp-server on 127.0.0.1: STARTTLS required (the server
 * refuses MAIL FROM on a plain session), AUTH PLAIN/LOGIN with the configured user, the message accepted
 * only by the server's 250 (RFC 5321 section 4.2: a 4yz reply is a transient failure to try again), UTF-8
 * subject and body in Chinese.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'
import { Registry } from 'prom-client'
import { SMTPServer } from 'smtp-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NotifiersConfig } from '../../gateway/notifiers/config.ts'
import { createNotifiers } from '../../gateway/notifiers/index.ts'
import { have, tempDir } from '../helpers/env.ts'
import { waitFor } from '../helpers/net.ts'
import { alarmEvent } from './notifiers-endpoints.ts'

const log = pino({ level: process.env['TEST_LOG'] ?? 'silent' })
const tmp = tempDir('smartcity-notify-smtp-')
afterAll(() => tmp.cleanup())

interface Mail {
  raw: string
  from: string
  to: string[]
  user: string | undefined
  secure: boolean
}

/** RFC 2047 encoded-words (=?UTF-8?B?...?= and =?UTF-8?Q?...?=) of a header, decoded. */
function decodeHeader(v: string): string {
  return v.replace(/\r?\n[ \t]/g, ' ').replace(/=\?utf-8\?([bq])\?([^?]*)\?=\s*/gi, (_m, enc: string, text: string) => (enc.toLowerCase() === 'b' ? Buffer.from(text, 'base64').toString('utf8') : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9a-f]{2})/gi, (_x, h: string) => String.fromCharCode(Number.parseInt(h, 16))), 'latin1').toString('utf8')))
}

/** The headers and decoded text body of a one-part message. */
function parseMail(raw: string): { headers: Record<string, string>; body: string } {
  const cut = raw.indexOf('\r\n\r\n')
  const head = raw.slice(0, cut).replace(/\r\n[ \t]+/g, ' ')
  const headers: Record<string, string> = {}
  for (const line of head.split('\r\n')) {
    const i = line.indexOf(':')
    if (i > 0) headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim()
  }
  let body = raw.slice(cut + 4)
  const cte = (headers['content-transfer-encoding'] ?? '').toLowerCase()
  if (cte === 'base64') body = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')
  else if (cte === 'quoted-printable') body = Buffer.from(body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16))), 'latin1').toString('utf8')
  return { headers, body }
}

describe.skipIf(!have('openssl'))('SMTP e-mail notices (nodemailer) against smtp-server with STARTTLS and AUTH', () => {
  const cert = join(tmp.dir, 'cert.pem')
  const key = join(tmp.dir, 'key.pem')
  beforeAll(() => {
    // A self-signed certificate for 127.0.0.1, trusted through the channel's `ca`.
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=smartcity-smtp-test', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
  })

  it('sends a UTF-8 Chinese message over STARTTLS with the configured login; a 451 is tried again, only the 250 takes it off the queue', async () => {
    const mails: Mail[] = []
    let refuseNext = 1
    const server = new SMTPServer({
      key: readFileSync(key),
      cert: readFileSync(cert),
      authMethods: ['PLAIN', 'LOGIN'],
      // AUTH only after STARTTLS (smtp-server's default: allowInsecureAuth false).
      onAuth(auth, _session, cb) {
        if (auth.username === 'alarms@example.cn' && auth.password === 'smtp-password-1') cb(null, { user: auth.username })
        else cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }))
      },
      onMailFrom(_addr, session, cb) {
        if (!session.secure) return cb(Object.assign(new Error('Must issue a STARTTLS command first'), { responseCode: 530 }))
        cb()
      },
      onData(stream, session, cb) {
        const chunks: Buffer[] = []
        stream.on('data', (c: Buffer) => chunks.push(c))
        stream.on('end', () => {
          if (refuseNext > 0) {
            refuseNext--
            return cb(Object.assign(new Error('Requested action aborted: local error in processing'), { responseCode: 451 }))
          }
          mails.push({ raw: Buffer.concat(chunks).toString('latin1'), from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), user: session.user as string | undefined, secure: session.secure })
          cb(null)
        })
      },
      logger: false,
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
    const port = (server.server.address() as { port: number }).port
    const reg = new Registry()
    const n = createNotifiers(
      NotifiersConfig.parse({
        channels: [{ id: 'mail', type: 'smtp', host: '127.0.0.1', port, security: 'starttls', ca: cert, username: 'alarms@example.cn', password: 'smtp-password-1', from: '智慧城市网关 <alarms@example.cn>', to: ['duty@example.cn', 'lead@example.cn'], gatherMs: 0, minBackoffMs: 200, maxBackoffMs: 500 }],
      }),
      { dir: join(tmp.dir, 'q'), log, registry: reg },
    )
    n.start()
    try {
      n.listener(alarmEvent(3, { severity: 'critical', rule: 'do_low', message: '溶解氧低于 2 mg/L' }))
      await waitFor(() => mails.length === 1 && n.queued()['mail'] === 0, 20_000, 'the mail')
      const m = mails[0]!
      expect(m.secure).toBe(true)
      expect(m.user).toBe('alarms@example.cn')
      expect(m.from).toBe('alarms@example.cn')
      expect(m.to).toEqual(['duty@example.cn', 'lead@example.cn'])
      const { headers, body } = parseMail(m.raw)
      expect(decodeHeader(headers['subject'] ?? '')).toBe('【严重】告警发生：do_low wq-003')
      expect(decodeHeader(headers['from'] ?? '')).toContain('智慧城市网关')
      expect(headers['content-type']).toMatch(/text\/plain; charset=utf-8/i)
      expect(body).toContain('说明: 溶解氧低于 2 mg/L')
      expect(body).toContain('时间: 2026-12-01 22:58:23')
      const failed = await reg.getSingleMetric('smartcity_notify_failures_total')?.get()
      expect(failed?.values.find((v) => v.labels['reason'] === 'smtp_451')?.value).toBe(1)
    } finally {
      await n.stop()
      await new Promise<void>((r) => server.close(() => r()))
    }
  }, 60_000)

  it('implicit TLS (security: tls, as on port 465) with an English channel', async () => {
    const mails: string[] = []
    const server = new SMTPServer({
      secure: true,
      key: readFileSync(key),
      cert: readFileSync(cert),
      authOptional: true,
      onData(stream, session, cb) {
        const chunks: Buffer[] = []
        stream.on('data', (c: Buffer) => chunks.push(c))
        stream.on('end', () => {
          if (session.secure) mails.push(Buffer.concat(chunks).toString('latin1'))
          cb(session.secure ? null : Object.assign(new Error('TLS required'), { responseCode: 530 }))
        })
      },
      logger: false,
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
    const port = (server.server.address() as { port: number }).port
    const n = createNotifiers(NotifiersConfig.parse({ channels: [{ id: 'mail', type: 'smtp', host: '127.0.0.1', port, security: 'tls', ca: cert, from: 'gw@example.cn', to: ['ops@example.cn'], locale: 'en', gatherMs: 0 }] }), { dir: join(tmp.dir, 'q-tls'), log })
    n.start()
    try {
      n.listener(alarmEvent(5, { action: 'clear' }))
      await waitFor(() => mails.length === 1 && n.queued()['mail'] === 0, 20_000, 'the mail over TLS')
      const { headers, body } = parseMail(mails[0]!)
      expect(decodeHeader(headers['subject'] ?? '')).toBe('[warning] Alarm cleared: ammonia_high wq-005')
      expect(body).toContain('Since: 2026-12-01 22:58:25')
    } finally {
      await n.stop()
      await new Promise<void>((r) => server.close(() => r()))
    }
  }, 60_000)

  it('a wrong password is refused (535) and counted; the notice stays queued', async () => {
    const server = new SMTPServer({
      key: readFileSync(key),
      cert: readFileSync(cert),
      onAuth(_auth, _session, cb) {
        cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }))
      },
      logger: false,
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
    const port = (server.server.address() as { port: number }).port
    const reg = new Registry()
    const n = createNotifiers(NotifiersConfig.parse({ channels: [{ id: 'mail', type: 'smtp', host: '127.0.0.1', port, ca: cert, username: 'u@example.cn', password: 'wrong-password', from: 'a@example.cn', to: ['b@example.cn'], gatherMs: 0, minBackoffMs: 100, maxBackoffMs: 200 }] }), { dir: join(tmp.dir, 'q2'), log, registry: reg })
    n.start()
    try {
      n.listener(alarmEvent(1))
      await waitFor(async () => {
        const f = await reg.getSingleMetric('smartcity_notify_failures_total')?.get()
        return (f?.values.find((v) => v.labels['reason'] === 'smtp_535')?.value ?? 0) >= 2
      }, 20_000, 'two refused logins')
      expect(n.queued()).toEqual({ mail: 1 })
    } finally {
      await n.stop()
      await new Promise<void>((r) => server.close(() => r()))
    }
  }, 60_000)
})
