/**
 * A building of elevator cars with passengers, for the elevator monitors' simulator. Pure: the caller steps
 * it with a time (epoch ms) and gets the status of each car (`ElevatorStatusReading`); randomness comes from
 * a seeded PRNG, so a run is reproducible.
 *
 * Passengers arrive as a Poisson process whose rate and pattern follow the office day (Beijing time):
 * morning up-peak (07:30-09:30, mostly lobby -> upper floors), lunch (11:30-13:30, to and from the lobby),
 * evening down-peak (17:00-19:00, upper floors -> lobby), light mixed traffic otherwise. Each call goes to
 * the car that reaches it soonest; cars run a trapezoidal speed profile up to their rated speed and cycle
 * their doors (opening, open while people move, closing; now and then a light-curtain reopen).
 *
 * Faults (`inject`) change a car's behaviour the way the real fault would:
 * - trapped: on its next run the car stops between floors with people inside and the door shut, for the
 *   fault's duration;
 * - door_fault: from its next close, the door fails to close (closes, reopens) again and again for the
 *   fault's duration;
 * - overspeed: the next run goes 30 % over the rated speed;
 * - power_loss: mains off; the rescue device takes the car to the nearest floor and opens the door, the car
 *   is out of service and the monitor on its battery says `power_ok: false`; with `silent`, the monitor
 *   itself goes dark instead (it publishes nothing until power returns).
 */
import type { ElevatorStatusReading } from '../../devices/elevator/schema.ts'
import { utcMsToBeijing } from '../../devices/common/time.ts'
import { rng } from '../water-quality/model.ts'

export interface BuildingOptions {
  seed: number
  cars: number
  /** Lowest and highest floor served (e.g. -2 .. 30). */
  bottomFloor: number
  topFloor: number
  lobbyFloor?: number
  floorHeightM?: number
  ratedSpeedMs?: number
  accelMs2?: number
  /** Door opening or closing time, and the minimum time it stays open. */
  doorMoveMs?: number
  doorOpenMs?: number
  /** Peak arrival rate of passengers in the whole building, per minute. */
  peakPerMin?: number
  /** Chance that a closing door reopens (light curtain) on its own. */
  reopenChance?: number
  /** Demand pattern by time (default `demandAt`: the office day in Beijing time). */
  demand?: (t: number) => Demand
}

export interface Demand {
  /** Share of the peak arrival rate. */
  rate: number
  /** Shares of lobby -> upper floor and upper floor -> lobby trips; the rest go floor to floor. */
  up: number
  down: number
  period: 'up_peak' | 'lunch' | 'down_peak' | 'off_peak' | 'night'
}

export const FAULTS = ['trapped', 'door_fault', 'overspeed', 'power_loss'] as const
export type Fault = (typeof FAULTS)[number]

interface Passenger {
  from: number
  to: number
}

type Phase = 'idle' | 'moving' | 'opening' | 'open' | 'closing' | 'stuck'

interface Car {
  id: number
  pos: number // metres above the bottom floor
  speed: number // signed, m/s
  phase: Phase
  phaseUntil: number
  runStart: number
  target: number | undefined
  stops: Set<number>
  riders: Passenger[]
  waiting: Passenger[]
  runCount: number
  lastDir: 'up' | 'down' | 'stop'
  /** `until` is set when the fault strikes (power loss: at once; trapped: when the car sticks; door: first failed close). */
  fault?: { kind: Fault; durationMs: number; until?: number; silent?: boolean; armed: boolean }
  power: boolean
  outOfService: boolean
  /** The light curtain reopened the door in this cycle already (it happens at most once a cycle). */
  reopened: boolean
  closedAt: number
}

