/** HJ 212 data uploads -> readings of the water-quality kind's `hj212` type (validated and normalized by the pipeline). Pure. */
import { gb3838Grade, setGb3838Fields, type WaterBody } from '../gb3838.ts'
import { WaterQualityReading } from '../schema.ts'
import { type Hj212Data, INTERVAL_TAG, WATER_FACTORS } from './data.ts'
import { HJ212_CN, type Hj212Message } from './segment.ts'

/** Values loggers send for "no valid reading". */
const SENTINELS = new Set([-99, -999, -9999, -99999])

/** Which value of a factor is the reading: Rtd for real-time data, Avg for minute/hour/day statistics. */
function mainKey(cn: string): 'Rtd' | 'Avg' {
  return cn === HJ212_CN.realtime ? 'Rtd' : 'Avg'
}

/**
 * Per-factor values other than the reading and its Flag, kept as `<field>_<key in lower case>`: numeric keys
 * (Min, Max, Cou, the converted Zs* values, counts) as floats, dropped when not a number so a field keeps one
 * type; every other key (EFlag, SampleTime, Info, SN, facility state RS ...) as a string.
 */
const NUMERIC_KEYS = new Set(['Rtd', 'Avg', 'Min', 'Max', 'Cou', 'ZsRtd', 'ZsAvg', 'ZsMin', 'ZsMax', 'ValidNum', 'TotalNum'])

/** A field name from a factor code (for unknown codes): letters, digits and `_`. */
function codeField(code: string): string {
  return code.replace(/[^A-Za-z0-9_]/g, '_')
}

function num(s: string): number | undefined {
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) return undefined
  const n = Number(s)
  return Number.isFinite(n) ? n : undefined
}

/**
 * A data upload (2011/2051/2061/2031) -> the value of one `hj212` reading of the water-quality kind
 * (schema.ts `Hj212Reading`), or undefined when it carries no factor values (some loggers send such uploads
 * as a heartbeat: a valid packet with nothing to store). The reading is Rtd (2011) or Avg; Min,
 * Max and Cou become `<field>_min`, `_max`, `_cou`, and any other per-factor key `<field>_<key>` (see
 * NUMERIC_KEYS). Known codes use canonical names, others the code
 * itself. Flags other than N are kept as `<field>_flag`; a sentinel (-99, -999, ...) or a value outside the
 * schema's range is not stored and its flag says why (`sentinel`, `out_of_range`) unless the logger gave
 * one. The GB 3838 class is derived from the canonical values flagged N (maintenance and calibration values
 * do not classify water). `ts` is the DataTime (absent: the receive time).
 */
export function hj212Reading(m: Hj212Message, data: Hj212Data, waterBody: WaterBody = 'river'): Record<string, number | string> | undefined {
  const fields: Record<string, number | string> = {}
  const classable: Record<string, number> = {}
  const key = mainKey(m.cn)
  for (const [code, vals] of Object.entries(data.factors)) {
    const canonical = WATER_FACTORS[code]
    const name = canonical ?? codeField(code)
    const flag = vals['Flag']
    let flagOut = flag !== undefined && flag !== 'N' ? flag : undefined
    const raw = vals[key] ?? (key === 'Avg' ? vals['Rtd'] : undefined)
    if (raw !== undefined) {
      const v = num(raw)
      if (v === undefined) flagOut ??= 'not_a_number'
      else if (SENTINELS.has(v)) flagOut ??= 'sentinel'
      else if (canonical !== undefined && !inRange(canonical, v)) flagOut ??= 'out_of_range'
      else {
        fields[name] = v
        if (canonical !== undefined && (flag === undefined || flag === 'N')) classable[canonical] = v
      }
    }
    for (const [k, s] of Object.entries(vals)) {
      if (k === 'Flag' || k === key || (key === 'Avg' && k === 'Rtd' && vals['Avg'] === undefined)) continue
      const f = `${name}_${codeField(k).toLowerCase()}`
      if (!NUMERIC_KEYS.has(k)) fields[f] = s
      else {
        const v = num(s)
        if (v !== undefined && !SENTINELS.has(v)) fields[f] = v
      }
    }
    if (flagOut !== undefined) fields[`${name}_flag`] = flagOut
  }
  if (Object.keys(fields).length === 0) return undefined
  setGb3838Fields(fields, gb3838Grade(classable, waterBody))
  return { ...(data.dataTime === undefined ? {} : { ts: data.dataTime }), interval: INTERVAL_TAG[m.cn] ?? 'realtime', ...fields }
}

function inRange(field: string, v: number): boolean {
  const probe = WaterQualityReading.safeParse({ [field]: v })
  return probe.success
}
