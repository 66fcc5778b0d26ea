import Fastify from 'fastify'
import { afterAll, describe, expect, it } from 'vitest'
import { registerAlarmRoutes } from '../../../gateway/alarms/http.ts'
import { createAlarmStore } from '../../../gateway/alarms/store.ts'

describe('/api/alarms', () => {
  const store = createAlarmStore()
  const app = Fastify()
  registerAlarmRoutes(app, store, () => 42)
  afterAll(() => app.close())
  store.raise({ rule: 'ph_out_of_range', severity: 'warning', active: true, device: 'wq-1', district: 'd', message: 'pH 5', value: 5, time: 10 })
  store.raise({ rule: 'elevator_trapped', severity: 'critical', active: true, device: 'lift-2', district: 'd', message: 'trapped', time: 20 })

  it('lists active alarms, most severe first', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/alarms' })
    expect(res.statusCode).toBe(200)
    expect(res.json().alarms.map((a: { id: string }) => a.id)).toEqual(['elevator_trapped/lift-2', 'ph_out_of_range/wq-1'])
  })
  it('acknowledges by id in the path or the body; 404 for an unknown alarm; 400 for a bad body', async () => {
    const a = await app.inject({ method: 'POST', url: `/api/alarms/${encodeURIComponent('ph_out_of_range/wq-1')}/ack`, payload: { by: 'op' } })
    expect(a.statusCode).toBe(200)
    expect(a.json()).toMatchObject({ ok: true, alarm: { acknowledged: true, ackBy: 'op', ackAt: 42 } })
    const b = await app.inject({ method: 'POST', url: '/api/alarms/ack', payload: { id: 'elevator_trapped/lift-2', note: 'rescue team on site' } })
    expect(b.json()).toMatchObject({ ok: true, alarm: { acknowledged: true, ackNote: 'rescue team on site' } })
    const c = await app.inject({ method: 'POST', url: '/api/alarms/ack', payload: { id: 'nope/x' } })
    expect(c.statusCode).toBe(404)
    expect(c.json().error.code).toBe('ALARM_NOT_FOUND')
    const d = await app.inject({ method: 'POST', url: '/api/alarms/ack', payload: { id: 'x', extra: 1 } })
    expect(d.statusCode).toBe(400)
    const list = await app.inject({ method: 'GET', url: '/api/alarms' })
    expect(list.json().alarms.every((x: { acknowledged: boolean }) => x.acknowledged)).toBe(true)
  })
})
