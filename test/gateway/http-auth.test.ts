import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../gateway/config.ts'
import { readAuditRecords } from '../../gateway/core/audit-log.ts'
import type { Gateway } from '../../gateway/gateway.ts'
import type { ReloadResult } from '../../gateway/http/app.ts'
import { newToken } from '../../gateway/http/auth.ts'
import { HttpConfig } from '../../gateway/http/config.ts'
import { tempDir } from '../helpers/env.ts'
import { gatewayFrom, metricValue } from '../helpers/gateway.ts'

const reader = newToken()
const operator = newToken()
const admin = newToken()
const tokens = [
  { name: 'wall-display', sha256: reader.sha256, scopes: ['read' as const] },
  { name: 'ops-desk', sha256: operator.sha256, scopes: ['read' as const, 'operate' as const] },
  { name: 'deploy-bot', sha256: admin.sha256, scopes: ['admin' as const] },
]
const bearer = (t: string) => ({ authorization: `Bearer ${t}` })

/** A request's status (and headers), the body left unread: /api/live is an endless stream. */
async function status(url: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; body?: unknown }> {
  const ac = new AbortController()
  const res = await fetch(url, { ...init, signal: ac.signal })
  const isJson = res.headers.get('content-type')?.startsWith('application/json')
  const body = isJson ? await res.json() : undefined
  ac.abort()
  return { status: res.status, headers: res.headers, body }
}

