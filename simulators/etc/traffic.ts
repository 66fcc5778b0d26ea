/**
 * Vehicles through an ETC gantry: Poisson arrivals, a vehicle-class mix and a mix of what can go wrong with
 * an OBU, its card or the link. Pure: randomness comes in (a seeded PRNG), time is computed, so a run is
 * reproducible and every vehicle knows the `result` the lane must give it.
 */
import { msToBcdTime, OBU_STATUS_BITS } from '../../devices/etc/rsu/index.ts'
import { DEFAULT_TARIFF_FEN } from '../../devices/etc/tariff.ts'
import { rng as rngFor } from '../water-quality/model.ts'

/** Every way a passage can end (the `result` tag), and how the simulator provokes it. */
export const SCENARIOS = [
  'ok',
  'no_card', // OBU status: card absent
  'card_error', // OBU status card error, or B4 with an error code
  'obu_invalid', // OBU locked or tampered
  'obu_expired', // contract expired
  'obu_error', // B2 with an error code
  'vehicle_info_error', // B3 with an error code
  'unknown_class', // a class the tariff does not list (special vehicle, class 21)
  'blacklist', // a card on the lane's blacklist
  'insufficient_balance', // balance below the fee
  'deduct_failed', // B5 with an error code
  'timeout', // a lost frame: B3, B4 or B5 from the RSU, or C1 or C6 from the lane controller
] as const
export type Scenario = (typeof SCENARIOS)[number]

export const DEFAULT_SCENARIO_MIX: Readonly<Record<Scenario, number>> = {
  ok: 0.8,
  no_card: 0.02,
  card_error: 0.02,
  obu_invalid: 0.01,
  obu_expired: 0.01,
  obu_error: 0.01,
  vehicle_info_error: 0.01,
  unknown_class: 0.01,
  blacklist: 0.02,
  insufficient_balance: 0.03,
  deduct_failed: 0.01,
  timeout: 0.05,
}

/** Class shares on an urban expressway: mostly small passenger cars. */
export const DEFAULT_CLASS_MIX: Readonly<Record<string, number>> = {
  '1': 0.72,
  '2': 0.06,
  '3': 0.03,
  '4': 0.03,
  '11': 0.05,
  '12': 0.03,
  '13': 0.02,
  '14': 0.02,
  '15': 0.02,
  '16': 0.02,
}

export const LOSABLE_FRAMES = ['B3', 'B4', 'B5', 'C1', 'C6'] as const
export type LosableFrame = (typeof LOSABLE_FRAMES)[number]

export interface Vehicle {
  seq: number
  /** Arrival time, ms after the start of the run. */
  arriveMs: number
  scenario: Scenario
  obuId: string
  plate: string
  plateColor: number
  vehicleClass: number
  /** B2 error code (0 = fine). */
  b2Error: number
  obuStatus: number
  expiredDate: string
  b3Error: number
  b4Error: number
  b5Error: number
  balanceFen: number
  /** The 0015 issuer file (43 bytes hex); the card id is bytes 10..19. */
  issuerFile: string
  cardId: string
  lose?: LosableFrame
}

export interface TrafficOptions {
  /** Mean arrivals per second. */
  ratePerSec: number
  seed: number
  scenarioMix?: Partial<Record<Scenario, number>>
  classMix?: Readonly<Record<string, number>>
  tariff?: Readonly<Record<string, number>>
  /** Card ids (20 hex digits) the lane refuses: blacklisted vehicles carry one of these. */
  blacklist?: readonly string[]
  /** For dates on the OBU (contract expiry). */
  now?: number
  /**
   * Rush hours: the arrival rate is `ratePerSec` x up to `factor` around each peak (Beijing hour, a Gaussian
   * of `widthH`), at the model time `startMs + arriveMs x speed` (arrivals are thinned from the peak rate).
   */
  rushHour?: { startMs: number; speed?: number; peaks: readonly number[]; factor: number; widthH: number }
}

/** The rush-hour multiplier (1 ... factor) at a model time. */
export function rushFactor(r: NonNullable<TrafficOptions['rushHour']>, modelMs: number): number {
  const hour = (((modelMs / 3_600_000 + 8) % 24) + 24) % 24
  let g = 0
  for (const p of r.peaks) {
    const d = Math.min(Math.abs(hour - p), 24 - Math.abs(hour - p))
    g = Math.max(g, Math.exp(-(d * d) / (2 * r.widthH * r.widthH)))
  }
  return 1 + (r.factor - 1) * g
}

const PROVINCES = ['陕', '京', '沪', '粤', '川', '豫', '甘', '晋']
const LETTERS = 'ABCDEFGHJKLMNPQRSTUVWXYZ'
const DIGITS = '0123456789'

function pick<T>(r: () => number, weights: Readonly<Record<string, number>>, keys: readonly T[] = Object.keys(weights) as T[]): T {
  const total = keys.reduce((s, k) => s + (weights[String(k)] ?? 0), 0)
  let x = r() * total
  for (const k of keys) {
    x -= weights[String(k)] ?? 0
    if (x < 0) return k
  }
  return keys[keys.length - 1]!
}

