/**
 * Alarm rules as configuration (top-level key `alarms:` of the gateway config). Example:
 *
 * ```yaml
 * alarms:
 *   rules:
 *     - name: ph_out_of_range            # pH outside 6-9 for 5 minutes
 *       measurement: water_quality
 *       field: ph
 *       outside: [6, 9]
 *       forSec: 300
 *       hysteresis: 0.1                  # back inside 6.1..8.9 to clear
 *     - name: water_worse_than_iii       # GB 3838 class IV or worse
 *       measurement: water_quality
 *       field: gb3838_class
 *       above: 3
 *     - name: phase_voltage_off_nominal  # any phase off 220 V by more than 10 %
 *       measurement: energy_meter
 *       fields: [voltage_a_v, voltage_b_v, voltage_c_v]
 *       deviation: { nominal: 220, pct: 10 }
 *       hysteresis: 2                    # percentage points
 *       forSec: 10
 *     - name: etc_failure_rate           # more than 5 % of passages failed over 10 minutes
 *       type: rate
 *       measurement: etc_transaction
 *       where: { tag: result, notIn: [ok] }
 *       windowSec: 600
 *       above: 0.05
 *       minCount: 20
 *     - name: vehicle_overspeed
 *       measurement: position
 *       field: speed_kmh
 *       above: 120
 *       forSec: 10
 *       hysteresis: 5
 *       severity: critical
 *     - name: device_offline
 *       type: offline
 *       afterSec: 300
 *   elevator:                            # elevator fault detection (devices/elevator/faults.ts)
 *     defaults: { ratedSpeedMs: 1.75, trappedAfterSec: 30 }   # per car: the device's inventory options
 * ```
 * Durations, windows and silences are re-checked on the gateway's 1 s tick as well as on every batch.
 */
import { z } from 'zod'
import { KINDS } from '../../devices/common/point.ts'
import { ElevatorProcessorConfig } from '../processors/elevator.ts'
import { Severity } from './store.ts'

const RuleName = z.string().regex(/^[a-z0-9_]{1,64}$/, 'snake_case, at most 64 characters (it is an MQTT topic level and a tag)')

const Scope = {
  name: RuleName,
  severity: Severity.default('warning'),
  /** Only devices of this kind / these ids / this district (all when absent). */
  kind: z.enum(KINDS).optional(),
  devices: z.array(z.string().min(1)).min(1).optional(),
  district: z.string().min(1).optional(),
  /** Text of the alarm; `{device}`, `{value}`, `{field}` and `{rule}` are replaced. */
  message: z.string().max(256).optional(),
  enabled: z.boolean().default(true),
}

/** How long the condition must hold before the alarm starts, and be gone before it clears. */
const Timing = {
  forSec: z.number().min(0).default(0),
  clearForSec: z.number().min(0).default(0),
  /** Margin the value must come back by before the alarm clears (field units; percentage points for `deviation`, fraction for `rate`). */
  hysteresis: z.number().min(0).default(0),
}

/** Exactly one condition: above, below, outside [low, high], or deviation from a nominal value in %. */
const Condition = {
  above: z.number().optional(),
  below: z.number().optional(),
  outside: z.tuple([z.number(), z.number()]).optional(),
  deviation: z.strictObject({ nominal: z.number().refine((n) => n !== 0, 'nominal must not be 0'), pct: z.number().positive() }).optional(),
}

function oneCondition(r: { above?: unknown; below?: unknown; outside?: [number, number] | undefined; deviation?: unknown }, ctx: z.RefinementCtx): void {
  const n = [r.above, r.below, r.outside, r.deviation].filter((x) => x !== undefined).length
  if (n !== 1) ctx.addIssue({ code: 'custom', message: 'give exactly one of above, below, outside, deviation', path: [] })
  if (r.outside && r.outside[0] >= r.outside[1]) ctx.addIssue({ code: 'custom', message: 'outside: [low, high] with low < high', path: ['outside'] })
}

export const ThresholdRule = z
  .strictObject({
    type: z.literal('threshold'),
    ...Scope,
    measurement: z.string().min(1),
    /** One field, or several (any of them trips; all must be clear to clear). */
    field: z.string().min(1).optional(),
    fields: z.array(z.string().min(1)).min(1).optional(),
    ...Condition,
    ...Timing,
  })
  .superRefine((r, ctx) => {
    oneCondition(r, ctx)
    if ((r.field === undefined) === (r.fields === undefined)) ctx.addIssue({ code: 'custom', message: 'give field or fields', path: ['field'] })
  })
export type ThresholdRule = z.infer<typeof ThresholdRule>

export const RateRule = z
  .strictObject({
    type: z.literal('rate'),
    ...Scope,
    measurement: z.string().min(1),
    /** Which points count as failures: a tag whose value is (not) in a list. */
    where: z.strictObject({ tag: z.string().min(1), in: z.array(z.string()).optional(), notIn: z.array(z.string()).optional() }).refine((w) => (w.in === undefined) !== (w.notIn === undefined), 'give in or notIn'),
    windowSec: z.number().positive().default(600),
    /** No alarm on a window with fewer points than this (one failure in two passages is not a rate). */
    minCount: z.number().int().min(1).default(10),
    /** Per device (default) or one rate over every matching device. */
    groupBy: z.enum(['device', 'all']).default('device'),
    above: z.number().min(0).max(1),
    ...Timing,
  })
export type RateRule = z.infer<typeof RateRule>

export const OfflineRule = z.strictObject({
  type: z.literal('offline'),
  ...Scope,
  severity: Severity.default('warning'),
  afterSec: z.number().positive().default(300),
})
export type OfflineRule = z.infer<typeof OfflineRule>

/** A rule without `type` is a threshold rule. */
export const AlarmRule = z.preprocess(
  (v) => (v !== null && typeof v === 'object' && !Array.isArray(v) && !('type' in v) ? { ...v, type: 'threshold' } : v),
  z.discriminatedUnion('type', [ThresholdRule, RateRule, OfflineRule]),
)
export type AlarmRule = z.infer<typeof AlarmRule>

export const AlarmRulesConfig = z
  .strictObject({
    rules: z.array(AlarmRule).default([]),
    /** Elevator fault detection: defaults for every car (a device's inventory `options` override them). */
    elevator: ElevatorProcessorConfig.prefault({}),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>()
    c.rules.forEach((r, i) => {
      if (seen.has(r.name)) ctx.addIssue({ code: 'custom', message: `duplicate rule name ${r.name}`, path: ['rules', i, 'name'] })
      seen.add(r.name)
    })
  })
export type AlarmRulesConfig = z.infer<typeof AlarmRulesConfig>
