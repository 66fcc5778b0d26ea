/**
 * Bearer tokens and scopes for the HTTP API (issue 13 section 2; RFC 6750 for the header and its errors).
 *
 * One `onRequest` hook decides every route, so a route added later is protected by default: a route's
 * `config.access` names what it needs (`open`, `read`, `operate`, `admin`); without one, GET and HEAD need
 * `read` and every other method `operate`; `/metrics` and `/healthz` follow `http.metrics` and
 * `http.healthz`; an unknown URL needs `read` (no route map for strangers). 401 without a token or with a
 * wrong one (`WWW-Authenticate: Bearer`), 403 without the scope. The presented token is hashed (SHA-256)
 * and compared with every configured hash in constant time (`timingSafeEqual`), all of them, so neither
 * the time nor the order says which one nearly matched.
 *
 * Failed authentication is limited per address: past `authFailures.max` failures within `windowSec`, the
 * address gets 429 with `Retry-After` for `windowSec` without its tokens being looked at. Every 401/403 is
 * counted by reason and audited (`http.auth`, denied); the start of a block is audited once.
 *
 * No tokens configured: every route is open (the gateway's configuration allows that on a loopback host
 * only, and the gateway warns at start-up).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Audit, AuditRecord } from '../core/audit.ts'
import type { HttpConfig, Scope } from './config.ts'

export type Access = Scope | 'open'

/** Who made a request, once the hook has run. */
export interface Principal {
  actor: string
  actorType: 'token' | 'anonymous'
  scopes: ReadonlySet<Scope>
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What the route needs (default: read for GET/HEAD, operate otherwise). */
    access?: Access
  }
  interface FastifyRequest {
    principal?: Principal
  }
}

export interface HttpAuth {
  /** Tokens are configured (else every route is open). */
  readonly enabled: boolean
  /** Register the hook on an app (before its routes). */
  install(app: FastifyInstance): void
  /** Every route registered after `install`, with what it needs (docs/security.md's table, the tests' matrix). */
  routes(): { method: string; url: string; access: Access | 'http.metrics' | 'http.healthz' }[]
  /** New tokens, access settings and limits (SIGHUP, `POST /api/reload`); the failure counts are kept. */
  reload(cfg: HttpConfig): void
}

export interface HttpAuthDeps {
  audit: Audit
  /** A refusal, by reason (a metric). */
  onRefused?(reason: 'no_token' | 'bad_token' | 'missing_scope' | 'too_many_auth_failures'): void
  now?: () => number
}

const ALL: ReadonlySet<Scope> = new Set(['read', 'operate', 'admin'])
const OPEN: Principal = { actor: 'anonymous', actorType: 'anonymous', scopes: ALL }
const ANONYMOUS: Principal = { actor: 'anonymous', actorType: 'anonymous', scopes: new Set() }
/** Addresses whose failures are tracked at once; the oldest is forgotten past it. */
const MAX_TRACKED = 10_000

/** The hex SHA-256 of a token, as `http.tokens[].sha256` holds it. */
export const tokenHash = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex')

/** A new token: 32 random bytes, base64url (43 characters), and its hash for the configuration. */
export function newToken(): { token: string; sha256: string } {
  const token = randomBytes(32).toString('base64url')
  return { token, sha256: tokenHash(token) }
}

