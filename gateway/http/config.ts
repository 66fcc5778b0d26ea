/**
 * The HTTP API's configuration (`http:` in the gateway file), beside the API as the broker's is beside the
 * broker. Tokens are stored as the SHA-256 of the token: a token is 32 random bytes (`smartcity token`), so
 * a fast hash is enough (nobody can guess 256 bits whatever the hash costs); MQTT passwords, chosen by
 * people, use scrypt instead.
 */
import { z } from 'zod'
import { DashboardSetting } from './ui.ts'

export const SCOPES = ['read', 'operate', 'admin'] as const
/**
 * What a token may do. Not nested: `admin` (reload) does not imply `operate` (alarm acknowledgement, device
 * writes), and neither implies `read` (GET routes, the live page), so a reload script's token cannot write
 * a register and a wall display's token cannot acknowledge an alarm.
 */
export const Scope = z.enum(SCOPES, { error: () => `a scope: ${SCOPES.join(', ')}` })
export type Scope = z.infer<typeof Scope>

export const TokenName = z.string().regex(/^[A-Za-z0-9_.@-]{1,64}$/, 'letters, digits, _ . @ - (at most 64)')

export const HttpToken = z.strictObject({
  /** Who: the name the audit log and the alarm acknowledgement show. */
  name: TokenName,
  /** The hex SHA-256 of the token (not the token): `smartcity token` prints it. */
  sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'the SHA-256 of the token in hex (64 digits), as `smartcity token` prints it'),
  scopes: z.array(Scope).min(1),
})
export type HttpToken = z.infer<typeof HttpToken>

const Access = z.enum(['open', 'read'], { error: () => 'open or read' })

/** Loopback hosts: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}

export const HttpConfig = z
  .strictObject({
    enabled: z.boolean().default(true),
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65_535).default(8080),
    /** The operators' page at `/` and its event stream `/api/live`: true/false, or its settings (gateway/http/ui.ts). */
    dashboard: DashboardSetting,
    /** Bearer tokens; none means every route is open (allowed on a loopback host only). */
    tokens: z.array(HttpToken).default([]),
    /** `GET /metrics`: `read` wants a token with the read scope (Prometheus: `authorization.credentials_file`). */
    metrics: Access.default('read'),
    /** `GET /healthz`: `open` for probes without a token (status only; the components with a read token). */
    healthz: Access.default('open'),
    /** HTTPS: PEM files of the certificate (chain) and its key, and optionally a CA bundle. */
    tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1), ca: z.string().min(1).optional() }).optional(),
    /** Failed authentication per address: past `max` failures in `windowSec`, 429 for `windowSec`. */
    authFailures: z.strictObject({ max: z.number().int().min(1).default(10), windowSec: z.number().int().min(1).default(60) }).prefault({}),
  })
  .superRefine((c, ctx) => {
    // Refuse rather than warn: without tokens anyone who reaches the port can write field devices' registers.
    if (c.enabled && c.tokens.length === 0 && !isLoopback(c.host)) {
      ctx.addIssue({ code: 'custom', path: ['tokens'], message: `required when http.host (${c.host}) is not a loopback address: anyone on the network could write devices; make one with \`smartcity token --name NAME --scopes read,operate\`` })
    }
    const names = new Set<string>()
    const hashes = new Set<string>()
    c.tokens.forEach((t, i) => {
      if (names.has(t.name)) ctx.addIssue({ code: 'custom', path: ['tokens', i, 'name'], message: `duplicate token name ${t.name}` })
      if (hashes.has(t.sha256.toLowerCase())) ctx.addIssue({ code: 'custom', path: ['tokens', i, 'sha256'], message: 'the same token as an earlier entry' })
      names.add(t.name)
      hashes.add(t.sha256.toLowerCase())
    })
  })
export type HttpConfig = z.infer<typeof HttpConfig>
