import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { elevatorEventJsonSchema, elevatorEvents, reportFromPoint } from '../../../devices/elevator/index.ts'

describe('elevator /event messages', () => {
  it('event.schema.json is the JSON Schema of ElevatorEventMessage', () => {
    const file = JSON.parse(readFileSync(new URL('../../../devices/elevator/event.schema.json', import.meta.url), 'utf8'))
    expect(file).toEqual(elevatorEventJsonSchema())
    expect(file.required).toEqual(['event', 'active'])
  })
  it('turns a monitor report into an elevator_event_report point and back', () => {
    const msg = elevatorEvents.schema.parse(JSON.parse('{"ts": 1795000000000, "event": "door_fault", "active": true, "floor": 7}'))
    const pts = elevatorEvents.toPoints(msg, { receivedAt: 1 })
    expect(pts).toEqual([{ measurement: 'elevator_event_report', tags: { event: 'door_fault' }, fields: { active: true, floor: 7 }, time: 1_795_000_000_000 }])
    expect(reportFromPoint(pts[0]!)).toEqual(msg)
  })
  it('refuses unknown events and fields', () => {
    expect(elevatorEvents.schema.safeParse({ event: 'alien', active: true }).success).toBe(false)
    expect(elevatorEvents.schema.safeParse({ event: 'trapped', active: true, extra: 1 }).success).toBe(false)
    expect(elevatorEvents.schema.safeParse({ event: 'trapped' }).success).toBe(false)
  })
})
