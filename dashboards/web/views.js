// The tables: one per device kind and the alarm list, each patched by key (device id, alarm id). A row's cells
// are made once and only their text changes; an alarm row's buttons stay the same elements for the alarm's
// life, so a press in progress survives every live update.
import { postJson } from './api.js'
import { holdButton } from './hold.js'
import { fmtDateTime, fmtNum, fmtSeen, t, tOr } from './i18n.js'
import { className, doorText, factorName, factorShort, KINDS, value } from './kinds.js'
import { h, patchList, setAttr, setText } from './patch.js'

const SEVERITY_ORDER = { critical: 0, warning: 1, info: 2 }
const STATE_ORDER = { active: 0, acknowledged: 1, shelved: 2 }
export const alarmState = (a) => a.state ?? (a.acknowledged ? 'acknowledged' : 'active')

// ---- sparklines: an SVG polyline per row. An ECharts instance per row would cost far more with 2,000 rows.
const SPARK_W = 72
const SPARK_H = 18
function sparkline() {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg')
  svg.setAttribute('viewBox', `0 0 ${SPARK_W} ${SPARK_H}`)
  svg.setAttribute('class', 'spark')
  svg.setAttribute('aria-hidden', 'true')
  svg.appendChild(document.createElementNS('http://www.w3.org/2000/svg', 'polyline'))
  return svg
}
function drawSpark(svg, pts) {
  const line = svg.firstChild
  if (!pts || pts.length < 2) {
    setAttr(line, 'points', '')
    svg.__drawn = ''
    return
  }
  // The same points as last drawn (the device sent nothing new for its main field): nothing to do.
  const drawn = `${pts.length}:${pts[0][0]}:${pts[pts.length - 1][0]}`
  if (svg.__drawn === drawn) return
  svg.__drawn = drawn
  let lo = Infinity
  let hi = -Infinity
  for (const [, v] of pts) {
    if (v < lo) lo = v
    if (v > hi) hi = v
  }
  const span = hi - lo || 1
  const t0 = pts[0][0]
  const dt = pts[pts.length - 1][0] - t0 || 1
  let s = ''
  for (const [tm, v] of pts) s += `${Math.round(((tm - t0) / dt) * SPARK_W * 10) / 10},${Math.round((SPARK_H - 1 - ((v - lo) / span) * (SPARK_H - 2)) * 10) / 10} `
  setAttr(line, 'points', s.trimEnd())
}

// A sparkline is drawn only while its row is in view (the tables scroll: of 2,000 rows a few dozen show); a row
// scrolled into view draws its line then. The rows' text is patched in or out of view (it is what tests and
// screen readers read); the sparklines are pictures (aria-hidden).
const sparkSeen = new WeakSet()
let sparkObserver = null
function watchSpark(svg) {
  if (typeof IntersectionObserver !== 'function') {
    sparkSeen.add(svg)
    return
  }
  sparkObserver ??= new IntersectionObserver((entries) => {
    for (const e of entries) {
      const el = e.target
      if (e.isIntersecting) {
        sparkSeen.add(el)
        drawSpark(el, el.__series)
      } else sparkSeen.delete(el)
    }
  })
  sparkObserver.observe(svg)
}
function updateSpark(svg, pts) {
  svg.__series = pts
  if (sparkSeen.has(svg)) drawSpark(svg, pts)
}

// ---- device tables
function classBadge(el, d) {
  const c = value(d, 'water_quality', 'gb3838_class')
  const f = value(d, 'water_quality', 'gb3838_factor')
  if (c === undefined) {
    setText(el, '')
    el.className = 'cls'
    setAttr(el, 'data-factor', '')
    setAttr(el, 'title', null)
    return
  }
  const fv = f ? value(d, 'water_quality', f) : undefined
  const shown = KINDS.water_quality.cols.some((col) => col[1] === f)
  // The badge names the deciding factor; when that factor has no column of its own, its value too.
  setText(el, `${className(c)}${f ? ` · ${factorShort(f)}${!shown && typeof fv === 'number' ? ` ${fmtNum(fv)}` : ''}` : ''}`)
  el.className = `cls cls-${c}`
  setAttr(el, 'data-factor', f ?? '')
  setAttr(el, 'title', f ? t('gb.decided', { cls: className(c), factor: factorName(f), value: typeof fv === 'number' ? fmtNum(fv) : '' }) : t('gb.title', { cls: className(c) }))
}

