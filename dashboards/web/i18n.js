// Every string the page shows comes from one catalogue per language (i18n/zh-CN.json, i18n/en.json);
// zh-CN is the default, the choice is remembered in localStorage. Dates and times always carry the date and
// are shown in the district's time zone (Intl.DateTimeFormat timeZone), not the browser's.
export const LANGS = ['zh-CN', 'en']
const LANG_KEY = 'smartcity.lang'
const catalogues = {}
let lang = 'zh-CN'
let timeZone = 'Asia/Shanghai'
let dtf
let tf
let money
const nfs = new Map()

export function initialLang() {
  const saved = localStorage.getItem(LANG_KEY)
  return LANGS.includes(saved) ? saved : 'zh-CN'
}

export async function setLang(next, remember = true) {
  if (!catalogues[next]) {
    const res = await fetch(`/i18n/${next}.json`, { cache: 'no-cache' })
    if (!res.ok) throw new Error(`catalogue ${next}: HTTP ${res.status}`)
    catalogues[next] = await res.json()
  }
  lang = next
  if (remember) localStorage.setItem(LANG_KEY, next)
  document.documentElement.lang = next
  formats()
}

export function setTimeZone(tz) {
  if (tz) timeZone = tz
  formats()
}

function formats() {
  dtf = new Intl.DateTimeFormat(lang, { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' })
  tf = new Intl.DateTimeFormat(lang, { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
  offsetAt = 0
  money = new Intl.NumberFormat(lang, { style: 'currency', currency: 'CNY' })
  nfs.clear()
}

export const currentLang = () => lang
export const currentTimeZone = () => timeZone

/** The catalogue's text for `key`, `{name}` placeholders filled from `vars`; a missing key shows as itself. */
export function t(key, vars) {
  const s = catalogues[lang]?.[key] ?? catalogues['zh-CN']?.[key] ?? key
  return vars ? s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] === undefined ? '' : String(vars[k]))) : s
}

/** `t(key)` when the catalogue has it, else `fallback` (data such as a rule name the catalogue does not know). */
export function tOr(key, fallback) {
  const s = catalogues[lang]?.[key]
  return s ?? fallback
}

/** Date and time, with the date, in the district's time zone: 2026/12/01 22:58:20. */
export const fmtDateTime = (ms) => (ms === null || ms === undefined ? '—' : dtf.format(ms))
export const fmtTime = (ms) => tf.format(ms)
let offsetAt = 0
let offsetMs = 0
/**
 * A last-report time: the time of day (23:31:52) when it is today in the district, else the date and time.
 * Thousands of rows a second: the district's UTC offset is taken once a minute and the time of day computed
 * from it, without an Intl call per row.
 */
export function fmtSeen(ms, now) {
  if (ms === null || ms === undefined) return t('time.never')
  if (now - offsetAt > 60_000 || now < offsetAt) {
    const p = Object.fromEntries(new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric', hourCycle: 'h23' }).formatToParts(now).map((x) => [x.type, x.value]))
    offsetMs = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - Math.floor(now / 1000) * 1000
    offsetAt = now
  }
  const local = ms + offsetMs
  if (Math.floor(local / 86_400_000) !== Math.floor((now + offsetMs) / 86_400_000)) return dtf.format(ms)
  const s = Math.floor(local / 1000) % 86_400
  const two = (n) => (n < 10 ? `0${n}` : String(n))
  return `${two(Math.floor(s / 3600))}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}`
}

/** Fees: fen → yuan, ¥12.35 (zh-CN) / CN¥12.35 (en). */
export const fmtYuan = (fen) => money.format(fen / 100)

export function fmtNum(v, decimals) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return v === undefined || v === null ? '' : String(v)
  const d = decimals ?? (Number.isInteger(v) ? 0 : Math.abs(v) >= 100 ? 1 : Math.abs(v) >= 10 ? 2 : 3)
  let nf = nfs.get(d)
  if (!nf) {
    nf = new Intl.NumberFormat(lang, { maximumFractionDigits: d, useGrouping: false })
    nfs.set(d, nf)
  }
  return nf.format(v)
}

/** Relative age in seconds/minutes/hours from the catalogue. */
export function fmtAgo(ms, now) {
  if (ms === null || ms === undefined) return t('time.never')
  const s = Math.max(0, Math.round((now - ms) / 1000))
  if (s < 60) return t('time.secondsAgo', { n: s })
  if (s < 3600) return t('time.minutesAgo', { n: Math.floor(s / 60) })
  return t('time.hoursAgo', { n: Math.floor(s / 3600) })
}

/** Static text in the HTML: data-i18n (text), data-i18n-title, data-i18n-placeholder, data-i18n-aria. */
export function applyStatic(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n)
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle)
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder)
  for (const el of root.querySelectorAll('[data-i18n-aria]')) el.setAttribute('aria-label', t(el.dataset.i18nAria))
  document.title = t('app.title')
}

/** Both catalogues' keys (for the test that they match). */
export const catalogueKeys = (l) => Object.keys(catalogues[l] ?? {})