describe('HTTP API tokens and scopes', () => {
  const tmp = tempDir()
  let gw: Gateway
  let base: string
  let reloads: ReloadResult[] = []
  beforeAll(async () => {
    gw = gatewayFrom(
      { dataDir: join(tmp.dir, 'gw'), http: { port: 0, tokens, authFailures: { max: 1000, windowSec: 60 } } },
      { mqttPort: 0 },
      { reload: async () => reloads.shift() ?? { ok: true, detail: 'nothing changed' } },
    )
    await gw.start()
    base = gw.endpoints().http!
  })
  afterAll(async () => {
    await gw?.stop()
    tmp.cleanup()
  })

  it('every route needs its scope: 401 without a token, 403 without the scope (write routes need operate, reload admin)', async () => {
    const routes = gw.httpAuth.routes()
    // The routes the issue names are there, with the scope it gives them; any route added later is in the list too.
    const byKey = Object.fromEntries(routes.map((r) => [`${r.method} ${r.url}`, r.access]))
    expect(byKey).toMatchObject({
      'POST /api/devices/:id/write': 'operate',
      'POST /api/alarms/:id/ack': 'operate',
      'POST /api/alarms/ack': 'operate',
      'POST /api/reload': 'admin',
      'GET /api/devices': 'read',
      'GET /api/alarms': 'read',
      'GET /api/live': 'read',
      'GET /': 'open',
      'GET /metrics': 'http.metrics',
      'GET /healthz': 'http.healthz',
    })
    const writes = routes.filter((r) => r.method !== 'GET')
    expect(writes.length).toBeGreaterThanOrEqual(4)
    for (const r of routes) {
      const url = `${base}${r.url.replace(/:id/g, 'x')}`
      const init = (t?: string): RequestInit => ({
        method: r.method,
        headers: { ...(t ? bearer(t) : {}), ...(r.method === 'GET' ? {} : { 'content-type': 'application/json' }) },
        ...(r.method === 'GET' ? {} : { body: '{}' }),
      })
      const what = `${r.method} ${r.url}`
      if (r.access === 'open' || r.access === 'http.healthz') {
        expect((await status(url, init())).status, what).toBeLessThan(400)
        continue
      }
      const anon = await status(url, init())
      expect(anon.status, what).toBe(401)
      expect(anon.headers.get('www-authenticate'), what).toBe('Bearer realm="smartcity"')
      const need = r.access === 'http.metrics' ? 'read' : r.access
      for (const [name, t, scopes] of [
        ['read', reader.token, ['read']],
        ['read+operate', operator.token, ['read', 'operate']],
        ['admin', admin.token, ['admin']],
      ] as const) {
        const got = await status(url, init(t))
        if ((scopes as readonly string[]).includes(need)) expect([401, 403], `${what} with ${name}`).not.toContain(got.status)
        else {
          expect(got.status, `${what} with ${name}`).toBe(403)
          expect(got.body, what).toMatchObject({ error: 'missing_scope' })
          expect(got.headers.get('www-authenticate'), what).toContain(`error="insufficient_scope", scope="${need}"`)
        }
      }
    }
  })

  it('an unknown URL needs a read token too (no route map for strangers)', async () => {
    expect((await status(`${base}/api/nope`)).status).toBe(401)
    expect((await status(`${base}/api/nope`, { method: 'POST' })).status).toBe(401)
    expect((await status(`${base}/api/nope`, { headers: bearer(reader.token) })).status).toBe(404)
  })

  it('a wrong token is 401 invalid_token; refusals are counted by reason', async () => {
    const r = await status(`${base}/api/devices`, { headers: bearer('not-a-token') })
    expect(r.status).toBe(401)
    expect(r.body).toMatchObject({ error: 'bad_token' })
    expect(r.headers.get('www-authenticate')).toBe('Bearer realm="smartcity", error="invalid_token"')
    // A token hashes to a configured hash only when it is that token: its hash itself is no token.
    expect((await status(`${base}/api/devices`, { headers: bearer(reader.sha256) })).status).toBe(401)
    // Any case of the scheme (RFC 6750 follows RFC 7235: case-insensitive).
    expect((await status(`${base}/api/devices`, { headers: { authorization: `bearer ${reader.token}` } })).status).toBe(200)
    expect(await metricValue(gw, 'smartcity_http_auth_failures_total', { reason: 'bad_token' })).toBeGreaterThanOrEqual(2)
    expect(await metricValue(gw, 'smartcity_http_auth_failures_total', { reason: 'missing_scope' })).toBeGreaterThan(0)
  })

  it('/healthz is open with the status only; a read token gets the components; /metrics needs read', async () => {
    const open = await status(`${base}/healthz`)
    expect(open.status).toBe(200)
    expect(open.body).toEqual({ status: 'ok' })
    const full = await status(`${base}/healthz`, { headers: bearer(reader.token) })
    expect(full.body).toMatchObject({ status: 'ok', components: { broker: { status: 'ok' }, audit: { status: 'ok', detail: join(tmp.dir, 'gw', 'audit') } } })
    expect((await status(`${base}/metrics`)).status).toBe(401)
    const m = await fetch(`${base}/metrics`, { headers: bearer(reader.token) })
    expect(await m.text()).toContain('smartcity_http_auth_failures_total')
  })

  it('POST /api/reload runs the gateway reload for an admin token and says why a new file was refused', async () => {
    const ok = await status(`${base}/api/reload`, { method: 'POST', headers: bearer(admin.token) })
    expect(ok).toMatchObject({ status: 200, body: { ok: true, detail: 'nothing changed' } })
    reloads = [{ ok: false, problems: ['gateway.yaml:3: sources[0].type: unknown source type'] }]
    const bad = await status(`${base}/api/reload`, { method: 'POST', headers: bearer(admin.token) })
    expect(bad).toMatchObject({ status: 422, body: { error: 'config_invalid', problems: ['gateway.yaml:3: sources[0].type: unknown source type'] } })
  })

  it('audits writes, acknowledgements, reloads and refusals with the token name, the address and the outcome', async () => {
    gw.alarms.raise({ rule: 'ph_out_of_range', severity: 'warning', active: true, device: 'wq-1', district: 'd', message: 'pH 5', value: 5, time: 1 })
    const ack = await status(`${base}/api/alarms/${encodeURIComponent('ph_out_of_range/wq-1')}/ack`, { method: 'POST', headers: { ...bearer(operator.token), 'content-type': 'application/json' }, body: '{"note":"crew sent"}' })
    expect(ack).toMatchObject({ status: 200, body: { alarm: { acknowledged: true, ackBy: 'ops-desk', ackNote: 'crew sent' } } })
    const w = await status(`${base}/api/devices/em-9/write`, { method: 'POST', headers: { ...bearer(operator.token), 'content-type': 'application/json' }, body: '{"field":"relay","value":true}' })
    expect(w.status).toBe(404)
    const denied = await status(`${base}/api/devices/em-9/write`, { method: 'POST', headers: { ...bearer(reader.token), 'content-type': 'application/json' }, body: '{"field":"relay","value":true}' })
    expect(denied.status).toBe(403)
    gw.audit.record({ actor: 'marker', actorType: 'system', action: 'test.flush', outcome: 'ok' })
    await new Promise((r) => setTimeout(r, 50))
    const recs = readAuditRecords(join(tmp.dir, 'gw', 'audit'))
    expect(recs.find((r) => r.action === 'alarm.ack' && r.outcome === 'ok')).toMatchObject({ actor: 'ops-desk', actorType: 'token', target: 'ph_out_of_range/wq-1', outcome: 'ok', detail: 'by ops-desk; note: crew sent', address: expect.stringMatching(/^127\.0\.0\.1:\d+$/) })
    expect(recs.find((r) => r.action === 'device.write' && r.target === 'em-9')).toMatchObject({ target: 'em-9', outcome: 'failed', reason: 'unknown_device', detail: 'field relay = true' })
    expect(recs.find((r) => r.action === 'http.auth' && r.actor === 'wall-display' && r.target === 'POST /api/devices/em-9/write')).toMatchObject({ outcome: 'denied', reason: 'missing_scope', detail: 'needs operate' })
    expect(recs.find((r) => r.action === 'http.auth' && r.reason === 'bad_token')).toMatchObject({ actor: 'anonymous', actorType: 'anonymous', outcome: 'denied', target: 'GET /api/devices' })
    // (Two reloads that went well within a second are one record and a repeat count: find, not count.)
    expect(recs.find((r) => r.action === 'config.reload' && r.outcome === 'ok')).toMatchObject({ actor: 'deploy-bot', actorType: 'token', detail: 'nothing changed' })
    expect(recs.find((r) => r.action === 'config.reload' && r.outcome === 'failed')).toMatchObject({ actor: 'deploy-bot', reason: 'config_invalid', detail: 'gateway.yaml:3: sources[0].type: unknown source type' })
    // No token or hash ever reaches the log.
    const all = JSON.stringify(recs)
    for (const t of [reader, operator, admin]) {
      expect(all).not.toContain(t.token)
      expect(all).not.toContain(t.sha256)
    }
  })

  it('new tokens apply without a restart (httpAuth.reload)', async () => {
    const next = newToken()
    gw.httpAuth.reload(HttpConfig.parse({ tokens: [{ name: 'new-desk', sha256: next.sha256, scopes: ['read'] }] }))
    try {
      expect((await status(`${base}/api/devices`, { headers: bearer(next.token) })).status).toBe(200)
      expect((await status(`${base}/api/devices`, { headers: bearer(reader.token) })).status).toBe(401)
    } finally {
      gw.httpAuth.reload(HttpConfig.parse({ tokens, authFailures: { max: 1000, windowSec: 60 } }))
    }
  })
})

