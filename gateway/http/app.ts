/**
 * The HTTP API, built without listening (fastify testing guide: `app.inject`); `main` listens.
 *   GET /healthz        200 when every component serves (ok or degraded), else 503; per-component status
 *                       (to a read token when tokens are configured; `http.healthz: open` gives others the status)
 *   GET /metrics        Prometheus text (`http.metrics`: a read token, or open); `?name=` only those families
 *   GET /api/devices    the inventory and discovered devices with presence and counters       (read)
 *   POST /api/devices/:id/write   write a field or address through the device's source         (operate)
 *   POST /api/reload    re-read the configuration and apply it (`HttpDeps.reload`)             (admin)
 * Tokens and scopes: gateway/http/auth.ts. Device writes and reloads are audited (`device.write`,
 * `config.reload`) with the token's name, the address and the outcome.
 */
import Fastify, { type FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { Registry as PromRegistry } from 'prom-client'
import { type Audit, type AuditRecord, noAudit } from '../core/audit.ts'
import type { ComponentHealth, DeviceState, WriteOutcome, WriteRequest } from '../core/types.ts'
import { type HttpAuth, who } from './auth.ts'

/** What a reload gave: applied, or refused with the new file's problems (the old configuration keeps running). */
export type ReloadResult = { ok: true; detail?: string } | { ok: false; problems: string[] }

/** PEM contents for HTTPS (`http.tls`). */
export interface HttpsFiles {
  cert: Buffer
  key: Buffer
  ca?: Buffer
}

export interface HttpDeps {
  health(): Promise<Record<string, ComponentHealth>>
  metrics: PromRegistry
  /** Refresh gauges that are read, not pushed (spool depth). */
  beforeMetrics?(): void
  devices(): DeviceState[]
  write(device: string, req: WriteRequest): Promise<WriteOutcome | undefined>
  /** Extra routes (alarms, dashboard) registered by other parts of the gateway. */
  extend?(app: FastifyInstance): void
  /** Bearer tokens and scopes; absent: every route open (tests of other parts). */
  auth?: HttpAuth
  audit?: Audit
  /**
   * `POST /api/reload`: re-read the configuration file and apply it (the gateway's life cycle provides it);
   * absent, the route answers 501.
   */
  reload?(by: Pick<AuditRecord, 'actor' | 'actorType' | 'address'>): Promise<ReloadResult>
  /** Serve HTTPS with these. */
  https?: HttpsFiles
}

/** A Prometheus metric family name. */
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]{0,199}$/

const WriteBody = z.union([
  z.strictObject({ field: z.string().min(1), value: z.union([z.number(), z.boolean()]) }),
  z.strictObject({ address: z.number().int().min(0).max(65_535), value: z.union([z.number(), z.boolean()]) }),
])

export function buildApp(deps: HttpDeps): FastifyInstance {
  const audit = deps.audit ?? noAudit
  // With `https` fastify types the instance over https.Server; the routes and hooks are the same, so the
  // gateway keeps one FastifyInstance type (fastify docs, TypeScript: "HTTPS").
  const app = (deps.https ? Fastify({ logger: false, bodyLimit: 64 * 1024, https: deps.https }) : Fastify({ logger: false, bodyLimit: 64 * 1024 })) as unknown as FastifyInstance
  deps.auth?.install(app)

  app.get('/healthz', async (req, reply) => {
    const components = await deps.health()
    const down = Object.values(components).some((c) => c.status === 'down')
    // Open to probes: the status for anyone, what each component says only for a read token.
    const detailed = !deps.auth?.enabled || req.principal?.scopes.has('read') === true
    return reply.code(down ? 503 : 200).send(detailed ? { status: down ? 'down' : 'ok', components } : { status: down ? 'down' : 'ok' })
  })

  // `?name=<family>` (repeatable): only those families, for a watcher that wants one counter of a gateway
  // whose whole text (a series per device) is megabytes; a name the gateway does not have gives nothing.
  app.get<{ Querystring: { name?: string | string[] } }>('/metrics', async (req, reply) => {
    const names = req.query.name === undefined ? undefined : ([] as string[]).concat(req.query.name)
    const bad = names?.find((n) => !METRIC_NAME.test(n))
    if (bad !== undefined) return reply.code(400).send({ error: 'bad_metric_name', message: `not a metric name: ${JSON.stringify(bad.slice(0, 100))}` })
    deps.beforeMetrics?.()
    reply.header('content-type', deps.metrics.contentType)
    if (!names) return reply.send(await deps.metrics.metrics())
    const known = [...new Set(names)].filter((n) => deps.metrics.getSingleMetric(n) !== undefined)
    const texts = await Promise.all(known.map((n) => deps.metrics.getSingleMetricAsString(n)))
    return reply.send(texts.length > 0 ? `${texts.join('\n\n')}\n` : '')
  })

  app.get('/api/devices', async () => ({ devices: deps.devices() }))

  app.post<{ Params: { id: string } }>('/api/devices/:id/write', { config: { access: 'operate' } }, async (req, reply) => {
    const device = req.params.id
    const record = (outcome: 'ok' | 'failed', detail: string, reason?: string) =>
      audit.record({ ...who(req), action: 'device.write', target: device, outcome, detail, ...(reason ? { reason } : {}) })
    const body = WriteBody.safeParse(req.body)
    if (!body.success) {
      record('failed', 'the body is not {field|address, value}', 'bad_request')
      return reply.code(400).send({ error: 'bad_request', message: z.prettifyError(body.error) })
    }
    const what = `${'field' in body.data ? `field ${body.data.field}` : `address ${body.data.address}`} = ${body.data.value}`
    const out = await deps.write(device, body.data)
    if (!out) {
      record('failed', what, 'unknown_device')
      return reply.code(404).send({ error: 'unknown_device', message: `no source can write to device ${device}` })
    }
    if (!out.ok) {
      record('failed', `${what}: ${out.message}`, out.code)
      return reply.code(out.code === 'unknown_device' ? 404 : 422).send({ error: out.code, message: out.message })
    }
    record('ok', out.detail ? `${what}: ${out.detail}` : what)
    return reply.send({ ok: true, ...(out.detail ? { detail: out.detail } : {}) })
  })

  app.post('/api/reload', { config: { access: 'admin' } }, async (req, reply) => {
    if (!deps.reload) return reply.code(501).send({ error: 'reload_unavailable', message: 'this gateway cannot reload its configuration (no configuration file)' })
    let r: ReloadResult
    try {
      r = await deps.reload(who(req))
    } catch (err) {
      r = { ok: false, problems: [(err as Error).message] }
    }
    if (!r.ok) {
      audit.record({ ...who(req), action: 'config.reload', outcome: 'failed', reason: 'config_invalid', detail: r.problems.slice(0, 5).join('; ') })
      return reply.code(422).send({ error: 'config_invalid', message: 'the new configuration was refused; the old one keeps running', problems: r.problems })
    }
    audit.record({ ...who(req), action: 'config.reload', outcome: 'ok', ...(r.detail ? { detail: r.detail } : {}) })
    return reply.send({ ok: true, ...(r.detail ? { detail: r.detail } : {}) })
  })

  deps.extend?.(app)
  return app
}
