/**
 * The value models' clock of a simulated run (README "Simulated districts in CI"). The models never read the
 * wall clock: the runner gives them a clock that starts at the scenario's `start_time:` (or a time derived
 * from `--seed`) and runs `--speed` times faster than real time, so a load curve, a rush hour or a river's
 * day follow the model's time of day, and two runs with one seed draw the same values.
 *
 * Periodic reporters (MQTT stations, elevator monitors, JT/T 808 terminals, HJ 212 loggers) take `ticks`: a
 * clock that advances by exactly one (unscaled) period per reading, so their values do not depend on timer
 * jitter either. Polled devices (Modbus, DL/T 645) answer whenever the gateway asks: they read `now()`, the
 * continuous model time, so their values follow the model's day but are not identical between runs.
 * Reading times (`ts`, JT/T 808 and HJ 212 times, NMEA times) stay wall-clock times: the gateway stores them.
 */

/** 06:00 Beijing time (22:00 UTC the day before) on 2026-06-01, plus `seed` hours (mod 24). */
export function startTimeOf(seed: number, startTime?: string): number {
  if (startTime !== undefined) return Date.parse(startTime)
  return Date.UTC(2026, 5, 1, 6 - 8) + (((seed % 24) + 24) % 24) * 3_600_000
}

export interface SimClock {
  /** Where the model time starts (epoch ms). */
  start: number
  speed: number
  /** The continuous model time now: start + (wall time since the run began) x speed. */
  now(): number
  /** Model time that advances by exactly `periodMs` per call, from start + `offsetMs` (first call: start + offset). */
  ticks(periodMs: number, offsetMs?: number): () => number
}

export function createSimClock(start: number, speed: number, wallStart: number = Date.now()): SimClock {
  return {
    start,
    speed,
    now: () => start + (Date.now() - wallStart) * speed,
    ticks(periodMs, offsetMs = 0) {
      let k = 0
      return () => start + offsetMs + periodMs * k++
    },
  }
}
