/**
 * Elevator fault detection at the edge: one state machine per car, pure (the caller passes the time of
 * every call: no clock, I/O or logging here). It turns the status stream (`ElevatorStatusReading`) into
 * event starts and clears, and reconciles them with events the monitor reports itself so that one fault
 * gives one event, whoever saw it first.
 *
 * Rules (times are the car profile's, defaults in `CarProfile`):
 * - trapped: stopped (`moving` false) outside the levelling zone, door closed, car occupied, longer than
 *   `trappedAfterSec`. Clears when the car moves, the door opens or the car is empty.
 * - stopped_outside_leveling: stopped outside the levelling zone longer than `stoppedOutsideAfterSec`
 *   while NOT trapped (an empty car, or doors open): the occupied, closed-door case is `trapped`, so the
 *   two never report the same stop twice.
 * - door_open_while_moving: `moving` and `door_open` together. Immediate.
 * - overspeed: |speed| above `ratedSpeedMs * overspeedFactor`; clears at or below the rated speed
 *   (hysteresis, no flapping around the trip point).
 * - door_fault: `doorFaultCount` failed door cycles within `doorFaultWindowSec` (a `closing` followed by
 *   `opening`/`open`, or an `opening` followed by `closing`/`closed`); clears on a completed close.
 * - power_loss: the monitor reports `power_ok: false`, or says nothing for `silentAfterSec`; clears on the
 *   next status with power.
 * - overrun_top / overrun_bottom: a floor above `topFloor` / below `bottomFloor` (when configured).
 * In `inspection`, `fire` and `out_of_service` modes the car is under a person's control: only overspeed,
 * power_loss and overruns are derived.
 *
 * Reconciliation: an event is active while the derived rule or the monitor says so. A monitor report of an
 * event already active adds its voice and writes nothing; the derived clear of an event the derived rule
 * had seen also ends the monitor's part of it (the status stream shows the condition is over, and a monitor
 * that never sends its clear must not hold the event for ever); a monitor's clear ends only its own part.
 */
import { z } from 'zod'
import type { Point } from '../common/point.ts'
import { timestampMs } from '../common/time.ts'
import type { ElevatorEventMessage, ElevatorEventName, ElevatorStatusReading } from './schema.ts'

export const CarProfile = z.strictObject({
  ratedSpeedMs: z.number().positive().max(20).default(1.75),
  overspeedFactor: z.number().min(1).max(2).default(1.15),
  topFloor: z.number().int().optional(),
  bottomFloor: z.number().int().optional(),
  trappedAfterSec: z.number().positive().default(30),
  stoppedOutsideAfterSec: z.number().positive().default(15),
  doorFaultCount: z.number().int().min(1).default(3),
  doorFaultWindowSec: z.number().positive().default(60),
  silentAfterSec: z.number().positive().default(90),
})
export type CarProfile = z.infer<typeof CarProfile>

export const EVENT_SEVERITY: Record<ElevatorEventName, 'warning' | 'critical'> = {
  trapped: 'critical',
  door_open_while_moving: 'critical',
  overspeed: 'critical',
  stopped_outside_leveling: 'warning',
  power_loss: 'critical',
  door_fault: 'warning',
  overrun_top: 'critical',
  overrun_bottom: 'critical',
  safety_circuit_open: 'critical',
  door_lock_open: 'critical',
}

/** One start or clear. `by` says who saw it: the derived rule, the monitor, or both. */
export interface EventChange {
  event: ElevatorEventName
  active: boolean
  time: number
  floor?: number
  detail: string
  by: 'derived' | 'monitor' | 'derived+monitor'
}

interface Episode {
  derived: boolean
  monitor: boolean
  since: number
}

type Known = Omit<ElevatorStatusReading, 'ts'>

export interface CarMonitor {
  /** A status message (fields may be partial: they update what is known). */
  status(s: ElevatorStatusReading, t: number): EventChange[]
  /** An event the monitor reports itself. */
  report(m: ElevatorEventMessage, t: number): EventChange[]
  /** Time passes: durations elapse and silence is noticed without new messages. */
  tick(t: number): EventChange[]
  /** Events active now. */
  active(): ElevatorEventName[]
}

const CONTROLLED_MODES = new Set(['inspection', 'fire', 'out_of_service'])