const hex = (r: () => number, bytes: number) => Array.from({ length: bytes }, () => Math.floor(r() * 256).toString(16).padStart(2, '0')).join('').toUpperCase()

/** A default blacklist of card ids (network 6101 + internal numbers). */
export function makeBlacklist(n: number, seed = 7): string[] {
  return Array.from({ length: n }, (_, i) => `61019${String(seed % 100_000).padStart(5, '0')}${String(i).padStart(10, '0')}`)
}

export function createTraffic(o: TrafficOptions) {
  const r = rngFor(o.seed)
  const scenarioMix = { ...DEFAULT_SCENARIO_MIX, ...o.scenarioMix }
  const classMix = o.classMix ?? DEFAULT_CLASS_MIX
  const tariff = o.tariff ?? DEFAULT_TARIFF_FEN
  const blacklist = o.blacklist ?? makeBlacklist(5)
  const now = o.now ?? Date.now()
  const today = msToBcdTime(now).slice(0, 8)
  let seq = 0
  let t = 0

  function plate(): string {
    let p = PROVINCES[Math.floor(r() * PROVINCES.length)]! + LETTERS[Math.floor(r() * LETTERS.length)]!
    for (let i = 0; i < 5; i++) {
      const set = r() < 0.3 ? LETTERS : DIGITS
      p += set[Math.floor(r() * set.length)]!
    }
    return p
  }

  return {
    blacklist,
    tariff,
    /** The next vehicle; arrivals are a Poisson process (exponential gaps). */
    next(): Vehicle {
      const rush = o.rushHour
      if (!rush) t += (-Math.log(1 - r()) / o.ratePerSec) * 1000
      else {
        // A non-homogeneous Poisson process by thinning: candidates at the peak rate, kept at rate(t)/peak.
        const peak = o.ratePerSec * rush.factor
        for (let k = 0; k < 10_000; k++) {
          t += (-Math.log(1 - r()) / peak) * 1000
          if (r() * rush.factor < rushFactor(rush, rush.startMs + t * (rush.speed ?? 1))) break
        }
      }
      const scenario = pick(r, scenarioMix, SCENARIOS)
      const vehicleClass = scenario === 'unknown_class' ? 21 : Number(pick(r, classMix))
      const fee = tariff[String(vehicleClass)] ?? 0
      let cardId = `6101${String(Math.floor(r() * 1e16)).padStart(16, '0')}`
      while (blacklist.includes(cardId)) cardId = `6101${String(Math.floor(r() * 1e16)).padStart(16, '0')}`
      if (scenario === 'blacklist') cardId = blacklist[Math.floor(r() * blacklist.length)]!
      let obuStatus = OBU_STATUS_BITS.contactless << 8
      if (scenario === 'no_card') obuStatus |= OBU_STATUS_BITS.cardAbsent << 8
      const cardErrorInB4 = scenario === 'card_error' && r() < 0.5
      if (scenario === 'card_error' && !cardErrorInB4) obuStatus |= OBU_STATUS_BITS.cardError << 8
      if (scenario === 'obu_invalid') obuStatus |= (r() < 0.5 ? OBU_STATUS_BITS.obuLocked : OBU_STATUS_BITS.obuTampered) << 8
      if (r() < 0.05) obuStatus |= OBU_STATUS_BITS.batteryLow << 8 // a warning, never a failure
      const balanceFen = scenario === 'insufficient_balance' ? Math.floor(r() * fee) : fee + Math.floor(r() * 50_000)
      const v: Vehicle = {
        seq: seq++,
        arriveMs: t,
        scenario,
        obuId: hex(r, 4).replace(/^00000000$/, '00000001'),
        plate: plate(),
        plateColor: vehicleClass >= 11 ? 1 : r() < 0.1 ? 4 : 0, // 0 blue, 1 yellow, 4 green (new energy)
        vehicleClass,
        b2Error: scenario === 'obu_error' ? 0x01 : 0,
        obuStatus,
        expiredDate: scenario === 'obu_expired' ? `${Number(today.slice(0, 4)) - 1}0101` : `${Number(today.slice(0, 4)) + 5}1231`,
        b3Error: scenario === 'vehicle_info_error' ? 0x02 : 0,
        b4Error: cardErrorInB4 ? 0x03 : 0,
        b5Error: scenario === 'deduct_failed' ? 0x04 : 0,
        balanceFen,
        // 0015 file: issuer 8, card type 1, version 1, network 2 + internal number 8 (the card id), dates 4 + 4, rest.
        issuerFile: `6101000000000000` + `1640` + cardId + '20250101' + '20351231' + hex(r, 15),
        cardId,
      }
      if (scenario === 'timeout') v.lose = LOSABLE_FRAMES[Math.floor(r() * LOSABLE_FRAMES.length)]!
      return v
    },
  }
}
