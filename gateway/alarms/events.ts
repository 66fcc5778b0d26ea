/**
 * What happens to an alarm, as one event: the contract between the alarm store (which decides) and those
 * that tell people (the notifiers in gateway/notifiers/, the live stream, the audit log). The store calls
 * every listener once per change, synchronously and after the change is stored; a listener must not throw
 * and must not block (a notifier only enqueues).
 */
import type { Severity } from './severity.ts'

/** An alarm's life: raised (active), acknowledged by an operator, shelved until a time, cleared. */
export type AlarmAction = 'raise' | 'clear' | 'ack' | 'shelve' | 'unshelve'

/** What an alarm is about: the rule, the device and what tripped it (also the published start/clear message's). */
export interface AlarmSubject {
  rule: string
  severity: Severity
  device: string
  kind?: string
  district: string
  site?: string
  /** The value that tripped or cleared the rule (absent for events without a number). */
  value?: number
  message: string
}

export interface AlarmEvent extends AlarmSubject {
  action: AlarmAction
  /** `<rule>/<device>`. */
  id: string
  /** Epoch ms of this action. */
  at: number
  /** Epoch ms the alarm started. */
  since: number
  /** Who acted (a token's name) for ack/shelve/unshelve/clear by an operator; absent for the rules' own. */
  actor?: string
  note?: string
  /** For `shelve`: epoch ms until which the alarm is shelved. */
  shelvedUntil?: number
}

export type AlarmListener = (e: AlarmEvent) => void