/** The peer as the audit log writes it: `ip:port`, `[v6]:port`. */
export function peerOf(req: FastifyRequest): string {
  const ip = req.ip
  const port = req.socket.remotePort
  if (port === undefined) return ip
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`
}

/** Who made a request, for an audit record (`anonymous` when no token was needed or given). */
export function who(req: FastifyRequest): Pick<AuditRecord, 'actor' | 'actorType' | 'address'> {
  const p = req.principal ?? ANONYMOUS
  return { actor: p.actor, actorType: p.actorType, address: peerOf(req) }
}

/** The bearer token of a request (RFC 6750 section 2.1: `Authorization: Bearer <token>`, scheme case-insensitive). */
function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization
  if (typeof h !== 'string') return undefined
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(h)
  return m?.[1]
}

export function createHttpAuth(initial: HttpConfig, deps: HttpAuthDeps): HttpAuth {
  const now = deps.now ?? Date.now
  let cfg = initial
  let tokens: { name: string; hash: Buffer; scopes: ReadonlySet<Scope> }[] = []
  const failures = new Map<string, { n: number; since: number; blockedUntil: number }>()

  function load(c: HttpConfig): void {
    cfg = c
    tokens = c.tokens.map((t) => ({ name: t.name, hash: Buffer.from(t.sha256, 'hex'), scopes: new Set(t.scopes) }))
  }
  load(initial)

  /** The configured token the presented one hashes to, compared with every hash in constant time. */
  function lookup(token: string): Principal | undefined {
    const h = createHash('sha256').update(token, 'utf8').digest()
    let found: (typeof tokens)[number] | undefined
    for (const t of tokens) if (timingSafeEqual(h, t.hash) && !found) found = t
    return found ? { actor: found.name, actorType: 'token', scopes: found.scopes } : undefined
  }

  /** What a route needs: its own `access`, else read for GET/HEAD and operate for the rest. */
  const defaultAccess = (method: string, given: Access | undefined): Access => given ?? (method === 'GET' || method === 'HEAD' ? 'read' : 'operate')
  const routes: ReturnType<HttpAuth['routes']> = []

  function accessOf(req: FastifyRequest): Access {
    const url = req.routeOptions.url
    if (url === '/metrics') return cfg.metrics
    if (url === '/healthz') return cfg.healthz
    return defaultAccess(req.method, req.routeOptions.config?.access)
  }

  const target = (req: FastifyRequest) => `${req.method} ${req.url.split('?')[0]}`

  /** A failed authentication: counted, audited, and maybe the start of the address's block. */
  function failed(req: FastifyRequest, reason: 'no_token' | 'bad_token'): void {
    const t = now()
    const ip = req.ip
    let f = failures.get(ip)
    if (!f || t - f.since > cfg.authFailures.windowSec * 1000) {
      failures.delete(ip)
      if (failures.size >= MAX_TRACKED) failures.delete(failures.keys().next().value!)
      f = { n: 0, since: t, blockedUntil: 0 }
      failures.set(ip, f)
    }
    f.n++
    deps.onRefused?.(reason)
    deps.audit.record({ actor: 'anonymous', actorType: 'anonymous', action: 'http.auth', target: target(req), address: peerOf(req), outcome: 'denied', reason })
    if (f.n >= cfg.authFailures.max) {
      f.blockedUntil = t + cfg.authFailures.windowSec * 1000
      deps.audit.record({
        actor: 'anonymous',
        actorType: 'anonymous',
        action: 'http.auth',
        target: target(req),
        address: peerOf(req),
        outcome: 'denied',
        reason: 'too_many_auth_failures',
        detail: `${f.n} failed authentications within ${cfg.authFailures.windowSec} s: refused for ${cfg.authFailures.windowSec} s`,
      })
    }
  }

  function refuse(reply: FastifyReply, status: 401 | 403, error: string, message: string, challenge: string): FastifyReply {
    return reply.code(status).header('www-authenticate', challenge).send({ error, message })
  }

  // fastify's async hooks answer early by sending and returning the reply (Hooks docs, "Respond to a request from a hook").
  async function hook(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    if (tokens.length === 0) {
      req.principal = OPEN
      return undefined
    }
    const access = accessOf(req)
    const token = bearer(req)
    if (access === 'open') {
      // An open route still knows a valid token (/healthz gives it the components); a wrong one is not a failure here.
      req.principal = (token && lookup(token)) || ANONYMOUS
      return undefined
    }
    const f = failures.get(req.ip)
    const t = now()
    if (f && f.blockedUntil > t) {
      deps.onRefused?.('too_many_auth_failures')
      return reply
        .code(429)
        .header('retry-after', String(Math.max(1, Math.ceil((f.blockedUntil - t) / 1000))))
        .send({ error: 'too_many_auth_failures', message: 'too many failed authentications from this address; try again later' })
    }
    if (token === undefined) {
      failed(req, 'no_token')
      return refuse(reply, 401, 'no_token', 'this route needs a bearer token (Authorization: Bearer <token>)', 'Bearer realm="smartcity"')
    }
    const p = lookup(token)
    if (!p) {
      failed(req, 'bad_token')
      return refuse(reply, 401, 'bad_token', 'the bearer token is not valid', 'Bearer realm="smartcity", error="invalid_token"')
    }
    req.principal = p
    if (!p.scopes.has(access)) {
      deps.onRefused?.('missing_scope')
      deps.audit.record({ actor: p.actor, actorType: 'token', action: 'http.auth', target: target(req), address: peerOf(req), outcome: 'denied', reason: 'missing_scope', detail: `needs ${access}` })
      return refuse(reply, 403, 'missing_scope', `this route needs the ${access} scope`, `Bearer realm="smartcity", error="insufficient_scope", scope="${access}"`)
    }
    return undefined
  }

  return {
    get enabled() {
      return tokens.length > 0
    },
    install(app) {
      app.addHook('onRequest', hook)
      app.addHook('onRoute', (r) => {
        const given = (r.config as { access?: Access } | undefined)?.access
        for (const method of [r.method].flat()) {
          if (method === 'HEAD') continue
          routes.push({ method, url: r.url, access: r.url === '/metrics' ? 'http.metrics' : r.url === '/healthz' ? 'http.healthz' : defaultAccess(method, given) })
        }
      })
    },
    routes: () => [...routes],
    reload: load,
  }
}
