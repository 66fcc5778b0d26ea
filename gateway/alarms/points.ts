/**
 * Operators' actions as `alarm` points (docs/data-model.md): every acknowledgement, shelve, unshelve and
 * operator clear is written beside the rules' own raise/clear points, so the history of an alarm is one
 * query. Tags: `rule`, `severity` and the device's (`device`, `kind`, `district`, `site`); fields: `active`
 * (the alarm still listed), `action`, `state` (after the action), `message`, `value`, `by`, `note`,
 * `shelved_until_ms`. `by` is a field, not a tag: who acted is not something to group series by.
 */
import type { Point } from '../../devices/common/point.ts'
import type { AlarmAction, AlarmEvent } from './events.ts'
import type { AlarmStore } from './store.ts'

/** The state after an action: listeners run after the change, so the store has it (or not: `cleared`). */
export type StateAfter = 'active' | 'acknowledged' | 'shelved' | 'cleared'

export function actionPoint(e: AlarmEvent, state: StateAfter): Point {
  const tags: Record<string, string> = { rule: e.rule, severity: e.severity, device: e.device, district: e.district }
  if (e.kind !== undefined) tags['kind'] = e.kind
  if (e.site !== undefined) tags['site'] = e.site
  const fields: Point['fields'] = { active: e.action !== 'clear', action: e.action, state, message: e.message }
  if (e.value !== undefined) fields['value'] = e.value
  if (e.actor !== undefined) fields['by'] = e.actor
  if (e.note !== undefined) fields['note'] = e.note
  if (e.shelvedUntil !== undefined) fields['shelved_until_ms'] = e.shelvedUntil
  return { measurement: 'alarm', tags, fields, time: e.at }
}

/** Actions the rules do not write themselves: everything but a rule's own raise and clear. */
const OPERATOR: ReadonlySet<AlarmAction> = new Set(['ack', 'shelve', 'unshelve'])
export const isOperatorAction = (e: AlarmEvent): boolean => OPERATOR.has(e.action) || (e.action === 'clear' && e.actor !== undefined)

/**
 * Write a point for every operator action (and every shelf that ran out) through `write` (the pipeline's
 * `writeInternal`); returns the function that stops it.
 */
export function recordAlarmActions(store: AlarmStore, write: (points: Point[]) => void): () => void {
  return store.onEvent((e) => {
    if (!isOperatorAction(e)) return
    write([actionPoint(e, store.get(e.id)?.state ?? 'cleared')])
  })
}
