/**
 * The alarms operators work with: what `/api/alarms` lists and the workflow acts on. Rules, the elevator
 * processor and the JT/T 808 alarm bits raise and clear; an operator acknowledges (with a note), shelves
 * for a while, unshelves or clears (a latched or event alarm; a rule whose condition is still true raises it
 * again). A cleared alarm leaves the list whatever its state. Each change is one `AlarmEvent` (events.ts)
 * to every listener, after it is stored.
 *
 * States: `active` (raised, nobody has acknowledged it), `acknowledged`, `shelved` (until `shelvedUntil`,
 * then back to acknowledged or active; an acknowledged alarm keeps that when shelved and unshelved);
 * `cleared` is the state of the event and point that removes it.
 *
 * With `file`, the list survives a restart: written atomically (a temporary file renamed over it) at once
 * after an operator's action (so an acknowledgement that was answered 200 is on disk), within `saveDelayMs`
 * after a rule's raise or clear (a storm is one write; a raise lost to a crash is raised again by its still
 * true condition), and on `close`. The history is in InfluxDB (`alarm` and `elevator_event` points).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { z } from 'zod'
import type { AlarmAction, AlarmEvent, AlarmListener, AlarmSubject } from './events.ts'
import { Severity } from './severity.ts'

export { Severity }

/** The JSON published on `city/<district>/alarms/<rule>` for every start and clear. */
export interface AlarmMessage extends AlarmSubject {
  active: boolean
  /** Epoch ms of the start or clear. */
  time: number
}

/** Where a listed alarm is in the workflow (`cleared` alarms are no longer listed). */
export type AlarmState = 'active' | 'acknowledged' | 'shelved'

export interface ActiveAlarm extends Omit<AlarmMessage, 'active'> {
  /** `<rule>/<device>`: what the workflow's routes name. */
  id: string
  since: number
  state: AlarmState
  acknowledged: boolean
  ackBy?: string
  ackNote?: string
  ackAt?: number
  /** Epoch ms until which the alarm is shelved (present only while shelved). */
  shelvedUntil?: number
  shelvedBy?: string
  shelveNote?: string
  shelvedAt?: number
}

const Note = z.string().max(512)
/** `by`: only where no tokens are configured (open access); with tokens the token's name is who acted. */
export const AckRequest = z.strictObject({ by: z.string().min(1).max(64).optional(), note: Note.optional() })
export type AckRequest = z.infer<typeof AckRequest>
/** At most a week: a shelf is a pause, not a way to switch a rule off (that is `enabled: false`). */
export const MAX_SHELVE_MINUTES = 7 * 24 * 60
export const ShelveRequest = z.strictObject({ minutes: z.number().int().min(1).max(MAX_SHELVE_MINUTES), by: z.string().min(1).max(64).optional(), note: Note.optional() })
export type ShelveRequest = z.infer<typeof ShelveRequest>
/** Unshelve and clear: who (open access only) and an optional note. */
export const ActionRequest = AckRequest
export type ActionRequest = AckRequest

export type AlarmErrorCode = 'ALARM_NOT_FOUND' | 'ALARM_ALREADY_ACKNOWLEDGED' | 'ALARM_NOT_SHELVED'
export type AckResult = { ok: true; alarm: ActiveAlarm } | { ok: false; code: AlarmErrorCode; message: string }