export function createCarMonitor(profileInput: z.input<typeof CarProfile> = {}): CarMonitor {
  const p = CarProfile.parse(profileInput)
  const known: Known = {}
  let lastSeen: number | undefined
  let silent = false
  let overspeed = false
  let lastDoor: Known['door_state']
  let doorFailures: number[] = []
  const since = new Map<'stopOutside' | 'trapped', number>()
  const episodes = new Map<ElevatorEventName, Episode>()
  const lastCleared = new Map<ElevatorEventName, number>()

  const floorField = (): { floor?: number } => (known.floor === undefined ? {} : { floor: known.floor })

  /** The derived rules, evaluated on what is known at time t: event -> detail, for events that hold. */
  function derive(t: number): Map<ElevatorEventName, string> {
    const out = new Map<ElevatorEventName, string>()
    const controlled = known.service_mode !== undefined && CONTROLLED_MODES.has(known.service_mode)
    if (silent) out.set('power_loss', `monitor silent for more than ${p.silentAfterSec} s`)
    else if (known.power_ok === false) out.set('power_loss', 'monitor reports mains power lost')
    const speed = Math.abs(known.speed_m_s ?? 0)
    if (speed > p.ratedSpeedMs * p.overspeedFactor) overspeed = true
    else if (speed <= p.ratedSpeedMs) overspeed = false
    if (overspeed) out.set('overspeed', `speed ${speed} m/s, rated ${p.ratedSpeedMs} m/s`)
    if (p.topFloor !== undefined && known.floor !== undefined && known.floor > p.topFloor) out.set('overrun_top', `floor ${known.floor} above top floor ${p.topFloor}`)
    if (p.bottomFloor !== undefined && known.floor !== undefined && known.floor < p.bottomFloor) out.set('overrun_bottom', `floor ${known.floor} below bottom floor ${p.bottomFloor}`)
    if (!controlled && !silent) {
      if (known.moving === true && known.door_open === true) out.set('door_open_while_moving', 'car moving with the door open')
      const stoppedOutside = known.moving === false && known.in_leveling_zone === false
      const trappedCond = stoppedOutside && known.door_open === false && known.occupied === true
      const outsideCond = stoppedOutside && !trappedCond
      for (const [key, cond] of [
        ['trapped', trappedCond],
        ['stopOutside', outsideCond],
      ] as const) {
        if (!cond) since.delete(key)
        else if (!since.has(key)) since.set(key, t)
      }
      const tTrapped = since.get('trapped')
      if (tTrapped !== undefined && t - tTrapped >= p.trappedAfterSec * 1000) {
        out.set('trapped', `occupied car stopped outside the levelling zone with the door closed for ${Math.round((t - tTrapped) / 1000)} s`)
      }
      const tOutside = since.get('stopOutside')
      if (tOutside !== undefined && t - tOutside >= p.stoppedOutsideAfterSec * 1000) {
        out.set('stopped_outside_leveling', `stopped outside the levelling zone for ${Math.round((t - tOutside) / 1000)} s`)
      }
      doorFailures = doorFailures.filter((x) => t - x <= p.doorFaultWindowSec * 1000)
      if (doorFailures.length >= p.doorFaultCount) out.set('door_fault', `${doorFailures.length} failed door cycles within ${p.doorFaultWindowSec} s`)
    } else if (silent) {
      // Silence is not a clear: hold what the status stream last showed until it speaks again.
      for (const [event, e] of episodes) if (e.derived && !out.has(event)) out.set(event, 'held: monitor silent')
    } else {
      since.clear()
    }
    return out
  }

  function apply(t: number): EventChange[] {
    const want = derive(t)
    const changes: EventChange[] = []
    for (const [event, detail] of want) {
      const e = episodes.get(event)
      if (!e) {
        episodes.set(event, { derived: true, monitor: false, since: t })
        changes.push({ event, active: true, time: t, ...floorField(), detail, by: 'derived' })
      } else {
        e.derived = true
      }
    }
    for (const [event, e] of episodes) {
      if (!e.derived || want.has(event)) continue
      // The status stream shows the condition over: that ends the monitor's part too (see the header).
      episodes.delete(event)
      lastCleared.set(event, t)
      changes.push({ event, active: false, time: t, ...floorField(), detail: 'condition cleared', by: e.monitor ? 'derived+monitor' : 'derived' })
    }
    return changes
  }

  return {
    status(s, t) {
      const { ts: _ts, ...fields } = s
      if (fields.door_state !== undefined) {
        const prev = lastDoor
        const next = fields.door_state
        const failedClose = prev === 'closing' && (next === 'opening' || next === 'open')
        const failedOpen = prev === 'opening' && (next === 'closing' || next === 'closed')
        if (failedClose || failedOpen) doorFailures.push(t)
        if (next === 'closed' && prev === 'closing') doorFailures = []
        lastDoor = next
        if (fields.door_open === undefined) fields.door_open = next !== 'closed'
      }
      Object.assign(known, fields)
      lastSeen = t
      silent = false
      return apply(t)
    },
    report(m, t) {
      const e = episodes.get(m.event)
      if (m.floor !== undefined && known.floor === undefined) known.floor = m.floor
      const floor = m.floor !== undefined ? { floor: m.floor } : floorField()
      const detail = m.detail ?? 'reported by the monitor'
      if (m.active) {
        if (e) {
          e.monitor = true
          return []
        }
        // A late report of an episode that has already been cleared must not open a second one.
        const at = timestampMs(m.ts, t)
        const cleared = lastCleared.get(m.event)
        if (cleared !== undefined && at <= cleared) return []
        episodes.set(m.event, { derived: false, monitor: true, since: t })
        return [{ event: m.event, active: true, time: t, ...floor, detail, by: 'monitor' }]
      }
      if (!e?.monitor) return []
      e.monitor = false
      if (e.derived) return []
      episodes.delete(m.event)
      lastCleared.set(m.event, t)
      return [{ event: m.event, active: false, time: t, ...floor, detail, by: 'monitor' }]
    },
    tick(t) {
      if (lastSeen !== undefined && !silent && t - lastSeen >= p.silentAfterSec * 1000) silent = true
      return apply(t)
    },
    active() {
      return [...episodes.keys()]
    },
  }
}

/** An event change as the `elevator_event` point of docs/data-model.md. */
export function eventPoint(c: EventChange): Point {
  const fields: Point['fields'] = { active: c.active, detail: c.by === 'derived' ? c.detail : `${c.detail} (${c.by})` }
  if (c.floor !== undefined) fields['floor'] = c.floor
  return { measurement: 'elevator_event', tags: { event: c.event }, fields, time: c.time }
}
