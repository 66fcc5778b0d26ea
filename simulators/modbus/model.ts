/**
 * How simulated devices behave: values that move like the real thing. Energy meters follow a daily load curve
 * (morning and evening peaks), their counters rise with the load; sondes follow the water station's river model
 * (simulators/water-quality/model.ts).
 * Deterministic for a seed and a clock: the same time gives the same values, so a test can freeze the clock
 * and compare what a client reads with what the model says.
 */
import type { ModbusProfile, ProfilePoint } from '../../devices/common/modbus/profile.ts'
import type { RegisterValue } from '../../devices/common/modbus/registers.ts'
import { createStationModel, rng } from '../water-quality/model.ts'

const round = (v: number, digits: number) => Number(v.toFixed(digits))

/** Relative load 0..1 by hour of the day (local time of the district, UTC+8): morning and evening peaks. */
export function loadCurve(hour: number): number {
  const g = (c: number, w: number) => Math.exp(-((hour - c) ** 2) / w)
  return Math.min(1, 0.25 + 0.45 * g(9, 6) + 0.6 * g(19.5, 5))
}

export interface ModelOptions {
  seed?: number
  /** Rated total active power in kW (energy meters). */
  ratedKw?: number
}

export interface DeviceModel {
  /** Engineering values by point name at time `t` (epoch ms). */
  values(t: number): Map<string, RegisterValue>
  /** A client wrote a point: the model keeps the value (settings, coils). */
  set(name: string, value: RegisterValue): void
}

type State = Record<string, number | boolean | string>

function energyMeterModel(opts: ModelOptions): (t: number, dtH: number, s: State) => State {
  const rnd = rng(opts.seed ?? 1)
  const rated = opts.ratedKw ?? 30
  let imp = 10_000 + Math.floor(rnd() * 50_000)
  let exp = Math.floor(rnd() * 100)
  return (t, dtH) => {
    const hour = ((t / 3_600_000 + 8) % 24 + 24) % 24
    const p = rated * loadCurve(hour) * (0.95 + 0.1 * rnd())
    const pf = 0.93 + 0.05 * rnd()
    const q = p * Math.tan(Math.acos(pf))
    imp += p * dtH
    // A little midday export (rooftop solar) on some meters.
    if (hour > 11 && hour < 14) exp += rated * 0.02 * dtH
    const s: State = {}
    const phases = ['a', 'b', 'c'] as const
    const share = [0.34, 0.33, 0.33].map((x) => x * (0.97 + 0.06 * rnd()))
    const sum = share.reduce((x, y) => x + y, 0)
    phases.forEach((ph, i) => {
      const v = 230 - 4 * (p / rated) + (rnd() - 0.5) * 1.5
      const pw = (p * 1000 * share[i]!) / sum
      s[`voltage_${ph}_v`] = round(v, 1)
      s[`power_${ph}_w`] = round(pw, 1)
      s[`reactive_${ph}_var`] = round(pw * Math.tan(Math.acos(pf)), 1)
      s[`pf_${ph}`] = round(pf, 3)
      s[`current_${ph}_a`] = round(pw / (v * pf), 3)
    })
    s['line_v'] = round(Number(s['voltage_a_v']) * Math.sqrt(3), 1)
    s['active_power_kw'] = round(p, 3)
    s['reactive_power_kvar'] = round(q, 3)
    s['power_factor'] = round(pf, 3)
    s['frequency_hz'] = round(50 + (rnd() - 0.5) * 0.04, 2)
    s['import_energy_kwh'] = round(imp, 2)
    s['export_energy_kwh'] = round(exp, 2)
    return s
  }
}

/** Sondes share the water station's river model (daily cycle, solubility, pollution events). */
function sondeModel(opts: ModelOptions): (t: number, dtH: number, s: State) => State {
  const station = createStationModel(opts.seed ?? 1)
  return (t) => {
    const r = station.read(t)
    // ORP falls when oxygen sags (a pollution event): a simple redox proxy.
    return { ...r, orp_mv: Math.round(180 + 12 * (r.dissolved_oxygen_mg_l - 8)) }
  }
}

/** What a point of a built-in profile shows, when its name does not say it through `field`. */
const BY_NAME: Readonly<Record<string, string>> = {
  // Eastron SDM630
  power_l1: 'power_a_w',
  power_l2: 'power_b_w',
  power_l3: 'power_c_w',
  reactive_power_l1: 'reactive_a_var',
  reactive_power_l2: 'reactive_b_var',
  reactive_power_l3: 'reactive_c_var',
  power_factor_l1: 'pf_a',
  power_factor_l2: 'pf_b',
  power_factor_l3: 'pf_c',
  total_active_energy: 'import_energy_kwh',
  // Chint DTSU666
  uab: 'line_v',
  ubc: 'line_v',
  uca: 'line_v',
  pa: 'power_a_w',
  pb: 'power_b_w',
  pc: 'power_c_w',
}

const DEFAULTS: Readonly<Record<string, RegisterValue>> = { conductivity_k: 1, averaging_s: 10 }

export function createModel(profile: ModbusProfile, unit: number, opts: ModelOptions = {}): DeviceModel {
  const step = profile.kind === 'energy_meter' ? energyMeterModel({ seed: unit, ...opts }) : sondeModel({ seed: unit, ...opts })
  const written = new Map<string, RegisterValue>()
  let lastT: number | undefined
  let last = new Map<string, RegisterValue>()
  const pointValue = (p: ProfilePoint, s: State): RegisterValue => {
    if (written.has(p.name)) return written.get(p.name)!
    const key = p.field ?? BY_NAME[p.name]
    if (key !== undefined && s[key] !== undefined) return s[key]!
    if (p.name === 'serial_number' || p.type === 'string') return `SIM${String(unit).padStart(4, '0')}`.slice(0, p.length ?? 8)
    if (p.name === 'wiper_running') return written.get('wipe') === true
    if (p.type === 'bool' || p.type === 'bit') return false
    return DEFAULTS[p.name] ?? 0
  }
  return {
    values(t) {
      if (t === lastT) return last
      const dtH = lastT === undefined ? 0 : Math.max(0, t - lastT) / 3_600_000
      lastT = t
      const s = step(t, dtH, {})
      last = new Map(profile.points.map((p) => [p.name, pointValue(p, s)]))
      return last
    },
    set(name, value) {
      written.set(name, value)
      lastT = undefined
    },
  }
}
