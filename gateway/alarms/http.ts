/**
 * `/api/alarms` on the gateway's HTTP app (registered through `buildApp`'s `extend`):
 *   GET  /api/alarms                 active alarms, most severe first: `{ alarms: ActiveAlarm[] }`
 *   POST /api/alarms/:id/ack         acknowledge one (`id` is `<rule>/<device>`, URL-encoded);
 *                                    body `{ "by"?: string, "note"?: string }`; 404 `ALARM_NOT_FOUND`
 *   POST /api/alarms/ack             the same with `{ "id": string, "by"?, "note"? }` in the body
 */
import type { FastifyInstance, FastifyReply } from 'fastify'
import { z } from 'zod'
import { AckRequest, type AlarmStore } from './store.ts'

const AckWithId = AckRequest.extend({ id: z.string().min(1) })

export function registerAlarmRoutes(app: FastifyInstance, store: AlarmStore, now: () => number): void {
  const ack = (reply: FastifyReply, id: string, body: AckRequest) => {
    const r = store.acknowledge(id, body, now())
    if (!r.ok) return reply.code(404).send({ error: r.code, message: r.message })
    return reply.send({ ok: true, alarm: r.alarm })
  }
  app.get('/api/alarms', async () => ({ alarms: store.listActive() }))
  app.post<{ Params: { id: string } }>('/api/alarms/:id/ack', async (req, reply) => {
    const body = AckRequest.safeParse(req.body ?? {})
    if (!body.success) return reply.code(400).send({ error: 'bad_request', message: z.prettifyError(body.error) })
    return ack(reply, decodeURIComponent(req.params.id), body.data)
  })
  app.post('/api/alarms/ack', async (req, reply) => {
    const body = AckWithId.safeParse(req.body)
    if (!body.success) return reply.code(400).send({ error: 'bad_request', message: z.prettifyError(body.error) })
    const { id, ...rest } = body.data
    return ack(reply, id, rest)
  })
}