export interface Building {
  /** Advance to time t (ms); returns nothing, read `status`. */
  step(t: number): void
  status(car: number): ElevatorStatusReading
  /** Whether the monitor of this car is publishing (false while silenced by a power loss). */
  monitorOn(car: number): boolean
  /** Inject a fault on a car from time t for durationMs (overspeed: the next run). */
  inject(car: number, fault: Fault, t: number, durationMs: number, opts?: { silent?: boolean }): void
  /** Active fault of a car, if any. */
  fault(car: number): Fault | undefined
  /** The fault shows in the car's behaviour now (trapped: stuck; overspeed: on the fast run). */
  effective(car: number): boolean
  stats(): { passengers: number; delivered: number; runs: number }
  readonly cars: number
}

/** Passenger demand at a Beijing wall-clock time: rate multiplier and the share of each pattern. */
export function demandAt(t: number): Demand {
  const b = utcMsToBeijing(t)
  const h = b.h + b.mi / 60
  if (h >= 7.5 && h < 9.5) return { rate: 1, up: 0.85, down: 0.05, period: 'up_peak' }
  if (h >= 11.5 && h < 13.5) return { rate: 0.6, up: 0.4, down: 0.4, period: 'lunch' }
  if (h >= 17 && h < 19) return { rate: 0.9, up: 0.05, down: 0.85, period: 'down_peak' }
  if (h >= 7 && h < 21) return { rate: 0.2, up: 0.35, down: 0.35, period: 'off_peak' }
  return { rate: 0.03, up: 0.3, down: 0.5, period: 'night' }
}

