/**
 * Alarm rules as a pipeline processor: every accepted batch is matched against the rules of
 * `AlarmRulesConfig`; starts and clears become `alarm` points (returned to the pipeline to be stored), an
 * MQTT message on `city/<district>/alarms/<rule>` and an entry in the alarm store (`/api/alarms`).
 * Durations, windows and silences run on the gateway's clock (`now`, injectable), checked on every batch
 * and on `tick`.
 */
import type { z } from 'zod'
import type { Point } from '../../devices/common/point.ts'
import type { DeviceRegistry, ProcessedBatch, Logger, Processor } from '../core/types.ts'
import { type AlarmRule, AlarmRulesConfig, type OfflineRule, type RateRule, type ThresholdRule } from './config.ts'
import { type AlarmState, type AlarmTransition, classify, createAlarmState, createRateWindow, type Level, type RateWindow, rateLevel } from './rules.ts'
import { type AlarmMessage, type AlarmStore, alarmId, emitAlarm, type PublishFn } from './store.ts'

export interface AlarmProcessorDeps {
  now: () => number
  publish?: PublishFn
  store?: AlarmStore
  devices?: Pick<DeviceRegistry, 'list'>
  log?: Logger
}

interface Where {
  device: string
  kind?: string
  district: string
  site?: string
}

interface Slot {
  state: AlarmState
  where: Where
  field?: string
  window?: RateWindow
  lastSeen?: number
}

type Batch = ProcessedBatch