/** A device row, made once; `updateDeviceRow` fills it. */
function createDeviceRow(kind, d, ctx) {
  const spec = KINDS[kind]
  const tr = h('tr')
  tr.dataset.device = d.id
  tr.tabIndex = 0
  const name = h('td', 'dev')
  name.append(h('span', 'dot'), h('span', 'id'), h('small', 'site'))
  // Device ids, site names and plates are data, not text of the page: translate="no" (HTML), and the
  // language test skips them.
  name.translate = false
  tr.append(name)
  for (const col of spec.cols) {
    const td = h('td', col[4] ? 'opt num' : 'num')
    if (col[1] === 'plate') td.translate = false
    if (col[1] === 'gb3838_class') td.append(h('span', 'cls'))
    tr.append(td)
  }
  const sp = h('td', 'opt sparkcell')
  const svg = sparkline()
  sp.append(svg)
  watchSpark(svg)
  const seen = h('td', 'ago opt')
  seen.addEventListener('mouseenter', () => {
    seen.title = seen.dataset.ms ? fmtDateTime(Number(seen.dataset.ms)) : ''
  })
  tr.append(sp, seen)
  tr.addEventListener('click', () => ctx.openDetail(d.id))
  tr.addEventListener('keydown', (e) => e.key === 'Enter' && ctx.openDetail(d.id))
  return tr
}

/** Fill a device row from the device (only the cells whose text differs are written). */
export function updateDeviceRow(kind, tr, d, ctx) {
  const spec = KINDS[kind]
  const cells = tr.children
  const dot = cells[0].firstChild
  const st = ctx.deviceState(d)
  if (dot.className !== `dot ${st}`) {
    dot.className = `dot ${st}`
    dot.title = t(`state.${st}`)
  }
  setText(cells[0].children[1], d.id)
  setText(cells[0].children[2], d.site ?? '')
  const decidedBy = kind === 'water_quality' ? value(d, 'water_quality', 'gb3838_factor') : undefined
  for (let i = 0; i < spec.cols.length; i++) {
    const td = cells[i + 1]
    const [meas, field, , fmt] = spec.cols[i]
    if (field === 'gb3838_class') classBadge(td.firstChild, d)
    else if (field === 'door_state') setText(td, doorText(d))
    else {
      setText(td, fmt(value(d, meas, field)))
      td.classList.toggle('decided', decidedBy === field)
    }
  }
  updateSpark(cells[spec.cols.length + 1].firstChild, ctx.sparkSeries(d.id))
  // The full date and time of the last report when the pointer is on it (not formatted for every row each second).
  const seen = cells[spec.cols.length + 2]
  setText(seen, fmtSeen(d.lastSeenMs, ctx.now()))
  seen.dataset.ms = String(d.lastSeenMs ?? '')
}

/** All rows of a kind, in order (a device appeared or left): keyed patch of the table body. */
export function deviceTable(kind, tbody, list, ctx) {
  patchList(
    tbody,
    list,
    (d) => d.id,
    (d) => createDeviceRow(kind, d, ctx),
    (tr, d) => updateDeviceRow(kind, tr, d, ctx),
  )
}

// ---- elevators: one card per car (floor, direction, door, events), patched the same way.
function createCar(d, ctx) {
  const card = h('div', 'car')
  card.dataset.device = d.id
  const cid = h('div', 'car-id')
  cid.translate = false
  card.append(cid, h('div', 'car-floor'), h('div', 'car-dir'), h('div', 'car-door'), h('div', 'car-events'))
  card.addEventListener('click', () => ctx.openDetail(d.id))
  return card
}

export function updateCar(card, d, ctx) {
  const [id, floor, dir, door, events] = card.children
  setText(id, d.id)
  const f = value(d, 'elevator_status', 'floor')
  setText(floor, f === undefined ? '—' : t('elev.floor', { n: f }))
  const dv = value(d, 'elevator_status', 'direction')
  setText(dir, dv === undefined ? '' : `${dv === 'up' ? '▲' : dv === 'down' ? '▼' : '■'} ${tOr(`dir.${dv}`, dv)}`)
  setText(door, doorText(d))
  const ev = ctx.elevatorEvents(d.id)
  setText(events, ev.length ? ev.map((e) => tOr(`event.${e}`, e)).join(' · ') : t('elev.noEvents'))
  card.classList.toggle('alarm', ev.length > 0)
  card.classList.toggle('off', !d.online)
  setAttr(card, 'data-state', ctx.deviceState(d))
}

export function elevatorCards(box, list, ctx) {
  patchList(
    box,
    list,
    (d) => d.id,
    (d) => createCar(d, ctx),
    (card, d) => updateCar(card, d, ctx),
  )
}

// ---- alarms
export function sortAlarms(list) {
  return list.sort((a, b) => (SEVERITY_ORDER[a.severity] ?? 9) - (SEVERITY_ORDER[b.severity] ?? 9) || (STATE_ORDER[alarmState(a)] ?? 9) - (STATE_ORDER[alarmState(b)] ?? 9) || a.since - b.since || a.id.localeCompare(b.id))
}