export interface AlarmStore {
  /** Record a start (or update a running alarm's value and message: its state is kept). */
  raise(a: AlarmMessage): ActiveAlarm
  /** Record a clear by the alarm's own source; returns the alarm that was listed, if any. */
  clear(rule: string, device: string, at?: number): ActiveAlarm | undefined
  /** Listed alarms, most severe first, then oldest first. */
  listActive(): ActiveAlarm[]
  get(id: string): ActiveAlarm | undefined
  acknowledge(id: string, req: AckRequest, now: number): AckResult
  shelve(id: string, req: ShelveRequest, now: number): AckResult
  unshelve(id: string, req: ActionRequest, now: number): AckResult
  /** An operator's clear: the alarm leaves the list (a rule still tripping raises it again). */
  clearByOperator(id: string, req: ActionRequest, now: number): AckResult
  /** Shelves that ran out become `unshelve` events (the gateway's 1 s tick). */
  tick(now: number): void
  /** Apply a published start/clear message (for components that only publish). */
  apply(a: AlarmMessage): void
  /** Call `listener` for every change (events.ts); returns the function that stops it. */
  onEvent(listener: AlarmListener): () => void
  /** Write the file now if a write is pending (stop); the store stays usable. */
  flush(): void
}

export interface AlarmStoreOptions {
  /** Keep the list here across restarts (`<dataDir>/alarms.json`). */
  file?: string
  /** Longest delay of the write after a rule's raise or clear (default 200 ms). */
  saveDelayMs?: number
  /** A file that could not be read or written (logged by the caller); the store keeps working in memory. */
  onProblem?(what: 'load' | 'save', err: unknown): void
}

export const alarmId = (rule: string, device: string): string => `${rule}/${device}`

const RANK: Record<Severity, number> = { critical: 0, warning: 1, info: 2 }

/** What the file holds: the listed alarms, as the API lists them. */
const StoredAlarm = z.looseObject({
  id: z.string().min(1),
  rule: z.string().min(1),
  severity: Severity,
  device: z.string().min(1),
  district: z.string(),
  message: z.string(),
  time: z.number(),
  since: z.number(),
  acknowledged: z.boolean(),
})
const StoredFile = z.strictObject({ version: z.literal(1), alarms: z.array(StoredAlarm) })

function stateOf(a: ActiveAlarm, now: number): AlarmState {
  if (a.shelvedUntil !== undefined && a.shelvedUntil > now) return 'shelved'
  return a.acknowledged ? 'acknowledged' : 'active'
}