describe('failed authentication is limited per address', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())
  it('past authFailures.max failures: 429 with Retry-After for every request of the address, even with a good token; audited once', async () => {
    let t = Date.parse('2026-12-01T10:00:00Z')
    const gw = gatewayFrom({ dataDir: join(tmp.dir, 'gw'), http: { port: 0, tokens, authFailures: { max: 3, windowSec: 30 } } }, { mqttPort: 0 }, { now: () => t })
    await gw.start()
    try {
      const url = `${gw.endpoints().http}/api/devices`
      for (let i = 0; i < 3; i++) expect((await status(url, { headers: bearer(`guess-${i}`) })).status).toBe(401)
      const blocked = await status(url, { headers: bearer(reader.token) })
      expect(blocked.status).toBe(429)
      expect(blocked.headers.get('retry-after')).toBe('30')
      expect(blocked.body).toMatchObject({ error: 'too_many_auth_failures' })
      t += 10_000
      expect((await status(url)).headers.get('retry-after')).toBe('20')
      // Open routes stay open: a probe is not locked out by someone guessing.
      expect((await status(`${gw.endpoints().http}/healthz`)).status).toBe(200)
      t += 20_001
      expect((await status(url, { headers: bearer(reader.token) })).status).toBe(200)
      expect(await metricValue(gw, 'smartcity_http_auth_failures_total', { reason: 'too_many_auth_failures' })).toBe(2)
    } finally {
      await gw.stop()
    }
    const recs = readAuditRecords(join(tmp.dir, 'gw', 'audit'), { action: 'http.auth' })
    expect(recs.filter((r) => r.reason === 'too_many_auth_failures')).toHaveLength(1)
    // The three guesses within a second are one record and a repeat count (the log coalesces floods).
    expect(recs.filter((r) => r.reason === 'bad_token').reduce((n, r) => n + (r.repeated ?? 1), 0)).toBe(3)
  })
})

describe('audit: false', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())
  it('keeps no audit directory; the routes still answer', async () => {
    const gw = gatewayFrom({ dataDir: join(tmp.dir, 'gw'), audit: { enabled: false }, http: { port: 0, tokens } }, { mqttPort: 0 })
    await gw.start()
    try {
      expect((await status(`${gw.endpoints().http}/api/devices`)).status).toBe(401)
    } finally {
      await gw.stop()
    }
    expect(existsSync(join(tmp.dir, 'gw', 'audit'))).toBe(false)
  })
})

describe('http configuration', () => {
  it('refuses no tokens on a non-loopback host, a malformed hash and duplicate names; loopback without tokens is allowed', () => {
    const problems = (http: unknown) => {
      const r = parseConfig({ http })
      return r.ok ? [] : r.problems
    }
    expect(problems({ host: '0.0.0.0' })).toEqual([expect.stringMatching(/^http\.tokens: required when http\.host \(0\.0\.0\.0\) is not a loopback address/)])
    expect(problems({ host: '0.0.0.0', enabled: false })).toEqual([])
    expect(problems({ host: '127.0.0.1' })).toEqual([])
    expect(problems({ host: '::1' })).toEqual([])
    expect(problems({ host: '0.0.0.0', tokens: [tokens[0]] })).toEqual([])
    expect(problems({ tokens: [{ name: 'x', sha256: 'abc', scopes: ['read'] }] })).toEqual([expect.stringContaining('http.tokens[0].sha256: the SHA-256 of the token in hex')])
    expect(problems({ tokens: [{ name: 'x', sha256: reader.sha256, scopes: ['write'] }] })).toEqual([expect.stringContaining('http.tokens[0].scopes[0]: a scope: read, operate, admin')])
    expect(problems({ tokens: [tokens[0], { ...tokens[1], name: 'wall-display' }] })).toEqual([expect.stringContaining('http.tokens[1].name: duplicate token name wall-display')])
    expect(problems({ metrics: 'public' })).toEqual([expect.stringContaining('http.metrics: open or read')])
  })
})
