/**
 * The security audit log's contract (issue 13 section 5): every operator action (alarm acknowledgement,
 * device write, reload) and every authentication or authorization failure (HTTP token, MQTT credentials,
 * ACL, TCP allowlist) is one record: who, what, when, from which address, the outcome.
 *
 * This file is the contract the parts write to; the JSON-lines file with rotation and retention is
 * `createAuditLog` (gateway/core/audit-log.ts). Writing a record never throws and never blocks the caller.
 */

export type AuditOutcome = 'ok' | 'denied' | 'failed'

export interface AuditRecord {
  /** ISO time; filled in by the log when absent. */
  time?: string
  /** Who: a token's name, a device id or MQTT username, `anonymous`, or `system` (SIGHUP reload). */
  actor: string
  actorType: 'token' | 'device' | 'anonymous' | 'system'
  /** What, as a stable dotted code: `alarm.ack`, `device.write`, `config.reload`, `http.auth`, `mqtt.connect`, `mqtt.publish`, `mqtt.subscribe`, `tcp.connect`. */
  action: string
  /** What it was done to: an alarm id, a device id, a topic, a listener. */
  target?: string
  /** The peer's address (`ip:port` or `ip`). */
  address?: string
  outcome: AuditOutcome
  /** Why it was denied or failed, as a catalogued reason code (devices/common/reasons.ts) or a short text. */
  reason?: string
  detail?: string
}

export interface Audit {
  record(r: AuditRecord): void
}

/** An audit that keeps nothing (tests, `decode`). */
export const noAudit: Audit = { record: () => {} }
