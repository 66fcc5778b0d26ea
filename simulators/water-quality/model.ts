/**
 * A surface-water monitoring station that behaves like a river section in a city district:
 * - water temperature follows the day (minimum near dawn, maximum mid-afternoon) around a seasonal mean;
 * - dissolved oxygen follows solubility (lower when warmer) plus daytime photosynthesis;
 * - pH rises a little with photosynthesis by day;
 * - occasional pollution events (a sewer overflow, an illegal discharge): COD, ammonia nitrogen, turbidity
 *   and conductivity jump and decay over an hour or two while dissolved oxygen sags.
 * Pure: time and randomness come in, so the demo, the Modbus sonde and the HJ 212 logger share it.
 */
import type { WaterQualityReading } from '../../devices/water-quality/schema.ts'

export interface StationParams {
  /** Seasonal mean water temperature, °C. */
  meanTempC: number
  /** Day-night temperature swing (peak to mean), °C. */
  swingC: number
  /** Base levels of the clean river. */
  codMgL: number
  ammoniaMgL: number
  turbidityNtu: number
  conductivityUsCm: number
  /** Pollution events per day (Poisson). */
  eventsPerDay: number
}

export const DEFAULT_STATION: StationParams = {
  meanTempC: 17,
  swingC: 2.5,
  codMgL: 14,
  ammoniaMgL: 0.35,
  turbidityNtu: 6,
  conductivityUsCm: 480,
  eventsPerDay: 1.5,
}

interface PollutionEvent {
  start: number
  /** Peak multiple of the base load. */
  strength: number
  /** Decay time constant, ms. */
  tauMs: number
}

/** Small deterministic PRNG (mulberry32) so a seeded station is reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const HOUR = 3_600_000
const round = (v: number, d: number) => Math.round(v * 10 ** d) / 10 ** d

export interface StationModel {
  /** The reading at time `t` (epoch ms), advancing the event process from the previous call. */
  read(t: number): Required<Pick<WaterQualityReading, 'ph' | 'water_temp_c' | 'dissolved_oxygen_mg_l' | 'turbidity_ntu' | 'conductivity_us_cm' | 'cod_mg_l' | 'ammonia_nitrogen_mg_l'>>
  /** Start a pollution event now (tests and the demo's operator). */
  pollute(t: number, strength?: number): void
  /** True while a pollution event is noticeable. */
  polluted(t: number): boolean
}

export function createStationModel(seed: number, p: StationParams = DEFAULT_STATION): StationModel {
  const rand = rng(seed)
  const noise = (scale: number) => (rand() - 0.5) * 2 * scale
  const events: PollutionEvent[] = []
  let last: number | undefined

  const load = (t: number) => {
    let x = 0
    for (const e of events) if (t >= e.start) x += e.strength * Math.exp(-(t - e.start) / e.tauMs)
    return x
  }

  return {
    pollute(t, strength = 3 + rand() * 4) {
      events.push({ start: t, strength, tauMs: (0.5 + rand() * 1.5) * HOUR })
    },
    polluted: (t) => load(t) > 0.2,
    read(t) {
      if (last !== undefined && t > last) {
        // Poisson arrivals over the elapsed interval.
        const rate = (p.eventsPerDay / (24 * HOUR)) * (t - last)
        if (rand() < 1 - Math.exp(-rate)) this.pollute(t)
      }
      last = t
      while (events.length > 0 && t - events[0]!.start > 12 * HOUR) events.shift()
      const beijingHour = ((t / HOUR + 8) % 24 + 24) % 24
      // Temperature: coldest ~06:00, warmest ~15:00 (a sinusoid shifted to peak at 15:00).
      const temp = p.meanTempC + p.swingC * Math.sin(((beijingHour - 9) / 24) * 2 * Math.PI) + noise(0.05)
      const sun = Math.max(0, Math.sin(((beijingHour - 6) / 12) * Math.PI))
      const pollution = load(t)
      // Oxygen solubility in fresh water (Benson-Krause fit, mg/L) minus respiration, plus photosynthesis.
      const sat = 14.652 - 0.41022 * temp + 0.007991 * temp ** 2 - 0.000077774 * temp ** 3
      const dissolvedOxygen = Math.max(0.5, sat * (0.82 + 0.12 * sun) - 1.2 * pollution + noise(0.05))
      return {
        ph: round(7.4 + 0.35 * sun - 0.08 * pollution + noise(0.02), 2),
        water_temp_c: round(temp, 2),
        dissolved_oxygen_mg_l: round(dissolvedOxygen, 2),
        turbidity_ntu: round(p.turbidityNtu * (1 + 2.5 * pollution) + noise(0.3), 1),
        conductivity_us_cm: round(p.conductivityUsCm * (1 + 0.3 * pollution) + noise(3), 0),
        cod_mg_l: round(p.codMgL * (1 + pollution) + noise(0.4), 1),
        ammonia_nitrogen_mg_l: round(Math.max(0.02, p.ammoniaMgL * (1 + 1.5 * pollution) + noise(0.01)), 3),
      }
    },
  }
}
