/** HJ 212 CP data: DataTime, per-factor values and other parameters; the water factor codes. Pure. */
import { type DecodeResult, fail, ok } from '../../common/result.ts'
import { formatHj212Time, HJ212_CN, type Hj212Cp, parseHj212Time } from './segment.ts'

/** Per-factor values of a data upload: `Rtd`, `Avg`, `Min`, `Max`, `Cou`, `Flag`, ... as strings. */
export type FactorValues = Record<string, string>

export interface Hj212Data {
  /** DataTime as epoch ms UTC (converted from UTC+8), when present and valid. */
  dataTime?: number
  /** code -> { Rtd: '7.03', Flag: 'N', ... }. The first occurrence of a duplicated key wins. */
  factors: Record<string, FactorValues>
  /** Items that are not `<code>-<Field>`: DataTime, QnRtn, ExeRtn, RtdInterval, ... */
  params: Record<string, string>
}

/** CP groups -> DataTime, factors and other parameters. */
export function hj212Data(cp: Hj212Cp): DecodeResult<Hj212Data> {
  const factors: Record<string, FactorValues> = {}
  const params: Record<string, string> = {}
  for (const g of cp) {
    for (const [k, v] of g) {
      const dash = k.lastIndexOf('-')
      if (dash > 0 && dash < k.length - 1) {
        const code = k.slice(0, dash)
        const f = k.slice(dash + 1)
        factors[code] ??= {}
        if (factors[code][f] === undefined) factors[code][f] = v
      } else if (params[k] === undefined) params[k] = v
    }
  }
  const out: Hj212Data = { factors, params }
  const dt = params['DataTime']
  if (dt !== undefined) {
    const t = parseHj212Time(dt)
    if (t === undefined) return fail('bad_time', `DataTime "${dt}"`)
    out.dataTime = t
  }
  return ok(out)
}

/** CP for a data upload: `DataTime=...;<code>-<Field>=v,...;...` (what simulators send). */
export function dataCp(dataTime: number, factors: Record<string, FactorValues>): Hj212Cp {
  const cp: Hj212Cp = [[['DataTime', formatHj212Time(dataTime)]]]
  for (const [code, vals] of Object.entries(factors)) {
    const g: [string, string][] = Object.entries(vals).map(([f, v]) => [`${code}-${f}`, v])
    if (g.length > 0) cp.push(g)
  }
  return cp
}

/**
 * Water factor codes -> canonical `water_quality` fields. HJ 212-2017 Table B.1 codes (protocols.md
 * section 1) and the HJ/T 212-2005 codes still sent by older loggers (001 pH, 011 COD, 060 NH3-N,
 * 101 TP, 065 TN). Every other code is kept as a field named after the code.
 */
export const WATER_FACTORS: Readonly<Record<string, string>> = {
  w01001: 'ph',
  w01009: 'dissolved_oxygen_mg_l',
  w01010: 'water_temp_c',
  w01003: 'turbidity_ntu',
  w01014: 'conductivity_us_cm',
  w01018: 'cod_mg_l',
  w01019: 'codmn_mg_l',
  w21003: 'ammonia_nitrogen_mg_l',
  w21011: 'total_phosphorus_mg_l',
  w21001: 'total_nitrogen_mg_l',
  '001': 'ph',
  '011': 'cod_mg_l',
  '060': 'ammonia_nitrogen_mg_l',
  '101': 'total_phosphorus_mg_l',
  '065': 'total_nitrogen_mg_l',
}

/**
 * The `interval` tag: real-time samples and minute/hour/day statistics of one station are different series
 * (a 2051 average and a 2011 sample may share a DataTime and must not overwrite each other).
 */
export const INTERVAL_TAG: Readonly<Record<string, string>> = { '2011': 'realtime', '2051': 'minute', '2061': 'hour', '2031': 'day' }


export const DATA_CNS: ReadonlySet<string> = new Set([HJ212_CN.realtime, HJ212_CN.minute, HJ212_CN.hourly, HJ212_CN.daily])
