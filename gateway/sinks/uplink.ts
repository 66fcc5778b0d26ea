/**
 * What the two uplink sinks (mqtt-uplink, nats-jetstream) share: a spool batch turned into one message per
 * point (topic or subject from a template, JSON or line-protocol payload, a stable id), and the record of
 * which messages the far side has acknowledged, so a batch the drain sends again after a failure does not
 * send again what was already acknowledged. docs/uplink.md.
 *
 * The spool still owns the data and the drain the retries (docs/style.md section 5): the record holds ids
 * only, and only in memory. After a crash a batch that was partly acknowledged is sent whole again: the
 * MQTT uplink may then deliver a point twice (the JSON `id` lets the central side drop it), the NATS
 * uplink's `Nats-Msg-Id` has JetStream drop it within the stream's duplicate window.
 */
import { createHash } from 'node:crypto'
import type { FieldValue } from '../../devices/common/point.ts'
import { type ParsedLine, parseLine } from '../core/line-protocol.ts'
import { splitLines } from '../core/spool.ts'

/** The placeholders a topic or subject template may use: tags, and the measurement. */
export const TEMPLATE_KEYS = ['measurement', 'district', 'kind', 'device', 'site'] as const
const PLACEHOLDER = /\{([^{}]*)\}/g

/** Problems of a template (unknown placeholders), for the config schema. */
export function templateProblem(template: string): string | undefined {
  for (const m of template.matchAll(PLACEHOLDER)) {
    if (!(TEMPLATE_KEYS as readonly string[]).includes(m[1]!)) return `unknown placeholder {${m[1]}}; one of ${TEMPLATE_KEYS.map((k) => `{${k}}`).join(', ')}`
  }
  return undefined
}

/** Problems of a NATS subject template: each placeholder a whole token, no wildcards, no empty token. */
export function subjectProblem(template: string): string | undefined {
  for (const t of template.split('.')) {
    if (t === '') return 'an empty subject token (two dots, or a dot at an end)'
    if (/[*>\s]/.test(t)) return `a wildcard or white space in the subject token "${t}"`
    if (t.includes('{') && !/^\{[a-z]+\}$/.test(t)) return `a placeholder must be a whole subject token: "${t}"`
  }
  return templateProblem(template)
}

/**
 * A template as a function of a point. A value that would change the topic's structure (MQTT `/ + #`,
 * NATS `. * >` and white space) becomes `_`, and so does a missing tag (an alarm has no `site`).
 */
export function compileTemplate(template: string, unsafe: RegExp): (p: ParsedLine) => string {
  const parts: Array<string | ((p: ParsedLine) => string)> = []
  let last = 0
  for (const m of template.matchAll(PLACEHOLDER)) {
    if (m.index > last) parts.push(template.slice(last, m.index))
    const key = m[1]!
    const clean = (v: string | undefined) => (v ? v.replace(unsafe, '_') : '_')
    parts.push(key === 'measurement' ? (p) => clean(p.measurement) : (p) => clean(p.tags[key]))
    last = m.index + m[0].length
  }
  if (last < template.length) parts.push(template.slice(last))
  return (p) => {
    let out = ''
    for (const part of parts) out += typeof part === 'string' ? part : part(p)
    return out
  }
}

export const MQTT_UNSAFE = /[/+#\u0000]/g
export const NATS_UNSAFE = /[.*>\s]/g

/**
 * The point's id: SHA-256 of the series (measurement and sorted tags), the time and the fields, as
 * base64url of its first 16 bytes (22 characters). The same point sent again has the same id; two points
 * of one series and time with different fields (InfluxDB would merge them) have different ids, so a
 * duplicate filter never drops data.
 */
export function pointId(p: ParsedLine): string {
  let key = p.measurement
  for (const k of Object.keys(p.tags).sort()) key += `\u0000${k}=${p.tags[k]}`
  key += `\u0001${p.time}`
  for (const k of Object.keys(p.fields).sort()) {
    const v = p.fields[k]
    key += `\u0000${k}=${typeof v === 'string' ? 's' : typeof v === 'boolean' ? 'b' : 'n'}:${String(v)}`
  }
  return createHash('sha256').update(key).digest().subarray(0, 16).toString('base64url')
}

/** The JSON payload of one point. */
export interface UplinkJson {
  id: string
  measurement: string
  tags: Record<string, string>
  fields: Record<string, FieldValue>
  /** Epoch milliseconds, UTC. */
  time: number
}

export interface UplinkMessage {
  id: string
  /** Topic (MQTT) or subject (NATS). */
  address: string
  payload: Buffer
}

export type ToMessages = { ok: true; messages: UplinkMessage[] } | { ok: false; line: string }

/**
 * The batch's lines as messages, in order. A line that is not line protocol fails the batch (the drain then
 * bisects down to it and dead-letters it). Lines whose measurement is not in `measurements` (when given)
 * are left out: acknowledged without being sent.
 */
export function batchMessages(body: Buffer, o: { address: (p: ParsedLine) => string; payload: 'json' | 'line'; measurements?: ReadonlySet<string> }): ToMessages {
  const messages: UplinkMessage[] = []
  for (const line of splitLines(body)) {
    if (!line) continue
    const p = parseLine(line)
    if (!p) return { ok: false, line }
    if (o.measurements && !o.measurements.has(p.measurement)) continue
    const id = pointId(p)
    const payload = o.payload === 'line' ? Buffer.from(line, 'utf8') : Buffer.from(JSON.stringify({ id, measurement: p.measurement, tags: p.tags, fields: p.fields, time: p.time } satisfies UplinkJson), 'utf8')
    messages.push({ id, address: o.address(p), payload })
  }
  return { ok: true, messages }
}

/**
 * Ids the far side acknowledged lately (a bounded, insertion-ordered set): a batch sent again after a
 * failure skips them. `capacity` must cover the batches that can be sent again (the drain's batch size
 * times its concurrency, with room).
 */
export interface Delivered {
  has(id: string): boolean
  add(id: string): void
  readonly size: number
}

export function createDelivered(capacity: number): Delivered {
  const ids = new Set<string>()
  return {
    has: (id) => ids.has(id),
    add(id) {
      if (ids.has(id)) return
      ids.add(id)
      if (ids.size > capacity) {
        const oldest = ids.values().next().value
        if (oldest !== undefined) ids.delete(oldest)
      }
    },
    get size() {
      return ids.size
    },
  }
}
