import { describe, expect, it } from 'vitest'
import type { Point } from '../../../devices/common/point.ts'
import { createAlarmStore } from '../../../gateway/alarms/store.ts'
import type { DeviceInfo, ProcessedBatch } from '../../../gateway/core/types.ts'
import { createElevatorProcessor } from '../../../gateway/processors/elevator.ts'

const status = (fields: Record<string, unknown>): Point => ({ measurement: 'elevator_status', tags: {}, fields: fields as Point['fields'], time: 0 })
const batch = (points: Point[], device = 'lift-1'): ProcessedBatch => ({
  source: 'mqtt',
  device,
  kind: 'elevator',
  protocol: 'mqtt',
  points,
  district: 'xian-gaoxin',
  site: 'tower-a',
})

describe('elevator processor', () => {
  it('writes start and clear elevator_event points, publishes alarms and keeps the alarm store', () => {
    let now = 0
    const published: { topic: string; payload: Record<string, unknown> }[] = []
    const store = createAlarmStore()
    const devices = new Map<string, DeviceInfo>([
      ['lift-1', { id: 'lift-1', kind: 'elevator', district: 'xian-gaoxin', options: { trappedAfterSec: 20, ratedSpeedMs: 2.5 }, configured: true }],
    ])
    const proc = createElevatorProcessor(
      {},
      {
        now: () => now,
        store,
        devices,
        publish: async (topic, payload) => {
          published.push({ topic, payload: JSON.parse(String(payload)) })
        },
      },
    )
    const base = { floor: 5, moving: false, in_leveling_zone: true, door_open: false, occupied: true, service_mode: 'normal', speed_m_s: 0 }
    expect(proc.process(batch([status(base)]))).toBeUndefined()
    // Speed 2.8 is below 2.5 x 1.15: the per-device rated speed is used (the 1.75 default would trip).
    expect(proc.process(batch([status({ ...base, moving: true, in_leveling_zone: false, speed_m_s: 2.8 })]))).toBeUndefined()
    now = 1000
    expect(proc.process(batch([status({ ...base, in_leveling_zone: false })]))).toBeUndefined()
    now = 22_000
    const start = proc.tick!(now)!
    expect(start).toEqual([
      {
        measurement: 'elevator_event',
        tags: { event: 'trapped', device: 'lift-1', kind: 'elevator', district: 'xian-gaoxin', protocol: 'mqtt', site: 'tower-a' },
        fields: { active: true, floor: 5, detail: expect.stringContaining('occupied car stopped') },
        time: 22_000,
      },
    ])
    expect(published).toMatchObject([{ topic: 'city/xian-gaoxin/alarms/elevator_trapped', payload: { rule: 'elevator_trapped', active: true, severity: 'critical', device: 'lift-1' } }])
    expect(store.listActive().map((a) => a.id)).toEqual(['elevator_trapped/lift-1'])
    // The monitor reports the same fault: reconciled, not doubled.
    const rep: Point = { measurement: 'elevator_event_report', tags: { event: 'trapped' }, fields: { active: true, floor: 5 }, time: 23_000 }
    now = 23_000
    expect(proc.process(batch([rep]))).toBeUndefined()
    now = 30_000
    const clear = proc.process(batch([status({ ...base, door_open: true })]))
    expect(clear).toMatchObject([{ measurement: 'elevator_event', tags: { event: 'trapped' }, fields: { active: false } }])
    expect(published.map((p) => p.payload['active'])).toEqual([true, false])
    expect(store.listActive()).toEqual([])
  })
  it('ignores other kinds', () => {
    const proc = createElevatorProcessor({}, { now: () => 0 })
    expect(proc.process({ ...batch([status({ floor: 99 })]), kind: 'water_quality' })).toBeUndefined()
    expect(proc.cars()).toEqual([])
  })
})