function stateText(a) {
  const s = alarmState(a)
  if (s === 'acknowledged') return t('alarm.ackedBy', { by: a.ackBy ?? t('alarm.someone'), at: a.ackAt ? fmtDateTime(a.ackAt) : '' })
  if (s === 'shelved') return t('alarm.shelvedUntil', { until: fmtDateTime(a.shelvedUntil) })
  return t('alarm.unacked')
}

/** The refusal an operator reads, from the gateway's answer. */
export function refusal(r) {
  // Two error shapes: the routes' {error:{code,message}} and the token check's {error:'code', message}.
  const e = typeof r.body?.error === 'string' ? { code: r.body.error, message: r.body.message } : r.body?.error
  if (r.status === 403) return t('err.operate')
  if (r.status === 401) return t('err.token')
  if (r.status === 404) return t('err.gone')
  if (r.status === 409) return t('err.conflict', { msg: e?.message ?? '' })
  if (r.status === 0) return t('err.network')
  return t('err.http', { status: r.status, msg: e?.message ?? '' })
}

export function alarmTable(tbody, list, ctx) {
  patchList(
    tbody,
    list,
    (a) => a.id,
    (a) => {
      const tr = h('tr')
      tr.dataset.alarm = a.id
      const sev = h('td', 'sev')
      sev.append(h('span', 'sev-badge'))
      const what = h('td', 'what')
      what.append(h('b', 'rule'), h('span', 'val'), h('small', 'msg'))
      const dev = h('td', 'adev')
      dev.append(h('span', 'id'), h('small', 'site'))
      dev.translate = false
      const when = h('td', 'when')
      when.append(h('span', 'since'), h('small', 'astate'))
      const acts = h('td', 'acts')
      const ack = h('button', 'ack hold')
      ack.type = 'button'
      ack.dataset.ack = a.id
      ack.append(h('span', 'label'))
      holdButton(ack, () => ctx.act(tr, a.id, 'ack'))
      const shelveSel = h('select', 'shelve-min')
      for (const m of [15, 60, 240, 480]) {
        const o = h('option')
        o.value = String(m)
        shelveSel.append(o)
      }
      const shelve = h('button', 'shelve')
      shelve.type = 'button'
      shelve.addEventListener('click', () => ctx.act(tr, a.id, 'shelve', { minutes: Number(shelveSel.value) }))
      const unshelve = h('button', 'unshelve')
      unshelve.type = 'button'
      unshelve.addEventListener('click', () => ctx.act(tr, a.id, 'unshelve'))
      const clear = h('button', 'clear')
      clear.type = 'button'
      clear.addEventListener('click', () => ctx.act(tr, a.id, 'clear'))
      const err = h('div', 'row-error')
      err.setAttribute('role', 'alert')
      acts.append(ack, clear, shelveSel, shelve, unshelve, err)
      tr.append(sev, what, dev, when, acts)
      return tr
    },
    (tr, a) => {
      const [sev, what, dev, when, acts] = tr.children
      const [since, state] = when.children
      const badge = sev.firstChild
      badge.className = `sev-badge sev-${a.severity}`
      setText(badge, tOr(`sev.${a.severity}`, a.severity))
      setText(what.children[0], tOr(`rule.${a.rule}`, a.rule))
      setText(what.children[1], typeof a.value === 'number' ? fmtNum(a.value) : '')
      setAttr(what, 'title', a.message)
      setText(dev.children[0], a.device)
      setText(dev.children[1], a.site ?? '')
      setText(since, fmtDateTime(a.since))
      setText(state, stateText(a))
      const s = alarmState(a)
      tr.className = `st-${s} sev-row-${a.severity}`
      const [ack, clear, sel, shelve, unshelve] = acts.children
      ack.hidden = s !== 'active'
      setText(ack.firstChild, t('alarm.holdAck'))
      setAttr(ack, 'title', t('alarm.holdAckTitle'))
      sel.hidden = s === 'shelved'
      shelve.hidden = s === 'shelved'
      for (const o of sel.options) setText(o, t('alarm.minutes', { n: o.value }))
      setText(shelve, t('alarm.shelve'))
      unshelve.hidden = s !== 'shelved'
      setText(unshelve, t('alarm.unshelve'))
      setText(clear, t('alarm.clear'))
    },
  )
}

/** POST an alarm action; on refusal the row shows why (and keeps showing it until the next action). */
export async function alarmAction(tr, id, action, body, note) {
  const err = tr.querySelector('.row-error')
  setText(err, '')
  tr.classList.add('pending')
  const r = await postJson(`/api/alarms/${encodeURIComponent(id)}/${action}`, { ...body, ...(note ? { note } : {}) })
  tr.classList.remove('pending')
  if (!r.ok) setText(err, refusal(r))
  return r
}