export function createBuilding(o: BuildingOptions): Building {
  const r = rng(o.seed)
  const lobby = o.lobbyFloor ?? Math.max(o.bottomFloor, 1)
  const h = o.floorHeightM ?? 3.2
  const rated = o.ratedSpeedMs ?? 1.75
  const accel = o.accelMs2 ?? 1
  const doorMove = o.doorMoveMs ?? 2500
  const doorOpen = o.doorOpenMs ?? 3000
  const peak = o.peakPerMin ?? 40
  const reopen = o.reopenChance ?? 0.02
  const demand = o.demand ?? demandAt
  const floors = o.topFloor - o.bottomFloor + 1
  const floorPos = (f: number) => (f - o.bottomFloor) * h
  const nearestFloor = (pos: number) => Math.min(o.topFloor, Math.max(o.bottomFloor, Math.round(pos / h) + o.bottomFloor))
  let now: number | undefined
  let nextArrival = 0
  let passengers = 0
  let delivered = 0

  const cars: Car[] = Array.from({ length: o.cars }, (_, id) => ({
    id,
    pos: floorPos(lobby),
    speed: 0,
    phase: 'idle',
    phaseUntil: 0,
    runStart: 0,
    target: undefined,
    stops: new Set<number>(),
    riders: [],
    waiting: [],
    runCount: 0,
    lastDir: 'stop',
    power: true,
    outOfService: false,
    reopened: false,
    closedAt: 0,
  }))

  function randomUpper(): number {
    const upper = o.topFloor - lobby
    return upper <= 0 ? o.topFloor : lobby + 1 + Math.floor(r() * upper)
  }

  function arrival(t: number): void {
    const d = demand(t)
    const x = r()
    let p: Passenger
    if (x < d.up) p = { from: lobby, to: randomUpper() }
    else if (x < d.up + d.down) p = { from: randomUpper(), to: lobby }
    else {
      const from = o.bottomFloor + Math.floor(r() * floors)
      let to = o.bottomFloor + Math.floor(r() * floors)
      if (to === from) to = from === o.topFloor ? o.bottomFloor : from + 1
      p = { from, to }
    }
    passengers++
    // The car that would reach the call soonest (distance, plus a penalty for each planned stop).
    let best: Car | undefined
    let bestCost = Number.POSITIVE_INFINITY
    for (const c of cars) {
      if (c.outOfService || c.fault?.kind === 'trapped') continue
      const cost = Math.abs(c.pos - floorPos(p.from)) / h + c.stops.size * 2 + c.riders.length * 0.2
      if (cost < bestCost) {
        best = c
        bestCost = cost
      }
    }
    if (!best) return
    best.waiting.push(p)
    best.stops.add(p.from)
  }

  function chooseTarget(c: Car): number | undefined {
    if (c.stops.size === 0) return undefined
    const here = c.pos / h + o.bottomFloor
    const list = [...c.stops]
    const ahead = list.filter((f) => (c.lastDir === 'down' ? f < here - 0.01 : f > here + 0.01))
    const pool = ahead.length > 0 ? ahead : list
    return pool.reduce((a, b) => (Math.abs(b - here) < Math.abs(a - here) ? b : a))
  }

  function startRun(c: Car, t: number, target: number): void {
    c.target = target
    c.phase = 'moving'
    c.runStart = t
    c.runCount++
    c.lastDir = floorPos(target) > c.pos ? 'up' : 'down'
    if (c.fault?.kind === 'overspeed' && !c.fault.armed) c.fault.armed = true
  }

  function arrive(c: Car, t: number): void {
    const f = c.target!
    c.pos = floorPos(f)
    c.speed = 0
    c.target = undefined
    c.stops.delete(f)
    c.phase = 'opening'
    c.phaseUntil = t + doorMove
    if (c.fault?.kind === 'overspeed' && c.fault.armed) c.fault = undefined
  }

  function exchange(c: Car): number {
    const f = nearestFloor(c.pos)
    const out = c.riders.filter((p) => p.to === f)
    c.riders = c.riders.filter((p) => p.to !== f)
    delivered += out.length
    const inn = c.outOfService ? [] : c.waiting.filter((p) => p.from === f)
    c.waiting = c.waiting.filter((p) => p.from !== f)
    for (const p of inn) {
      c.riders.push(p)
      c.stops.add(p.to)
    }
    return out.length + inn.length
  }

  function stepCar(c: Car, t: number, dt: number): void {
    const f = c.fault
    if (f?.until !== undefined && t >= f.until) {
      c.fault = undefined
      if (f.kind === 'power_loss') {
        c.power = true
        c.outOfService = false
      }
      if (f.kind === 'trapped') c.phase = 'moving' // the rescue: the car goes on to its floor
    }
    switch (c.phase) {
      case 'idle': {
        if (c.outOfService) return
        const target = chooseTarget(c)
        if (target === undefined) return
        if (Math.abs(floorPos(target) - c.pos) < 0.01) {
          // A call at this floor reopens the door, after a moment shut (a new cycle, seen as one).
          if (t - c.closedAt < 1000) return
          c.stops.delete(target)
          c.phase = 'opening'
          c.phaseUntil = t + doorMove
          return
        }
        startRun(c, t, target)
        return
      }
      case 'stuck':
        return
      case 'moving': {
        const goal = floorPos(c.target ?? nearestFloor(c.pos))
        const dist = goal - c.pos
        const dir = Math.sign(dist)
        const fast = c.fault?.kind === 'overspeed' && c.fault.armed
        const cap = !c.power ? 0.3 : fast ? rated * 1.3 : rated
        const a = fast ? accel * 2.5 : accel
        const v = Math.min(cap, Math.abs(c.speed) + a * dt, Math.sqrt(2 * a * Math.abs(dist)) + 0.05)
        // The overspeed is over once the car slows back to its rated speed.
        if (fast && v <= rated && Math.abs(c.speed) > rated) c.fault = undefined
        const move = v * dt
        if (move >= Math.abs(dist)) {
          arrive(c, t)
          return
        }
        c.pos += dir * move
        c.speed = dir * v
        // A trapped fault strikes between floors, once the car has left the levelling zone.
        if (c.fault?.kind === 'trapped' && !c.fault.armed && Math.abs(c.pos - floorPos(nearestFloor(c.pos))) > 0.5) {
          c.fault.armed = true
          c.fault.until = t + c.fault.durationMs
          if (c.riders.length === 0) c.riders.push({ from: nearestFloor(c.pos), to: c.target ?? lobby })
          c.phase = 'stuck'
          c.speed = 0
        }
        return
      }
      case 'opening':
        if (t >= c.phaseUntil) {
          const moved = exchange(c)
          c.phase = 'open'
          c.phaseUntil = t + doorOpen + Math.min(3000, moved * 500)
        }
        return
      case 'open':
        if (t >= c.phaseUntil && !c.outOfService) {
          c.phase = 'closing'
          c.phaseUntil = t + doorMove
        } else if (c.outOfService && t >= c.phaseUntil && c.riders.length > 0) {
          c.riders = []
        }
        return
      case 'closing':
        if (t < c.phaseUntil) return
        if (c.fault?.kind === 'door_fault' && !c.fault.armed) {
          c.fault.armed = true
          c.fault.until = t + c.fault.durationMs
        }
        if (c.fault?.kind === 'door_fault' || (!c.reopened && r() < reopen)) {
          c.reopened = true
          exchange(c) // someone steps in while it reopens
          c.phase = 'opening'
          c.phaseUntil = t + doorMove
          return
        }
        c.reopened = false
        c.closedAt = t
        c.phase = 'idle'
        return
    }
  }

  function tick(t: number): void {
    const dt = now === undefined ? 0 : (t - now) / 1000
    if (now === undefined) nextArrival = t
    now = t
    const d = demand(t)
    const ratePerMs = (peak * d.rate) / 60_000
    while (nextArrival <= t && ratePerMs > 0) {
      arrival(nextArrival)
      nextArrival += -Math.log(1 - r()) / ratePerMs
    }
    for (const c of cars) stepCar(c, t, dt)
  }

  return {
    cars: o.cars,
    step(t) {
      // Sub-steps of at most 100 ms keep the motion faithful when the caller steps coarsely.
      if (now === undefined) {
        tick(t)
        return
      }
      for (let s = now + 100; s < t; s += 100) tick(s)
      tick(t)
    },
    status(i) {
      const c = cars[i]!
      const floor = nearestFloor(c.pos)
      const moving = c.phase === 'moving' && Math.abs(c.speed) > 0
      const doorState = c.phase === 'opening' ? 'opening' : c.phase === 'open' ? 'open' : c.phase === 'closing' ? 'closing' : 'closed'
      return {
        floor,
        direction: moving ? (c.speed > 0 ? 'up' : 'down') : 'stop',
        door_open: doorState !== 'closed',
        door_state: doorState,
        moving,
        speed_m_s: Math.round(Math.abs(c.speed) * 100) / 100,
        in_leveling_zone: Math.abs(c.pos - floorPos(floor)) < 0.075,
        occupied: c.riders.length > 0,
        run_count: c.runCount,
        service_mode: c.outOfService ? 'out_of_service' : 'normal',
        power_ok: c.power,
      }
    },
    monitorOn(i) {
      const f = cars[i]?.fault
      return !(f?.kind === 'power_loss' && f.silent)
    },
    inject(i, fault, t, durationMs, opts) {
      const c = cars[i]
      if (!c) return
      c.fault = { kind: fault, durationMs, armed: false, ...(fault === 'power_loss' ? { until: t + durationMs } : {}), ...(opts?.silent ? { silent: true } : {}) }
      if (fault === 'door_fault' && c.phase === 'idle') {
        // Someone presses the door-open button: the failing door shows itself at once.
        c.phase = 'opening'
        c.phaseUntil = t + doorMove
      }
      if (fault === 'power_loss') {
        c.power = false
        c.outOfService = true
        // The rescue device takes a moving car to the nearest floor at creeping speed.
        if (c.phase === 'moving') c.target = nearestFloor(c.pos)
        c.waiting = []
      }
    },
    fault: (i) => cars[i]?.fault?.kind,
    effective(i) {
      const c = cars[i]
      const f = c?.fault
      if (!c || !f) return false
      if (f.kind === 'trapped') return c.phase === 'stuck'
      if (f.kind === 'overspeed') return f.armed && c.phase === 'moving'
      if (f.kind === 'door_fault') return f.armed
      return true
    },
    stats: () => ({ passengers, delivered, runs: cars.reduce((s, c) => s + c.runCount, 0) }),
  }
}
