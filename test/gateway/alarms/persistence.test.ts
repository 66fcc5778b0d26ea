/**
 * The alarm list across restarts and operator clears, with the real rule processor and the store's file:
 * an acknowledged alarm loaded after a restart is cleared by its rule when the condition is gone (before,
 * a new processor started inactive and never cleared it); an operator's clear of a rule alarm whose
 * condition still holds is raised again after `forSec`; an unreadable file is kept aside, not fatal; a shelf
 * that ran out while the gateway was down ends on the first tick.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { Point } from '../../../devices/common/point.ts'
import type { AlarmEvent } from '../../../gateway/alarms/events.ts'
import { createAlarmProcessor } from '../../../gateway/alarms/processor.ts'
import { type AlarmStore, createAlarmStore } from '../../../gateway/alarms/store.ts'
import type { ProcessedBatch } from '../../../gateway/core/types.ts'
import { tempDir } from '../../helpers/env.ts'

const S = 1000
const RULE = { name: 'ph_out_of_range', measurement: 'water_quality', field: 'ph', outside: [6, 9], forSec: 10 }

function rig(store: AlarmStore) {
  let now = 0
  const proc = createAlarmProcessor({ rules: [RULE] as never }, { now: () => now, store })
  const points: Point[] = []
  return {
    points,
    send(t: number, ph: number) {
      now = t
      const b: ProcessedBatch = { source: 't', device: 'wq-1', kind: 'water_quality', protocol: 'mqtt', district: 'd', points: [{ measurement: 'water_quality', tags: {}, fields: { ph }, time: t }] }
      points.push(...(proc.process(b) ?? []))
    },
    tick(t: number) {
      now = t
      points.push(...(proc.tick!(t) ?? []))
    },
  }
}

describe('alarms across a restart and an operator clear', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())
  const file = join(tmp.dir, 'alarms.json')

  it('an acknowledged alarm loaded after a restart keeps its state while the condition holds and clears when it is gone', () => {
    const a = createAlarmStore({ file })
    const r1 = rig(a)
    r1.send(0, 4)
    r1.send(10 * S, 4.1)
    expect(a.listActive()).toMatchObject([{ id: 'ph_out_of_range/wq-1', state: 'active' }])
    expect(a.acknowledge('ph_out_of_range/wq-1', { by: 'ops-desk', note: 'crew sent' }, 11 * S).ok).toBe(true)
    a.flush()
    // Written by rename: no temporary file is left beside it.
    expect(readdirSync(tmp.dir)).toEqual(['alarms.json'])

    // The restart: a new store from the file, a new processor.
    const b = createAlarmStore({ file })
    const events: AlarmEvent[] = []
    b.onEvent((e) => events.push(e))
    expect(b.listActive()).toMatchObject([{ id: 'ph_out_of_range/wq-1', state: 'acknowledged', ackBy: 'ops-desk', ackNote: 'crew sent', since: 10 * S }])
    const r2 = rig(b)
    r2.send(100 * S, 4.2)
    r2.tick(120 * S)
    expect(b.listActive()).toMatchObject([{ state: 'acknowledged', since: 10 * S }])
    expect(events).toEqual([])
    r2.send(130 * S, 7)
    expect(b.listActive()).toEqual([])
    expect(events.map((e) => e.action)).toEqual(['clear'])
    expect(r2.points).toMatchObject([{ measurement: 'alarm', fields: { active: false, action: 'clear', state: 'cleared' }, time: 130 * S }])
  })

  it("an operator's clear of an alarm whose condition still holds: raised again (active) after forSec", () => {
    const store = createAlarmStore()
    const r = rig(store)
    r.send(0, 4)
    r.send(10 * S, 4)
    expect(store.listActive()).toHaveLength(1)
    expect(store.acknowledge('ph_out_of_range/wq-1', { by: 'x' }, 11 * S).ok).toBe(true)
    expect(store.clearByOperator('ph_out_of_range/wq-1', { by: 'x' }, 12 * S).ok).toBe(true)
    expect(store.listActive()).toEqual([])
    r.tick(13 * S)
    r.send(14 * S, 4)
    expect(store.listActive()).toEqual([])
    r.send(24 * S, 4)
    expect(store.listActive()).toMatchObject([{ id: 'ph_out_of_range/wq-1', state: 'active', acknowledged: false, since: 24 * S }])
    expect(r.points.map((p) => [p.fields['action'], p.time])).toEqual([
      ['raise', 10 * S],
      ['raise', 24 * S],
    ])
  })

  it('an unreadable file is kept aside and the store starts empty; a shelf that ran out while down ends on the first tick', () => {
    const bad = join(tmp.dir, 'bad.json')
    writeFileSync(bad, '{"version": 1, "alarms": [')
    const problems: string[] = []
    const s = createAlarmStore({ file: bad, onProblem: (what) => problems.push(what) })
    expect(s.listActive()).toEqual([])
    expect(problems).toEqual(['load'])
    expect(existsSync(bad)).toBe(false)
    expect(readdirSync(tmp.dir).some((f) => f.startsWith('bad.json.unreadable-'))).toBe(true)

    const f2 = join(tmp.dir, 'shelf.json')
    const a = createAlarmStore({ file: f2 })
    a.raise({ rule: 'r', severity: 'info', active: true, device: 'x', district: 'd', message: 'm', time: 0 })
    a.shelve('r/x', { minutes: 5, by: 'ops' }, 1 * S)
    expect(JSON.parse(readFileSync(f2, 'utf8')).alarms[0]).toMatchObject({ state: 'shelved', shelvedUntil: 1 * S + 300 * S })
    const b = createAlarmStore({ file: f2 })
    const events: AlarmEvent[] = []
    b.onEvent((e) => events.push(e))
    b.tick(1_000 * S)
    expect(events).toMatchObject([{ action: 'unshelve', id: 'r/x' }])
    expect(events[0]!.actor).toBeUndefined()
    expect(b.get('r/x')).toMatchObject({ state: 'active' })
    expect(b.get('r/x')!.shelvedUntil).toBeUndefined()
    expect(JSON.parse(readFileSync(f2, 'utf8')).alarms[0].state).toBe('active')
  })
})