export function createAlarmStore(opts: AlarmStoreOptions = {}): AlarmStore {
  const active = new Map<string, ActiveAlarm>()
  const listeners = new Set<AlarmListener>()
  const saveDelayMs = opts.saveDelayMs ?? 200
  let saveTimer: NodeJS.Timeout | undefined

  if (opts.file && existsSync(opts.file)) {
    try {
      const parsed = StoredFile.parse(JSON.parse(readFileSync(opts.file, 'utf8')))
      for (const a of parsed.alarms) active.set(a.id, a as unknown as ActiveAlarm)
    } catch (err) {
      // Kept aside for a person to look at; the gateway starts with what the rules raise again.
      try {
        renameSync(opts.file, `${opts.file}.unreadable-${Date.now()}`)
      } catch {}
      opts.onProblem?.('load', err)
    }
  }

  function saveNow(): void {
    if (saveTimer) {
      clearTimeout(saveTimer)
      saveTimer = undefined
    }
    if (!opts.file) return
    try {
      mkdirSync(dirname(opts.file), { recursive: true })
      const tmp = `${opts.file}.tmp`
      writeFileSync(tmp, `${JSON.stringify({ version: 1, alarms: [...active.values()] })}\n`)
      renameSync(tmp, opts.file)
    } catch (err) {
      opts.onProblem?.('save', err)
    }
  }
  function saveSoon(): void {
    if (!opts.file || saveTimer) return
    saveTimer = setTimeout(saveNow, saveDelayMs)
    saveTimer.unref()
  }

  function emit(action: AlarmAction, a: ActiveAlarm, at: number, extra: Pick<AlarmEvent, 'actor' | 'note' | 'shelvedUntil'> = {}): void {
    if (listeners.size === 0) return
    const e: AlarmEvent = {
      action,
      id: a.id,
      rule: a.rule,
      severity: a.severity,
      device: a.device,
      district: a.district,
      message: a.message,
      at,
      since: a.since,
      ...(a.kind === undefined ? {} : { kind: a.kind }),
      ...(a.site === undefined ? {} : { site: a.site }),
      ...(a.value === undefined ? {} : { value: a.value }),
      ...extra,
    }
    for (const l of listeners) {
      try {
        l(e)
      } catch {
        // The contract says a listener must not throw; one that does must not stop the others.
      }
    }
  }

  const notFound = (id: string): AckResult => ({ ok: false, code: 'ALARM_NOT_FOUND', message: `no listed alarm ${id} (it may have cleared)` })
  const note = (req: { note?: string | undefined }) => (req.note === undefined || req.note === '' ? {} : { note: req.note })
  const actor = (req: { by?: string | undefined }) => req.by ?? 'anonymous'

  const store: AlarmStore = {
    raise(a) {
      const id = alarmId(a.rule, a.device)
      const prev = active.get(id)
      const { active: _active, ...rest } = a
      if (prev) {
        Object.assign(prev, rest, { since: prev.since })
        saveSoon()
        return prev
      }
      const next: ActiveAlarm = { ...rest, id, since: a.time, state: 'active', acknowledged: false }
      active.set(id, next)
      saveSoon()
      emit('raise', next, a.time)
      return next
    },
    clear(rule, device, at) {
      const id = alarmId(rule, device)
      const prev = active.get(id)
      if (!prev) return undefined
      active.delete(id)
      saveSoon()
      emit('clear', prev, at ?? Date.now())
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
      if (!a) return notFound(id)
      if (a.acknowledged) return { ok: false, code: 'ALARM_ALREADY_ACKNOWLEDGED', message: `${id} was acknowledged${a.ackBy ? ` by ${a.ackBy}` : ''} at ${new Date(a.ackAt ?? now).toISOString()}` }
      a.acknowledged = true
      a.ackAt = now
      a.ackBy = actor(req)
      if (req.note !== undefined && req.note !== '') a.ackNote = req.note
      a.state = stateOf(a, now)
      saveNow()
      emit('ack', a, now, { actor: a.ackBy, ...note(req) })
      return { ok: true, alarm: a }
    },
    shelve(id, req, now) {
      const a = active.get(id)
      if (!a) return notFound(id)
      a.shelvedUntil = now + req.minutes * 60_000
      a.shelvedAt = now
      a.shelvedBy = actor(req)
      if (req.note !== undefined && req.note !== '') a.shelveNote = req.note
      else delete a.shelveNote
      a.state = 'shelved'
      saveNow()
      emit('shelve', a, now, { actor: a.shelvedBy, shelvedUntil: a.shelvedUntil, ...note(req) })
      return { ok: true, alarm: a }
    },
    unshelve(id, req, now) {
      const a = active.get(id)
      if (!a) return notFound(id)
      if (a.state !== 'shelved') return { ok: false, code: 'ALARM_NOT_SHELVED', message: `${id} is not shelved` }
      unshelf(a, now)
      saveNow()
      emit('unshelve', a, now, { actor: actor(req), ...note(req) })
      return { ok: true, alarm: a }
    },
    clearByOperator(id, req, now) {
      const a = active.get(id)
      if (!a) return notFound(id)
      active.delete(id)
      saveNow()
      emit('clear', a, now, { actor: actor(req), ...note(req) })
      return { ok: true, alarm: a }
    },
    tick(now) {
      let changed = false
      for (const a of active.values()) {
        if (a.shelvedUntil === undefined || a.shelvedUntil > now) continue
        unshelf(a, now)
        changed = true
        emit('unshelve', a, now)
      }
      if (changed) saveNow()
    },
    apply(a) {
      if (a.active) store.raise(a)
      else store.clear(a.rule, a.device, a.time)
    },
    onEvent(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    flush() {
      if (saveTimer) saveNow()
    },
  }
  function unshelf(a: ActiveAlarm, now: number): void {
    delete a.shelvedUntil
    delete a.shelvedAt
    delete a.shelvedBy
    delete a.shelveNote
    a.state = stateOf(a, now)
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
