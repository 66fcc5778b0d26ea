/**
 * The alarm workflow on the gateway's HTTP app (registered through `buildApp`'s `extend`;
 * docs/dashboard-api.md has the requests and answers):
 *   GET  /api/alarms                 listed alarms, most severe first: `{ alarms: ActiveAlarm[] }`       (read)
 *   POST /api/alarms/:id/ack         `{note?}` acknowledge (`id` is `<rule>/<device>`, URL-encoded)     (operate)
 *   POST /api/alarms/:id/shelve      `{minutes, note?}` shelve until now + minutes                      (operate)
 *   POST /api/alarms/:id/unshelve    `{note?}`                                                         (operate)
 *   POST /api/alarms/:id/clear       `{note?}` an operator's clear (a rule still tripping raises again) (operate)
 *   POST /api/alarms/ack             `{id, note?}` (the first form, kept for older clients)              (operate)
 * Who acted is the token's name (`req.principal.actor`); a body's `by` is accepted only where no tokens
 * are configured (open access), and refused (400) where they are. Answers `{ok: true, alarm}` or
 * `{error: {code, message}}`: 400 `bad_request`, 404 `ALARM_NOT_FOUND`, 409 `ALARM_ALREADY_ACKNOWLEDGED` /
 * `ALARM_NOT_SHELVED` (403 for a missing scope comes from gateway/http/auth.ts, in its own shape).
 * Every attempt is audited: `alarm.ack`, `alarm.shelve`, `alarm.unshelve`, `alarm.clear`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { type Audit, noAudit } from '../core/audit.ts'
import { who } from '../http/auth.ts'
import { ActionRequest, AckRequest, type AckResult, type AlarmStore, ShelveRequest } from './store.ts'

type Verb = 'ack' | 'shelve' | 'unshelve' | 'clear'

const STATUS: Record<string, number> = { ALARM_NOT_FOUND: 404, ALARM_ALREADY_ACKNOWLEDGED: 409, ALARM_NOT_SHELVED: 409 }

const send = (reply: FastifyReply, status: number, code: string, message: string) => reply.code(status).send({ error: { code, message } })

export function registerAlarmRoutes(app: FastifyInstance, store: AlarmStore, now: () => number, audit: Audit = noAudit): void {
  const schemas: Record<Verb, z.ZodType<{ by?: string | undefined; note?: string | undefined; minutes?: number }>> = { ack: AckRequest, shelve: ShelveRequest, unshelve: ActionRequest, clear: ActionRequest }

  function act(req: FastifyRequest, reply: FastifyReply, verb: Verb, id: string, raw: unknown) {
    const fail = (status: number, code: string, message: string, detail?: string) => {
      audit.record({ ...who(req), action: `alarm.${verb}`, target: id, outcome: 'failed', reason: code, ...(detail ? { detail } : {}) })
      return send(reply, status, code, message)
    }
    const body = schemas[verb].safeParse(raw ?? {})
    if (!body.success) return fail(400, 'bad_request', z.prettifyError(body.error))
    const p = req.principal
    const byToken = p?.actorType === 'token'
    if (byToken && body.data.by !== undefined) return fail(400, 'bad_request', 'by: not accepted when tokens are configured; the token says who you are')
    const by = byToken ? p.actor : (body.data.by ?? 'anonymous')
    const r: AckResult =
      verb === 'ack'
        ? store.acknowledge(id, { ...body.data, by }, now())
        : verb === 'shelve'
          ? store.shelve(id, { ...(body.data as ShelveRequest), by }, now())
          : verb === 'unshelve'
            ? store.unshelve(id, { ...body.data, by }, now())
            : store.clearByOperator(id, { ...body.data, by }, now())
    const detail = [`by ${by}`, body.data.minutes !== undefined ? `for ${body.data.minutes} min` : '', body.data.note ? `note: ${body.data.note}` : ''].filter(Boolean).join('; ')
    if (!r.ok) return fail(STATUS[r.code] ?? 409, r.code, r.message, detail)
    audit.record({ ...who(req), action: `alarm.${verb}`, target: id, outcome: 'ok', detail })
    return reply.send({ ok: true, alarm: r.alarm })
  }

  app.get('/api/alarms', async () => ({ alarms: store.listActive() }))
  for (const verb of ['ack', 'shelve', 'unshelve', 'clear'] as const) {
    // fastify decodes the parameter (`%2F` in the id is a `/`).
    app.post<{ Params: { id: string } }>(`/api/alarms/:id/${verb}`, { config: { access: 'operate' } }, async (req, reply) => act(req, reply, verb, req.params.id, req.body))
  }
  app.post('/api/alarms/ack', { config: { access: 'operate' } }, async (req, reply) => {
    const b = req.body
    const id = b !== null && typeof b === 'object' && 'id' in b && typeof b.id === 'string' && b.id !== '' ? b.id : undefined
    if (id === undefined) {
      audit.record({ ...who(req), action: 'alarm.ack', outcome: 'failed', reason: 'bad_request' })
      return send(reply, 400, 'bad_request', 'id: a string (the alarm id, <rule>/<device>)')
    }
    const { id: _id, ...rest } = b as Record<string, unknown>
    return act(req, reply, 'ack', id, rest)
  })
}
