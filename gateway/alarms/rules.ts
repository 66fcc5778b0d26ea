/**
 * The state machine of one alarm (one rule on one device): pure, the caller passes the time.
 *
 * A value is classified against the rule's condition as `trip` (violates it), `clear` (back inside by the
 * hysteresis margin) or `band` (in between). Normal -> (trip held for `forSec`) -> active ->
 * (clear held for `clearForSec`) -> normal. Anything but `trip` resets a pending start; anything but
 * `clear` resets a pending clear: a noisy signal sitting on the threshold cannot make the alarm flap.
 */
import type { RateRule, ThresholdRule } from './config.ts'

export type Level = 'trip' | 'band' | 'clear'

type Cond = Pick<ThresholdRule, 'above' | 'below' | 'outside' | 'deviation' | 'hysteresis'>

/** How far a value is from its condition, for choosing the worst of several fields (larger = worse). */
export function classify(c: Cond, v: number): { level: Level; excess: number } {
  const h = c.hysteresis
  if (c.above !== undefined) return { level: v > c.above ? 'trip' : v <= c.above - h ? 'clear' : 'band', excess: v - c.above }
  if (c.below !== undefined) return { level: v < c.below ? 'trip' : v >= c.below + h ? 'clear' : 'band', excess: c.below - v }
  if (c.outside !== undefined) {
    const [lo, hi] = c.outside
    const excess = Math.max(lo - v, v - hi)
    return { level: v < lo || v > hi ? 'trip' : v >= lo + h && v <= hi - h ? 'clear' : 'band', excess }
  }
  if (c.deviation !== undefined) {
    const pct = (Math.abs(v - c.deviation.nominal) / Math.abs(c.deviation.nominal)) * 100
    return { level: pct > c.deviation.pct ? 'trip' : pct <= c.deviation.pct - h ? 'clear' : 'band', excess: pct - c.deviation.pct }
  }
  return { level: 'clear', excess: Number.NEGATIVE_INFINITY }
}

export interface AlarmTransition {
  active: boolean
  value: number
  time: number
}

export interface AlarmState {
  /** Feed the latest level and value at time t; returns a start or clear when one happens. */
  feed(level: Level, value: number, t: number): AlarmTransition | undefined
  /** Re-check the last level at time t (durations elapse without new data). */
  tick(t: number): AlarmTransition | undefined
  /**
   * Back to normal without a transition (an operator cleared the alarm): a condition still true starts it
   * again after `forSec`.
   */
  reset(): void
  readonly active: boolean
}

/** `active`: the alarm is already listed (kept across a restart), so what comes next may clear it. */
export function createAlarmState(timing: { forSec: number; clearForSec: number }, initiallyActive = false): AlarmState {
  let active = initiallyActive
  let pendingSince: number | undefined
  let clearSince: number | undefined
  let last: { level: Level; value: number } | undefined

  function step(t: number): AlarmTransition | undefined {
    if (!last) return undefined
    const { level, value } = last
    if (!active) {
      if (level !== 'trip') {
        pendingSince = undefined
        return undefined
      }
      pendingSince ??= t
      if (t - pendingSince < timing.forSec * 1000) return undefined
      active = true
      pendingSince = undefined
      return { active: true, value, time: t }
    }
    if (level !== 'clear') {
      clearSince = undefined
      return undefined
    }
    clearSince ??= t
    if (t - clearSince < timing.clearForSec * 1000) return undefined
    active = false
    clearSince = undefined
    return { active: false, value, time: t }
  }

  return {
    feed(level, value, t) {
      last = { level, value }
      return step(t)
    },
    tick: step,
    reset() {
      active = false
      pendingSince = undefined
      clearSince = undefined
    },
    get active() {
      return active
    },
  }
}

/** A sliding window of passages (or any points) and how many of them failed. */
export interface RateWindow {
  add(t: number, failed: boolean): void
  /** Failed fraction over the window ending at t, and the number of points in it. */
  rate(t: number): { value: number; count: number }
}

export function createRateWindow(windowSec: number): RateWindow {
  const times: number[] = []
  const failed: boolean[] = []
  let head = 0
  let fails = 0
  const evict = (t: number) => {
    while (head < times.length && times[head]! <= t - windowSec * 1000) {
      if (failed[head]) fails--
      head++
    }
    if (head > 1024 && head * 2 > times.length) {
      times.splice(0, head)
      failed.splice(0, head)
      head = 0
    }
  }
  return {
    add(t, f) {
      times.push(t)
      failed.push(f)
      if (f) fails++
      evict(t)
    },
    rate(t) {
      evict(t)
      const count = times.length - head
      return { value: count === 0 ? 0 : fails / count, count }
    },
  }
}

export function rateLevel(rule: Pick<RateRule, 'above' | 'hysteresis' | 'minCount'>, r: { value: number; count: number }): Level {
  if (r.count < rule.minCount) return 'clear'
  return r.value > rule.above ? 'trip' : r.value <= rule.above - rule.hysteresis ? 'clear' : 'band'
}
