import { describe, expect, it } from 'vitest'
import { createCarMonitor, type EventChange, eventPoint } from '../../../devices/elevator/faults.ts'
import type { ElevatorStatusReading } from '../../../devices/elevator/schema.ts'

const atFloor: ElevatorStatusReading = {
  floor: 3,
  direction: 'stop',
  door_open: false,
  door_state: 'closed',
  moving: false,
  speed_m_s: 0,
  in_leveling_zone: true,
  occupied: false,
  service_mode: 'normal',
  power_ok: true,
}
const S = 1000
const brief = (cs: EventChange[]) => cs.map((c) => `${c.active ? '+' : '-'}${c.event}`)

describe('elevator car monitor', () => {
  it('trapped: occupied, door closed, stopped outside the levelling zone longer than the limit; clears when the door opens', () => {
    const m = createCarMonitor({ trappedAfterSec: 30, silentAfterSec: 1000 })
    expect(m.status(atFloor, 0)).toEqual([])
    expect(m.status({ moving: false, in_leveling_zone: false, occupied: true, floor: 4 }, 1 * S)).toEqual([])
    expect(m.tick(30 * S)).toEqual([])
    const start = m.tick(31 * S)
    expect(brief(start)).toEqual(['+trapped'])
    expect(start[0]).toMatchObject({ floor: 4, time: 31 * S, by: 'derived' })
    expect(m.tick(200 * S)).toEqual([])
    expect(brief(m.status({ door_open: true, door_state: 'open' }, 201 * S))).toEqual(['-trapped'])
    expect(m.active()).toEqual([])
  })
  it('stopped_outside_leveling for an empty car, never together with trapped for the same stop', () => {
    const m = createCarMonitor({ trappedAfterSec: 30, stoppedOutsideAfterSec: 10 })
    m.status(atFloor, 0)
    m.status({ in_leveling_zone: false }, 1 * S)
    expect(brief(m.tick(11 * S))).toEqual(['+stopped_outside_leveling'])
    // Someone in the closed car: it becomes the trapped case, the empty-car event clears.
    expect(brief(m.status({ occupied: true }, 12 * S))).toEqual(['-stopped_outside_leveling'])
    expect(brief(m.tick(43 * S))).toEqual(['+trapped'])
    expect(brief(m.status({ moving: true, speed_m_s: 0.5 }, 44 * S))).toEqual(['-trapped'])
  })
  it('door_open_while_moving is immediate and clears when the door closes', () => {
    const m = createCarMonitor()
    m.status({ ...atFloor, moving: true, speed_m_s: 1, in_leveling_zone: false }, 0)
    expect(brief(m.status({ door_open: true }, S))).toEqual(['+door_open_while_moving'])
    expect(brief(m.status({ door_open: false }, 2 * S))).toEqual(['-door_open_while_moving'])
  })
  it('overspeed trips above rated x factor and clears only at or below rated (no flapping in between)', () => {
    const m = createCarMonitor({ ratedSpeedMs: 2, overspeedFactor: 1.15 })
    m.status({ ...atFloor, moving: true, in_leveling_zone: false, speed_m_s: 2 }, 0)
    expect(m.status({ speed_m_s: 2.3 }, S)).toEqual([])
    expect(brief(m.status({ speed_m_s: -2.31 }, 2 * S))).toEqual(['+overspeed'])
    const noisy = [2.1, 2.35, 2.05, 2.4, 2.01].flatMap((v, i) => m.status({ speed_m_s: v }, (3 + i) * S))
    expect(noisy).toEqual([])
    expect(brief(m.status({ speed_m_s: 2 }, 10 * S))).toEqual(['-overspeed'])
  })
  it('door_fault after repeated failed closes; clears on a completed close', () => {
    const m = createCarMonitor({ doorFaultCount: 3, doorFaultWindowSec: 60 })
    m.status({ ...atFloor, door_open: true, door_state: 'open' }, 0)
    const seq = ['closing', 'opening', 'open', 'closing', 'opening', 'open', 'closing', 'open'] as const
    const got = seq.flatMap((d, i) => m.status({ door_state: d }, (i + 1) * S))
    expect(brief(got)).toEqual(['+door_fault'])
    expect(m.status({ door_state: 'closing' }, 20 * S)).toEqual([])
    expect(brief(m.status({ door_state: 'closed' }, 21 * S))).toEqual(['-door_fault'])
  })
  it('door cycles that fail far apart are not a fault', () => {
    const m = createCarMonitor({ doorFaultCount: 3, doorFaultWindowSec: 60 })
    m.status({ ...atFloor, door_state: 'open', door_open: true }, 0)
    let all: EventChange[] = []
    for (let i = 0; i < 5; i++) {
      all = all.concat(
        m.status({ door_state: 'closing' }, i * 40 * S),
        m.status({ door_state: 'opening' }, (i * 40 + 1) * S),
        m.status({ door_state: 'open' }, (i * 40 + 2) * S),
      )
    }
    expect(all).toEqual([])
  })
  it('power_loss when reported and when the monitor falls silent; clears on the next status with power', () => {
    const m = createCarMonitor({ silentAfterSec: 90 })
    m.status(atFloor, 0)
    expect(brief(m.status({ power_ok: false }, S))).toEqual(['+power_loss'])
    expect(brief(m.status({ power_ok: true }, 2 * S))).toEqual(['-power_loss'])
    expect(m.tick(91 * S)).toEqual([])
    expect(brief(m.tick(92 * S))).toEqual(['+power_loss'])
    expect(m.tick(500 * S)).toEqual([])
    expect(brief(m.status(atFloor, 501 * S))).toEqual(['-power_loss'])
  })
  it('holds status-derived events while the monitor is silent (silence is not a clear)', () => {
    const m = createCarMonitor({ trappedAfterSec: 30, silentAfterSec: 90 })
    m.status({ ...atFloor, in_leveling_zone: false, occupied: true }, 0)
    expect(brief(m.tick(31 * S))).toEqual(['+trapped'])
    expect(brief(m.tick(100 * S))).toEqual(['+power_loss'])
    expect(m.active().sort()).toEqual(['power_loss', 'trapped'])
    expect(brief(m.status({ door_open: true }, 120 * S)).sort()).toEqual(['-power_loss', '-trapped'])
  })
  it('overrun top and bottom against the configured floors', () => {
    const m = createCarMonitor({ topFloor: 20, bottomFloor: -1 })
    m.status({ ...atFloor, floor: 20 }, 0)
    expect(brief(m.status({ floor: 21 }, S))).toEqual(['+overrun_top'])
    expect(brief(m.status({ floor: 20 }, 2 * S))).toEqual(['-overrun_top'])
    expect(brief(m.status({ floor: -2 }, 3 * S))).toEqual(['+overrun_bottom'])
  })
  it('inspection mode derives no trapped or stopped-outside events', () => {
    const m = createCarMonitor({ trappedAfterSec: 5, stoppedOutsideAfterSec: 5, silentAfterSec: 1000 })
    m.status({ ...atFloor, service_mode: 'inspection', in_leveling_zone: false, occupied: true }, 0)
    expect(m.tick(100 * S)).toEqual([])
  })
  it('reconciles monitor reports with derived events: one start, one clear', () => {
    const m = createCarMonitor({ trappedAfterSec: 30 })
    m.status({ ...atFloor, in_leveling_zone: false, occupied: true }, 0)
    const r1 = m.report({ event: 'trapped', active: true, floor: 3 }, 20 * S)
    expect(r1).toMatchObject([{ event: 'trapped', active: true, by: 'monitor' }])
    expect(m.tick(31 * S)).toEqual([]) // derived agrees: no second start
    expect(m.report({ event: 'trapped', active: true }, 32 * S)).toEqual([]) // repeated report
    expect(m.report({ event: 'trapped', active: false }, 33 * S)).toEqual([]) // derived still sees it
    expect(m.active()).toEqual(['trapped'])
    const clear = m.status({ door_open: true }, 40 * S)
    expect(clear).toMatchObject([{ event: 'trapped', active: false }])
    // A late report stamped before the clear opens nothing.
    expect(m.report({ event: 'trapped', active: true, ts: 39 * S }, 41 * S)).toEqual([])
  })
  it('a derived clear also ends the monitor part, and a monitor-only event clears on its own clear', () => {
    const m = createCarMonitor()
    m.status(atFloor, 0)
    expect(brief(m.report({ event: 'safety_circuit_open', active: true }, S))).toEqual(['+safety_circuit_open'])
    expect(m.tick(5 * S)).toEqual([])
    expect(brief(m.report({ event: 'safety_circuit_open', active: false }, 6 * S))).toEqual(['-safety_circuit_open'])
    expect(m.report({ event: 'safety_circuit_open', active: false }, 7 * S)).toEqual([])
    m.report({ event: 'power_loss', active: true }, 8 * S)
    m.status({ power_ok: false }, 9 * S)
    expect(brief(m.status({ power_ok: true }, 10 * S))).toEqual(['-power_loss'])
    expect(m.report({ event: 'power_loss', active: false }, 11 * S)).toEqual([])
  })
  it('writes the data-model elevator_event point', () => {
    expect(eventPoint({ event: 'trapped', active: true, time: 5, floor: 7, detail: 'x', by: 'derived' })).toEqual({
      measurement: 'elevator_event',
      tags: { event: 'trapped' },
      fields: { active: true, floor: 7, detail: 'x' },
      time: 5,
    })
  })
})
