/**
 * The words of a notice, in Chinese by default (zh-CN) or English: one alarm change, or a digest of many.
 * Pure: the same events give the same text. Times are written with the date in the channel's time zone
 * (Asia/Shanghai by default), as operators read them.
 */
import type { AlarmAction, AlarmEvent } from '../alarms/events.ts'
import type { Severity } from '../alarms/store.ts'

export type Locale = 'zh-CN' | 'en'

interface Words {
  action: Record<AlarmAction, string>
  severity: Record<Severity, string>
  alarm: string
  digest: (n: number) => string
  rule: string
  device: string
  where: string
  value: string
  time: string
  since: string
  by: string
  note: string
  until: string
  message: string
  more: (n: number) => string
  colon: string
}

const WORDS: Record<Locale, Words> = {
  'zh-CN': {
    action: { raise: '告警发生', clear: '告警恢复', ack: '告警已确认', shelve: '告警已搁置', unshelve: '告警取消搁置' },
    severity: { critical: '严重', warning: '警告', info: '提示' },
    alarm: '告警',
    digest: (n) => `告警汇总：共 ${n} 条`,
    rule: '规则',
    device: '设备',
    where: '位置',
    value: '数值',
    time: '时间',
    since: '开始于',
    by: '操作人',
    note: '备注',
    until: '搁置至',
    message: '说明',
    more: (n) => `（续，另有 ${n} 条见下一条消息）`,
    colon: '：',
  },
  en: {
    action: { raise: 'Alarm raised', clear: 'Alarm cleared', ack: 'Alarm acknowledged', shelve: 'Alarm shelved', unshelve: 'Alarm unshelved' },
    severity: { critical: 'critical', warning: 'warning', info: 'info' },
    alarm: 'Alarm',
    digest: (n) => `Alarm digest: ${n} changes`,
    rule: 'Rule',
    device: 'Device',
    where: 'Where',
    value: 'Value',
    time: 'Time',
    since: 'Since',
    by: 'By',
    note: 'Note',
    until: 'Shelved until',
    message: 'Message',
    more: (n) => `(continued: ${n} more in the next message)`,
    colon: ': ',
  },
}

const formatters = new Map<string, Intl.DateTimeFormat>()

/** `2026-12-01 22:58:20` in `timeZone` (the date always written; 24-hour clock). */
export function formatTime(ms: number, timeZone: string): string {
  let f = formatters.get(timeZone)
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' })
    formatters.set(timeZone, f)
  }
  const p: Record<string, string> = {}
  for (const part of f.formatToParts(new Date(ms))) p[part.type] = part.value
  return `${p['year']}-${p['month']}-${p['day']} ${p['hour']}:${p['minute']}:${p['second']}`
}

export interface Text {
  /** Subject / DingTalk markdown title. */
  title: string
  /** Markdown body (DingTalk, WeCom). */
  markdown: string
  /** Plain text body (e-mail, webhook). */
  text: string
}

const where = (e: AlarmEvent): string => [e.district, e.site].filter((x) => x !== undefined && x !== '').join(' / ')

/** Markdown special characters in values that come from devices and operators. */
const md = (s: string): string => s.replace(/([\\`*_[\]<>#])/g, '\\$1')

/** The `key: value` rows of one event. */
function rows(e: AlarmEvent, w: Words, timeZone: string): [string, string][] {
  const r: [string, string][] = [
    [w.rule, e.rule],
    [w.device, e.kind ? `${e.device} (${e.kind})` : e.device],
  ]
  const at = where(e)
  if (at) r.push([w.where, at])
  if (e.value !== undefined) r.push([w.value, String(e.value)])
  r.push([w.time, formatTime(e.at, timeZone)])
  if (e.action !== 'raise') r.push([w.since, formatTime(e.since, timeZone)])
  if (e.actor !== undefined) r.push([w.by, e.actor])
  if (e.shelvedUntil !== undefined) r.push([w.until, formatTime(e.shelvedUntil, timeZone)])
  if (e.note !== undefined && e.note !== '') r.push([w.note, e.note])
  if (e.message !== '') r.push([w.message, e.message])
  return r
}

/** One change, as its own message. */
export function single(e: AlarmEvent, locale: Locale, timeZone: string): Text {
  const w = WORDS[locale]
  const title = locale === 'zh-CN' ? `【${w.severity[e.severity]}】${w.action[e.action]}：${e.rule} ${e.device}` : `[${w.severity[e.severity]}] ${w.action[e.action]}: ${e.rule} ${e.device}`
  const r = rows(e, w, timeZone)
  return {
    title,
    markdown: [`### ${md(title)}`, ...r.map(([k, v]) => `- **${k}**${w.colon}${md(v)}`)].join('\n'),
    text: [title, '', ...r.map(([k, v]) => `${k}: ${v}`)].join('\n'),
  }
}

/** One line of a digest: severity, action, rule, device, value, time (and who, for an operator's action). */
export function digestLine(e: AlarmEvent, locale: Locale, timeZone: string): string {
  const w = WORDS[locale]
  const parts = [`[${w.severity[e.severity]}]`, w.action[e.action], e.rule, e.device]
  if (e.value !== undefined) parts.push(`${w.value} ${e.value}`)
  parts.push(formatTime(e.at, timeZone))
  if (e.actor !== undefined) parts.push(`${w.by} ${e.actor}`)
  return parts.join(' ')
}

/** Many changes as one message: a heading with the count and one line per change. */
export function digest(events: readonly AlarmEvent[], locale: Locale, timeZone: string, more = 0): Text {
  const w = WORDS[locale]
  const title = w.digest(events.length)
  const lines = events.map((e) => digestLine(e, locale, timeZone))
  const tail = more > 0 ? [w.more(more)] : []
  return {
    title,
    markdown: [`### ${md(title)}`, ...lines.map((l) => `- ${md(l)}`), ...tail].join('\n'),
    text: [title, '', ...lines, ...tail].join('\n'),
  }
}

export const bytes = (s: string): number => Buffer.byteLength(s, 'utf8')
