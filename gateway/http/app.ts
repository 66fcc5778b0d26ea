/**
 * The HTTP API, built without listening (fastify testing guide: `app.inject`); `main` listens.
 *   GET /healthz        200 when every component serves (ok or degraded), else 503; per-component status
 *   GET /metrics        Prometheus text
 *   GET /api/devices    the inventory and discovered devices with presence and counters
 *   POST /api/devices/:id/write   write a field or address through the device's source
 */
import Fastify, { type FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { Registry as PromRegistry } from 'prom-client'
import type { ComponentHealth, DeviceState, WriteOutcome, WriteRequest } from '../core/types.ts'

export interface HttpDeps {
  health(): Promise<Record<string, ComponentHealth>>
  metrics: PromRegistry
  /** Refresh gauges that are read, not pushed (spool depth). */
  beforeMetrics?(): void
  devices(): DeviceState[]
  write(device: string, req: WriteRequest): Promise<WriteOutcome | undefined>
  /** Extra routes (alarms, dashboard) registered by other parts of the gateway. */
  extend?(app: FastifyInstance): void
}

const WriteBody = z.union([
  z.strictObject({ field: z.string().min(1), value: z.union([z.number(), z.boolean()]) }),
  z.strictObject({ address: z.number().int().min(0).max(65_535), value: z.union([z.number(), z.boolean()]) }),
])

export function buildApp(deps: HttpDeps): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 })

  app.get('/healthz', async (_req, reply) => {
    const components = await deps.health()
    const down = Object.values(components).some((c) => c.status === 'down')
    return reply.code(down ? 503 : 200).send({ status: down ? 'down' : 'ok', components })
  })

  app.get('/metrics', async (_req, reply) => {
    deps.beforeMetrics?.()
    return reply.header('content-type', deps.metrics.contentType).send(await deps.metrics.metrics())
  })

  app.get('/api/devices', async () => ({ devices: deps.devices() }))

  app.post<{ Params: { id: string } }>('/api/devices/:id/write', async (req, reply) => {
    const body = WriteBody.safeParse(req.body)
    if (!body.success) return reply.code(400).send({ error: 'bad_request', message: z.prettifyError(body.error) })
    const out = await deps.write(req.params.id, body.data)
    if (!out) return reply.code(404).send({ error: 'unknown_device', message: `no source can write to device ${req.params.id}` })
    if (!out.ok) return reply.code(out.code === 'unknown_device' ? 404 : 422).send({ error: out.code, message: out.message })
    return reply.send({ ok: true, ...(out.detail ? { detail: out.detail } : {}) })
  })

  deps.extend?.(app)
  return app
}