export function createAlarmProcessor(cfg: z.input<typeof AlarmRulesConfig>, deps: AlarmProcessorDeps): Processor & { rules(): string[] } {
  const conf = AlarmRulesConfig.parse(cfg)
  const rules = conf.rules.filter((r) => r.enabled)
  const log = deps.log?.child({ component: 'alarms' })
  const slots = new Map<string, Map<string, Slot>>(rules.map((r) => [r.name, new Map()]))
  const startedAt = deps.now()
  /** Points made while processing a batch that must not get that batch's device tags (written on tick). */
  const deferred: Point[] = []
  let publishErrors = 0

  const inScope = (r: AlarmRule, b: Where): boolean =>
    (r.kind === undefined || r.kind === b.kind) && (r.devices === undefined || r.devices.includes(b.device)) && (r.district === undefined || r.district === b.district)

  function slotFor(r: AlarmRule, key: string, where: Where): Slot {
    const m = slots.get(r.name)!
    let s = m.get(key)
    if (!s) {
      // An alarm listed before a restart (or a reload) picks up where it was: its clear is the next transition.
      const listed = deps.store?.get(alarmId(r.name, where.device)) !== undefined
      s = { state: createAlarmState(r.type === 'offline' ? { forSec: 0, clearForSec: 0 } : r, listed), where }
      if (r.type === 'rate') s.window = createRateWindow(r.windowSec)
      m.set(key, s)
    } else {
      s.where = where
    }
    return s
  }

  function text(r: AlarmRule, s: Slot, tr: AlarmTransition): string {
    const fmt = (v: number) => String(Math.round(v * 1000) / 1000)
    if (r.message !== undefined && tr.active) {
      return r.message.replaceAll('{device}', s.where.device).replaceAll('{value}', fmt(tr.value)).replaceAll('{field}', s.field ?? '').replaceAll('{rule}', r.name)
    }
    const what =
      r.type === 'offline'
        ? `${s.where.device} silent for ${fmt(tr.value)} s (limit ${r.afterSec} s)`
        : r.type === 'rate'
          ? `${r.measurement} ${r.where.tag} failure rate ${fmt(tr.value * 100)} % over ${r.windowSec} s (limit ${fmt(r.above * 100)} %)`
          : `${s.where.device} ${s.field ?? ''} = ${fmt(tr.value)} (${describe(r)})`
    return tr.active ? `${r.name}: ${what}` : `${r.name} cleared: ${what}`
  }

  /**
   * `deviceTags`: points returned from `process` get the batch's device tags from the pipeline; points from
   * `tick` are written as they are, so they carry device, kind, district and site themselves.
   */
  function fire(r: AlarmRule, s: Slot, tr: AlarmTransition | undefined, out: Point[], deviceTags = false): void {
    if (!tr) return
    const w = s.where
    const message = text(r, s, tr)
    const tags: Record<string, string> = { rule: r.name, severity: r.severity }
    if (deviceTags) {
      tags['device'] = w.device
      tags['district'] = w.district
      if (w.kind !== undefined) tags['kind'] = w.kind
      if (w.site !== undefined) tags['site'] = w.site
    }
    out.push({ measurement: 'alarm', tags, fields: { active: tr.active, value: tr.value, message, action: tr.active ? 'raise' : 'clear', state: tr.active ? 'active' : 'cleared' }, time: tr.time })
    const msg: AlarmMessage = {
      rule: r.name,
      severity: r.severity,
      active: tr.active,
      device: w.device,
      district: w.district,
      value: tr.value,
      message,
      time: tr.time,
      ...(w.kind === undefined ? {} : { kind: w.kind }),
      ...(w.site === undefined ? {} : { site: w.site }),
    }
    emitAlarm(msg, {
      ...(deps.publish ? { publish: deps.publish } : {}),
      ...(deps.store ? { store: deps.store } : {}),
      onError: () => {
        publishErrors++
      },
    })
  }

  function threshold(r: ThresholdRule, b: Batch, where: Where, t: number, out: Point[]): void {
    const names = r.fields ?? (r.field === undefined ? [] : [r.field])
    for (const p of b.points) {
      if (p.measurement !== r.measurement) continue
      let worst: { level: Level; excess: number; value: number; field: string } | undefined
      let allClear = true
      for (const f of names) {
        const v = p.fields[f]
        if (typeof v !== 'number' || !Number.isFinite(v)) continue
        const c = classify(r, v)
        if (c.level !== 'clear') allClear = false
        if (!worst || c.excess > worst.excess) worst = { ...c, value: v, field: f }
      }
      if (!worst) continue
      const level: Level = worst.level === 'trip' ? 'trip' : allClear ? 'clear' : 'band'
      const s = slotFor(r, where.device, where)
      s.field = worst.field
      fire(r, s, s.state.feed(level, worst.value, t), out)
    }
  }

  function rate(r: RateRule, b: Batch, where: Where, t: number, out: Point[]): void {
    const key = r.groupBy === 'all' ? '*' : where.device
    const slotWhere = r.groupBy === 'all' ? { device: '*', district: where.district, ...(where.kind === undefined ? {} : { kind: where.kind }) } : where
    let s: Slot | undefined
    for (const p of b.points) {
      if (p.measurement !== r.measurement) continue
      s ??= slotFor(r, key, slotWhere)
      const tag = p.tags[r.where.tag] ?? ''
      s.window!.add(t, r.where.in ? r.where.in.includes(tag) : !r.where.notIn!.includes(tag))
    }
    if (!s) return
    const cur = s.window!.rate(t)
    // A building-wide rate is no one device's: its point waits for the tick, which writes its own tags.
    if (r.groupBy === 'all') fire(r, s, s.state.feed(rateLevel(r, cur), cur.value, t), deferred, true)
    else fire(r, s, s.state.feed(rateLevel(r, cur), cur.value, t), out)
  }

  function offlineSeen(r: OfflineRule, where: Where, t: number, out: Point[]): void {
    const s = slotFor(r, where.device, where)
    const silentFor = s.lastSeen === undefined ? 0 : (t - s.lastSeen) / 1000
    s.lastSeen = t
    fire(r, s, s.state.feed('clear', silentFor, t), out)
  }

  return {
    id: 'alarms',
    rules: () => rules.map((r) => r.name),
    process(b) {
      // Runs for every accepted batch: nothing to allocate when no rule is configured.
      if (rules.length === 0) return undefined
      const t = deps.now()
      const where: Where = { device: b.device, kind: b.kind, district: b.district, ...(b.site === undefined ? {} : { site: b.site }) }
      const out: Point[] = []
      for (const r of rules) {
        if (!inScope(r, where)) continue
        if (r.type === 'threshold') threshold(r, b, where, t, out)
        else if (r.type === 'rate') rate(r, b, where, t, out)
        else offlineSeen(r, where, t, out)
      }
      return out.length > 0 ? out : undefined
    },
    tick(t) {
      const out: Point[] = deferred.splice(0)
      for (const r of rules) {
        const m = slots.get(r.name)!
        // An operator cleared it: the condition starts it again if it still holds.
        if (deps.store) for (const s of m.values()) if (s.state.active && deps.store.get(alarmId(r.name, s.where.device)) === undefined) s.state.reset()
        if (r.type === 'offline') {
          // Inventory devices never heard from count as silent since the gateway started.
          for (const d of deps.devices?.list() ?? []) {
            const where: Where = { device: d.id, kind: d.kind, district: d.district, ...(d.site === undefined ? {} : { site: d.site }) }
            if (!m.has(d.id) && inScope(r, where)) slotFor(r, d.id, where).lastSeen = startedAt
          }
          for (const s of m.values()) {
            const silent = (t - (s.lastSeen ?? startedAt)) / 1000
            fire(r, s, s.state.feed(silent >= r.afterSec ? 'trip' : 'clear', silent, t), out, true)
          }
        } else if (r.type === 'rate') {
          for (const s of m.values()) {
            const cur = s.window!.rate(t)
            fire(r, s, s.state.feed(rateLevel(r, cur), cur.value, t), out, true)
          }
        } else {
          for (const s of m.values()) fire(r, s, s.state.tick(t), out, true)
        }
      }
      return out.length > 0 ? out : undefined
    },
    stop() {
      if (publishErrors > 0) log?.warn({ publishErrors }, 'alarm publishes failed')
    },
  }
}

function describe(r: ThresholdRule): string {
  if (r.above !== undefined) return `above ${r.above}`
  if (r.below !== undefined) return `below ${r.below}`
  if (r.outside !== undefined) return `outside ${r.outside[0]}..${r.outside[1]}`
  if (r.deviation !== undefined) return `off ${r.deviation.nominal} by more than ${r.deviation.pct} %`
  return ''
}
