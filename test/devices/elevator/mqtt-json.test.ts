import { describe, expect, it } from 'vitest'
import { elevator } from '../../../devices/elevator/index.ts'

describe('elevator status JSON', () => {
  it('normalizes into elevator_status', () => {
    const r = elevator.readings.telemetry.schema.parse({ floor: 7, direction: 'up', door_open: false, moving: true, speed_m_s: 1.6 })
    expect(elevator.readings.telemetry.toPoints(r, { receivedAt: 5 })).toEqual([{ measurement: 'elevator_status', tags: {}, fields: { floor: 7, direction: 'up', door_open: false, moving: true, speed_m_s: 1.6 }, time: 5 }])
  })
  it('refuses an unknown service mode and a fractional floor', () => {
    expect(elevator.readings.telemetry.schema.safeParse({ service_mode: 'party' }).success).toBe(false)
    expect(elevator.readings.telemetry.schema.safeParse({ floor: 2.5 }).success).toBe(false)
  })
})
