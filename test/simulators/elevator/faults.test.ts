import { describe, expect, it } from 'vitest'
import { createCarMonitor, type EventChange } from '../../../devices/elevator/faults.ts'
import { ElevatorStatusReading } from '../../../devices/elevator/schema.ts'
import { createBuilding, demandAt, type Fault } from '../../../simulators/elevator/model.ts'

const S = 1000
const at = (h: number, m = 0) => Date.UTC(2026, 10, 23, h - 8, m) // Beijing wall clock on a Monday
const PROFILE = { ratedSpeedMs: 1.75, topFloor: 24, bottomFloor: -2, trappedAfterSec: 30, stoppedOutsideAfterSec: 15, silentAfterSec: 20 }

/** Run a building from `from` to `to` feeding every car's status to its own monitor; events per car. */
function run(opts: {
  from: number
  to: number
  cars?: number
  seed?: number
  act?: (t: number, b: ReturnType<typeof createBuilding>) => void
  after?: (t: number, b: ReturnType<typeof createBuilding>) => void
}) {
  const b = createBuilding({ seed: opts.seed ?? 1, cars: opts.cars ?? 4, bottomFloor: -2, topFloor: 24, lobbyFloor: 1 })
  const monitors = Array.from({ length: b.cars }, () => createCarMonitor(PROFILE))
  const events: EventChange[][] = monitors.map(() => [])
  let invalid = 0
  for (let t = opts.from; t <= opts.to; t += 200) {
    opts.act?.(t, b)
    b.step(t)
    opts.after?.(t, b)
    for (let i = 0; i < b.cars; i++) {
      const m = monitors[i]!
      if (b.monitorOn(i)) {
        const s = b.status(i)
        if (!ElevatorStatusReading.safeParse(s).success) invalid++
        events[i]!.push(...m.status(s, t))
      }
      if (t % S === 0) events[i]!.push(...m.tick(t))
    }
  }
  return { b, events, invalid }
}

describe('elevator simulator: passenger model', () => {
  it('follows the office day: up-peak, lunch, down-peak', () => {
    expect(demandAt(at(8, 30))).toMatchObject({ period: 'up_peak', up: 0.85 })
    expect(demandAt(at(12, 0))).toMatchObject({ period: 'lunch' })
    expect(demandAt(at(18, 0))).toMatchObject({ period: 'down_peak', down: 0.85 })
    expect(demandAt(at(3, 0))).toMatchObject({ period: 'night' })
  })
  it('normal traffic through a whole working day raises no event at all', () => {
    const { b, events, invalid } = run({ from: at(7, 0), to: at(19, 30), cars: 4, seed: 42 })
    expect(invalid).toBe(0)
    expect(events.flat()).toEqual([])
    const st = b.stats()
    expect(st.passengers).toBeGreaterThan(5000)
    expect(st.delivered).toBeGreaterThan(st.passengers * 0.95)
  }, 60_000)
})

describe('elevator simulator: each injected fault raises exactly one event of its type, which clears with the fault', () => {
  const cases: [Fault, string, { silent?: boolean }?][] = [
    ['trapped', 'trapped'],
    ['door_fault', 'door_fault'],
    ['overspeed', 'overspeed'],
    ['power_loss', 'power_loss'],
    ['power_loss', 'power_loss', { silent: true }],
  ]
  for (const [fault, event, opts] of cases) {
    it(`${fault}${opts?.silent ? ' (monitor silent)' : ''}`, () => {
      const inject = at(8, 40)
      const duration = 90 * S
      let effectiveAt: number | undefined
      let endedAt: number | undefined
      const { events } = run({
        from: at(8, 30),
        to: at(8, 50),
        seed: 7,
        act: (t, b) => {
          if (t === inject) b.inject(0, fault, t, duration, opts)
        },
        after: (t, b) => {
          if (t >= inject && effectiveAt === undefined && b.effective(0)) effectiveAt = t
          if (t >= inject && endedAt === undefined && b.fault(0) === undefined) endedAt = t
        },
      })
      expect(effectiveAt, 'the fault showed').toBeDefined()
      expect(endedAt, 'the fault ended').toBeDefined()
      const mine = events[0]!.map((e) => `${e.active ? '+' : '-'}${e.event}`)
      expect(mine).toEqual([`+${event}`, `-${event}`])
      const [start, clear] = events[0]!
      expect(start!.time).toBeGreaterThanOrEqual(inject)
      // It clears when the fault does (the door fault on the next good close, silence on the next message).
      expect(clear!.time).toBeGreaterThanOrEqual(endedAt!)
      expect(clear!.time - endedAt!).toBeLessThan(15 * S)
      for (const other of events.slice(1)) expect(other).toEqual([])
    })
  }
})
