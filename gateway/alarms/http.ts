/**
 * `/api/alarms` on the gateway's HTTP app (registered through `buildApp`'s `extend`):
 *   GET  /api/alarms                 active alarms, most severe first: `{ alarms: ActiveAlarm[] }`       (read)
 *   POST /api/alarms/:id/ack         acknowledge one (`id` is `<rule>/<device>`, URL-encoded);          (operate)
 *                                    body `{ "by"?: string, "note"?: string }`; 404 `ALARM_NOT_FOUND`;
 *                                    `by` defaults to the token's name
 *   POST /api/alarms/ack             the same with `{ "id": string, "by"?, "note"? }` in the body       (operate)
 * Every acknowledgement (and every attempt that fails) is audited as `alarm.ack`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { type Audit, noAudit } from '../core/audit.ts'
import { who } from '../http/auth.ts'
import { AckRequest, type AlarmStore } from './store.ts'

const AckWithId = AckRequest.extend({ id: z.string().min(1) })

export function registerAlarmRoutes(app: FastifyInstance, store: AlarmStore, now: () => number, audit: Audit = noAudit): void {
  const ack = (req: FastifyRequest, reply: FastifyReply, id: string, body: AckRequest) => {
    const p = req.principal
    const by = body.by ?? (p?.actorType === 'token' ? p.actor : undefined)
    const r = store.acknowledge(id, by === undefined ? body : { ...body, by }, now())
    const detail = [by !== undefined ? `by ${by}` : '', body.note !== undefined ? `note: ${body.note}` : ''].filter(Boolean).join('; ')
    audit.record({ ...who(req), action: 'alarm.ack', target: id, outcome: r.ok ? 'ok' : 'failed', ...(r.ok ? {} : { reason: r.code }), ...(detail ? { detail } : {}) })
    if (!r.ok) return reply.code(404).send({ error: r.code, message: r.message })
    return reply.send({ ok: true, alarm: r.alarm })
  }
  app.get('/api/alarms', async () => ({ alarms: store.listActive() }))
  app.post<{ Params: { id: string } }>('/api/alarms/:id/ack', { config: { access: 'operate' } }, async (req, reply) => {
    const id = decodeURIComponent(req.params.id)
    const body = AckRequest.safeParse(req.body ?? {})
    if (!body.success) {
      audit.record({ ...who(req), action: 'alarm.ack', target: id, outcome: 'failed', reason: 'bad_request' })
      return reply.code(400).send({ error: 'bad_request', message: z.prettifyError(body.error) })
    }
    return ack(req, reply, id, body.data)
  })
  app.post('/api/alarms/ack', { config: { access: 'operate' } }, async (req, reply) => {
    const body = AckWithId.safeParse(req.body)
    if (!body.success) {
      audit.record({ ...who(req), action: 'alarm.ack', outcome: 'failed', reason: 'bad_request' })
      return reply.code(400).send({ error: 'bad_request', message: z.prettifyError(body.error) })
    }
    const { id, ...rest } = body.data
    return ack(req, reply, id, rest)
  })
}
