/**
 * Active alarms, in memory: what `/api/alarms` lists and acknowledges. Rules and the elevator processor
 * raise and clear; an operator acknowledges. An acknowledged alarm stays listed until it clears (the
 * condition is still there); a cleared alarm leaves the list whether acknowledged or not. The history is in
 * InfluxDB (`alarm` and `elevator_event` points), not here.
 */
import { z } from 'zod'

export const Severity = z.enum(['info', 'warning', 'critical'])
export type Severity = z.infer<typeof Severity>

/** The JSON published on `city/<district>/alarms/<rule>` for every start and clear. */
export interface AlarmMessage {
  rule: string
  severity: Severity
  active: boolean
  device: string
  kind?: string
  district: string
  site?: string
  /** The value that tripped or cleared the rule (absent for events without a number). */
  value?: number
  message: string
  /** Epoch ms of the start or clear. */
  time: number
}

export interface ActiveAlarm extends Omit<AlarmMessage, 'active'> {
  /** `<rule>/<device>`: what the acknowledgement names. */
  id: string
  since: number
  acknowledged: boolean
  ackBy?: string
  ackNote?: string
  ackAt?: number
}

export const AckRequest = z.strictObject({
  by: z.string().min(1).max(64).optional(),
  note: z.string().max(512).optional(),
})
export type AckRequest = z.infer<typeof AckRequest>

export type AckResult = { ok: true; alarm: ActiveAlarm } | { ok: false; code: 'ALARM_NOT_FOUND'; message: string }

export interface AlarmStore {
  /** Record a start (or update a running alarm's value and message). */
  raise(a: AlarmMessage): ActiveAlarm
  /** Record a clear; returns the alarm that was active, if any. */
  clear(rule: string, device: string): ActiveAlarm | undefined
  /** Active alarms, most severe first, then oldest first. */
  listActive(): ActiveAlarm[]
  get(id: string): ActiveAlarm | undefined
  acknowledge(id: string, req: AckRequest, now: number): AckResult
  /** Apply a published start/clear message (for components that only publish). */
  apply(a: AlarmMessage): void
}

export const alarmId = (rule: string, device: string): string => `${rule}/${device}`

const RANK: Record<Severity, number> = { critical: 0, warning: 1, info: 2 }

export function createAlarmStore(): AlarmStore {
  const active = new Map<string, ActiveAlarm>()
  const store: AlarmStore = {
    raise(a) {
      const id = alarmId(a.rule, a.device)
      const prev = active.get(id)
      const { active: _active, ...rest } = a
      const next: ActiveAlarm = prev
        ? { ...prev, ...rest, time: a.time, since: prev.since }
        : { ...rest, id, since: a.time, acknowledged: false }
      active.set(id, next)
      return next
    },
    clear(rule, device) {
      const id = alarmId(rule, device)
      const prev = active.get(id)
      active.delete(id)
      return prev
    },
    listActive() {
      return [...active.values()].sort((x, y) => RANK[x.severity] - RANK[y.severity] || x.since - y.since)
    },
    get(id) {
      return active.get(id)
    },
    acknowledge(id, req, now) {
      const a = active.get(id)
      if (!a) return { ok: false, code: 'ALARM_NOT_FOUND', message: `no active alarm ${id}` }
      a.acknowledged = true
      a.ackAt = now
      if (req.by !== undefined) a.ackBy = req.by
      if (req.note !== undefined) a.ackNote = req.note
      return { ok: true, alarm: a }
    },
    apply(a) {
      if (a.active) store.raise(a)
      else store.clear(a.rule, a.device)
    },
  }
  return store
}

/** The MQTT topic of an alarm (docs/data-model.md): `city/<district>/alarms/<rule>`. */
export function alarmTopic(district: string, rule: string): string {
  return `city/${district}/alarms/${rule}`
}

export type PublishFn = (topic: string, payload: string | Buffer, opts?: { qos?: 0 | 1; retain?: boolean }) => Promise<void>

/**
 * Publish an alarm start/clear and record it in the store. Publishing is fire-and-forget on the hot path:
 * a failure is counted by `onError`, never thrown into the pipeline.
 */
export function emitAlarm(a: AlarmMessage, deps: { publish?: PublishFn; store?: AlarmStore; onError?: (err: unknown) => void }): void {
  deps.store?.apply(a)
  if (!deps.publish) return
  try {
    deps.publish(alarmTopic(a.district, a.rule), JSON.stringify(a), { qos: 1 }).catch((err: unknown) => deps.onError?.(err))
  } catch (err) {
    deps.onError?.(err)
  }
}
