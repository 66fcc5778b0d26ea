// The operators' dashboard: one event stream (/api/live: a snapshot, then once a second a delta of what
// changed), patched into the page by key. Plain ES modules served as files by the gateway; no build step and
// nothing fetched from outside this gateway. See docs/dashboard.md.
import { authHeaders, getJson, hasToken, history, setHistoryAvailable, setToken } from './api.js'
import { drawEtc, drawHistory, drawLoad, drawMap, drawUse, registerDistrict, resetCharts, resizeCharts, setChartTheme } from './charts.js'
import { gcj02ToWgs84, geojsonToWgs84 } from './geo.js'
import { applyStatic, currentLang, fmtDateTime, fmtNum, initialLang, setLang, setTimeZone, t, tOr } from './i18n.js'
import { KIND_ORDER, KINDS } from './kinds.js'
import { h, patchList, setText } from './patch.js'
import { alarmAction, alarmState, alarmTable, deviceTable, elevatorCards, sortAlarms, updateCar, updateDeviceRow } from './views.js'

const $ = (id) => document.getElementById(id)
const TRACK_MS = 30 * 60_000
const SPARK_N = 40
const ENERGY_INTERVAL_MIN = 15
const ETC_MINUTES = 60

const state = {
  gateway: '',
  district: '',
  devices: new Map(),
  alarms: new Map(),
  counters: { received: 0, accepted: 0, rejected: 0, spoolPoints: 0 },
  clockSkew: 0,
  whoami: null,
  mapView: null,
  placed: new Map(), // device id → [lon, lat] from the GeoJSON's Point features (stations, gantries, meters)
  spark: new Map(), // device id → [[ms, v], ...] of the kind's main field
  tracks: new Map(), // vehicle id → [[ms, lon, lat], ...] (last 30 min)
  etcSeen: new Map(), // device id → time of the last counted passage (a gateway without `counts` only)
  etcCounts: new Map(), // device id → { result: passages since the gateway started } as last received
  etcMinutes: new Map(), // minute start ms → { result: count }
  etcLiveFrom: null, // gateway time of the snapshot live counting started from (history is read up to it)
  load: [], // [[ms, kW]] district load (sum of active power)
  lastKwh: new Map(), // meter id → last import_energy_kwh
  use: new Map(), // interval start ms → kWh
  detail: null, // { id, measurement, fields, series }
  // What the next render must touch: the devices that changed, whether the set of devices changed (then
  // the tables are patched whole, in order), whether the alarms changed.
  dirty: new Set(),
  membership: true,
  alarmsChanged: true,
}
const now = () => Date.now() + state.clockSkew
// For the benchmark and the tests: scripting time per update (ms), bytes and events read from the stream.
// phases: per update, the ms of each step ([parse+apply, alarms, markers, charts, tables, counters]) and the
// number of devices in it and the charts' turn (-2: none, -1: all, else the index in TURNS), to find the tail.
const perf = { updates: 0, bytes: 0, timings: [], chartsMs: [], snapshotMs: 0, phases: [] }
let phase = null
const mark = (i, t0) => {
  const t1 = performance.now()
  if (phase) phase[i] += t1 - t0
  return t1
}
globalThis.__dash = { perf, state }

// ---- layout: wall (1920x1080, dark), laptop (1366x768), phone (390 px); ?layout= and ?theme= override.
const params = new URLSearchParams(location.search)
function layout() {
  const forced = params.get('layout')
  const l = ['wall', 'laptop', 'phone'].includes(forced) ? forced : innerWidth >= 1700 ? 'wall' : innerWidth >= 760 ? 'laptop' : 'phone'
  const th = params.get('theme') ?? (l === 'wall' ? 'dark' : 'light')
  document.body.dataset.layout = l
  document.body.dataset.theme = th
  setChartTheme(th === 'dark' ? 'dark' : 'light')
}

// ---- derived series, fed by every device update
function pushSpark(d) {
  const [meas, field] = KINDS[d.kind]?.main ?? []
  const p = d.latest?.[meas]
  const v = p?.fields?.[field]
  if (typeof v !== 'number') return
  let s = state.spark.get(d.id)
  if (!s) {
    s = []
    state.spark.set(d.id, s)
  }
  if (s.length && s[s.length - 1][0] >= p.time) return
  s.push([p.time, v])
  if (s.length > SPARK_N) s.shift()
}

// ETC passages per minute from the gateway's running counts per result (docs/dashboard-api.md `counts`): what a
// count grew by since the last message is every passage in between, however many a second, and goes to the
// minute of the delta's time (`etcAt`). A snapshot (`etcAt` null) only sets where counting starts: what came
// before it is the history's (seedEtc reads it up to the snapshot's time, so no passage is counted twice).
let etcAt = null
function countPassages(id, counts) {
  const prev = state.etcCounts.get(id)
  state.etcCounts.set(id, counts)
  if (etcAt === null) return
  const m = Math.floor(etcAt / 60_000) * 60_000
  let b = null
  for (const [r, n] of Object.entries(counts)) {
    // A count below the last one: the gateway restarted (counts from zero again) without the page noticing.
    const was = prev ? (prev[r] ?? 0) : 0
    const add = n >= was ? n - was : n
    if (add <= 0) continue
    b ??= state.etcMinutes.get(m) ?? {}
    b[r] = (b[r] ?? 0) + add
  }
  if (b) state.etcMinutes.set(m, b)
}

function ingest(d) {
  if (!state.devices.has(d.id)) state.membership = true
  state.devices.set(d.id, d)
  state.dirty.add(d.id)
  pushSpark(d)
  const pos = d.latest?.position
  if (pos && typeof pos.fields.lat === 'number' && typeof pos.fields.lon === 'number') {
    let tr = state.tracks.get(d.id)
    if (!tr) {
      tr = []
      state.tracks.set(d.id, tr)
    }
    if (!tr.length || tr[tr.length - 1][0] < pos.time) tr.push([pos.time, pos.fields.lon, pos.fields.lat])
    const cut = now() - TRACK_MS
    while (tr.length && tr[0][0] < cut) tr.shift()
  }
  const counts = d.counts?.etc_transaction
  if (counts) countPassages(d.id, counts)
  const etc = counts ? undefined : d.latest?.etc_transaction
  if (etc && (state.etcSeen.get(d.id) ?? 0) < etc.time) {
    // A gateway without `counts`: only each device's latest passage per delta, counted once by its time (two
    // passages of one gantry within the same second count as one here; the stored history has every one).
    if (state.etcSeen.has(d.id) || now() - etc.time < 5_000) {
      const m = Math.floor(etc.time / 60_000) * 60_000
      const r = etc.tags?.result ?? 'ok'
      const b = state.etcMinutes.get(m) ?? {}
      b[r] = (b[r] ?? 0) + 1
      state.etcMinutes.set(m, b)
    }
    state.etcSeen.set(d.id, etc.time)
  }
  const kwh = d.latest?.energy_meter?.fields?.import_energy_kwh
  if (typeof kwh === 'number') {
    const last = state.lastKwh.get(d.id)
    if (last !== undefined && kwh >= last) {
      const b = Math.floor(d.latest.energy_meter.time / (ENERGY_INTERVAL_MIN * 60_000)) * ENERGY_INTERVAL_MIN * 60_000
      state.use.set(b, (state.use.get(b) ?? 0) + (kwh - last))
    }
    state.lastKwh.set(d.id, kwh)
  }
  if (state.detail?.id === d.id) {
    const p = d.latest?.[state.detail.measurement]
    if (p) for (const f of state.detail.fields) if (typeof p.fields[f] === 'number') appendSeries(state.detail.series, f, [p.time, p.fields[f]])
  }
}

function appendSeries(series, f, pt) {
  if (!series[f]) series[f] = []
  const s = series[f]
  if (!s.length || s[s.length - 1][0] < pt[0]) s.push(pt)
}

function sampleLoad() {
  let kw = 0
  let n = 0
  for (const d of state.devices.values()) {
    const v = d.kind === 'energy_meter' && d.online ? d.latest?.energy_meter?.fields?.active_power_kw : undefined
    if (typeof v === 'number') {
      kw += v
      n++
    }
  }
  if (n === 0) return
  const tm = now()
  const last = state.load[state.load.length - 1]
  if (last && tm - last[0] < 10_000) last[1] = Math.round(kw * 100) / 100
  else state.load.push([tm, Math.round(kw * 100) / 100])
  while (state.load.length && state.load[0][0] < tm - 6 * 3600_000) state.load.shift()
}

// ---- device state as the map and the tables show it
const alarmedDevices = new Map()
function indexAlarms() {
  for (const id of alarmedDevices.keys()) state.dirty.add(id)
  alarmedDevices.clear()
  for (const a of state.alarms.values()) {
    const s = alarmState(a)
    const prev = alarmedDevices.get(a.device)
    if (s === 'active' || !prev) alarmedDevices.set(a.device, s === 'active' ? 'alarm' : 'ack')
    state.dirty.add(a.device)
  }
}
const deviceState = (d) => (alarmedDevices.get(d.id) ?? (d.online ? 'ok' : 'offline'))
function elevatorEvents(id) {
  const out = []
  for (const a of state.alarms.values()) if (a.device === id && a.kind === 'elevator') out.push(a.rule.replace(/^elevator_/, ''))
  const ev = state.devices.get(id)?.latest?.elevator_event
  if (ev?.fields?.active === true && ev.tags?.event && !out.includes(ev.tags.event)) out.push(ev.tags.event)
  return out
}

// ---- rendering
const ctx = {
  now,
  deviceState,
  elevatorEvents,
  sparkSeries: (id) => state.spark.get(id),
  openDetail: (id) => openDetail(id),
  act: async (tr, id, action, body) => {
    const note = $('alarm-note').value.trim()
    const r = await alarmAction(tr, id, action, body, note)
    if (r.ok) {
      $('alarm-note').value = ''
      // The answer carries the alarm after the action (for clear: as it was, now gone from the list).
      const a = r.body?.alarm
      if (action === 'clear') state.alarms.delete(id)
      else if (a) state.alarms.set(a.id, a)
      state.alarmsChanged = true
      render(false)
    } else if (r.status === 401) askToken(t('auth.refused'))
    return r
  },
}

function byKind() {
  const m = new Map(KIND_ORDER.map((k) => [k, []]))
  for (const d of state.devices.values()) m.get(d.kind)?.push(d)
  for (const l of m.values()) l.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  return m
}

function patchRow(id, el) {
  const d = state.devices.get(id)
  if (!d) return
  if (d.kind === 'elevator') updateCar(el, d, ctx)
  else updateDeviceRow(d.kind, el, d, ctx)
}

// Which rows (and cars) are inside their table's scroll box, by an IntersectionObserver per table: a delta
// patches those at once and marks the others stale; a stale row is patched as it scrolls into view.
const rowsInView = typeof IntersectionObserver === 'function' ? new WeakSet() : null
const staleRows = new Set()
const rowObservers = new Map()
function watchRows(box) {
  if (!rowsInView) return
  const root = box.classList.contains('cars') ? box : box.closest('.scroll')
  let io = rowObservers.get(root)
  if (!io) {
    io = new IntersectionObserver(
      (entries) => {
        for (const e of entries) {
          const el = e.target
          if (!e.isIntersecting) {
            rowsInView.delete(el)
            continue
          }
          rowsInView.add(el)
          if (staleRows.delete(el)) patchRow(el.dataset.key, el)
        }
      },
      { root, rootMargin: '200px 0px' },
    )
    rowObservers.set(root, io)
  }
  for (const el of box.children) io.observe(el)
}

// Rows by device id: a delta touches only the rows of the devices in it (2,000 rows, a few hundred changed).
const rowOf = new Map()
let kindsCache = null
function renderTables() {
  if (state.membership) {
    kindsCache = byKind()
    rowOf.clear()
    staleRows.clear()
    for (const kind of KIND_ORDER) {
      const list = kindsCache.get(kind)
      const sec = document.querySelector(`section[data-kind="${kind}"]`)
      if (!sec) continue
      sec.classList.toggle('empty', list.length === 0)
      const box = kind === 'elevator' ? sec.querySelector('.cars') : sec.querySelector('tbody')
      if (kind === 'elevator') elevatorCards(box, list, ctx)
      else deviceTable(kind, box, list, ctx)
      for (const el of box.children) rowOf.set(el.dataset.key, el)
      watchRows(box)
    }
  } else {
    for (const id of state.dirty) {
      const el = rowOf.get(id)
      if (!el) continue
      // A row scrolled out of its table's view is patched when it comes back into view, with the device as
      // it is then (of 1,200 stations a few dozen show: the rest would be written for nobody).
      if (rowsInView && !rowsInView.has(el)) staleRows.add(el)
      else patchRow(id, el)
    }
  }
  for (const kind of KIND_ORDER) {
    const list = kindsCache.get(kind)
    let online = 0
    for (const d of list) if (d.online) online++
    const sec = document.querySelector(`section[data-kind="${kind}"] .count`)
    if (sec) setText(sec, t('kind.online', { online, total: list.length }))
  }
}

function renderAlarms() {
  indexAlarms()
  const list = sortAlarms([...state.alarms.values()])
  alarmTable($('alarms').querySelector('tbody'), list, ctx)
  const active = list.filter((a) => alarmState(a) === 'active').length
  setText($('alarm-count'), String(list.length))
  setText($('k-alarms'), String(active))
  $('no-alarms').hidden = list.length > 0
  $('alarms').hidden = list.length === 0
}

function renderCounters() {
  const c = state.counters
  setText($('k-received'), fmtNum(c.received ?? 0))
  setText($('k-accepted'), fmtNum(c.accepted ?? 0))
  setText($('k-rejected'), fmtNum(c.rejected ?? 0))
  setText($('k-spool'), fmtNum(c.spoolPoints ?? 0))
  let on = 0
  for (const d of state.devices.values()) if (d.online) on++
  setText($('k-online'), `${on} / ${state.devices.size}`)
}

// Map markers by device id, remade only for the devices that changed.
const markerOf = new Map()
function updateMarkers(ids) {
  for (const id of ids) {
    const d = state.devices.get(id)
    const pos = d?.latest?.position?.fields
    const at = d && (typeof pos?.lat === 'number' ? [pos.lon, pos.lat] : (d.location ?? state.placed.get(d.id)))
    if (!at) {
      markerOf.delete(id)
      continue
    }
    markerOf.set(id, { id, kind: d.kind, state: deviceState(d), lon: at[0], lat: at[1] })
  }
}
/** The tooltip of a marker, made when the pointer is on it. */
function markerLabel(id) {
  const d = state.devices.get(id)
  return d ? `${tOr(`kind.${d.kind}`, d.kind)} ${d.id}${d.site ? ` · ${d.site}` : ''} · ${t(`state.${deviceState(d)}`)}` : id
}

let mapReady = false
let chartsDue = 0
/**
 * The vehicles' tracks as the map wants them, made only when the map draws them (every 6 s). A track is
 * drawn with at most TRACK_POINTS points (every k-th position and always the latest): at a district's
 * scale a 30-minute line of 120 points is the same line, and 150 vehicles of 360 points each were the
 * slowest second of the page.
 */
const TRACK_POINTS = 120
const mapTracks = () =>
  [...state.tracks]
    .filter(([, tr]) => tr.length > 1)
    .map(([id, tr]) => {
      const k = Math.ceil(tr.length / TRACK_POINTS)
      const coords = []
      for (let i = (tr.length - 1) % k; i < tr.length; i += k) coords.push([tr[i][1], tr[i][2]])
      return { id, coords }
    })
// The charts take turns, one a second in a 6-second cycle, so no update carries two of them: the map (its
// markers every 2 s, the tracks every 6 s), the district load, the energy per interval, the ETC passages.
// A forced render (snapshot, language, geometry) draws them all.
const TURNS = ['map+tracks', 'load', 'map', 'use', 'map', 'etc']
let slowStep = 0
function renderCharts(force) {
  const tm = performance.now()
  // The charts change at most once a second and only when the page is visible.
  if (!force && (tm < chartsDue || document.hidden)) return
  chartsDue = tm + 1000
  const c0 = performance.now()
  const step = force ? -1 : slowStep
  if (phase) phase[7] = step
  slowStep = force ? 1 : (slowStep + 1) % TURNS.length
  const turn = step === -1 ? 'all' : TURNS[step]
  if (mapReady && (turn === 'all' || turn.startsWith('map'))) {
    drawMap($('map'), [...markerOf.values()], turn !== 'map' ? mapTracks : null, state.mapView, openDetail, markerLabel)
  }
  // Energy in 15-minute intervals and ETC passages per minute: every 6 s is live enough.
  if (turn === 'all' || turn === 'load') drawLoad($('energy-load'), state.load)
  if (turn === 'all' || turn === 'use') {
    const use = [...state.use].sort((a, b) => a[0] - b[0]).map(([k, v]) => [k + (ENERGY_INTERVAL_MIN * 60_000) / 2, Math.round(v * 100) / 100])
    drawUse($('energy-use'), use, ENERGY_INTERVAL_MIN)
  }
  if (turn === 'all' || turn === 'etc') {
    const cut = now() - ETC_MINUTES * 60_000
    for (const k of state.etcMinutes.keys()) if (k < cut) state.etcMinutes.delete(k)
    drawEtc($('etc-chart'), state.etcMinutes)
  }
  perf.chartsMs.push(performance.now() - c0)
  if (perf.chartsMs.length > 5000) perf.chartsMs.shift()
}

function render(force) {
  if (force) {
    state.membership = true
    state.alarmsChanged = true
  }
  // Charts first: ECharts reads its containers' sizes, which after the tables' writes would force the
  // browser to lay out the whole page synchronously; before them the layout is still clean.
  let t0 = performance.now()
  if (state.alarmsChanged) indexAlarms()
  updateMarkers(state.membership ? state.devices.keys() : state.dirty)
  t0 = mark(2, t0)
  renderCharts(force)
  t0 = mark(3, t0)
  if (state.alarmsChanged) renderAlarms()
  t0 = mark(1, t0)
  renderTables()
  t0 = mark(4, t0)
  renderCounters()
  mark(5, t0)
  if (state.detail && (force || state.dirty.has(state.detail.id))) renderDetail()
  state.dirty.clear()
  state.membership = false
  state.alarmsChanged = false
}

function tick() {
  setText($('clock'), fmtDateTime(now()))
  setText($('tz'), t('app.timeZone', { tz: tz }))
}
let tz = 'Asia/Shanghai'

// ---- the stream
function onSnapshot(s) {
  const t0 = performance.now()
  if (typeof s.now === 'number') state.clockSkew = s.now - Date.now()
  state.gateway = s.gateway ?? state.gateway
  state.district = s.district ?? state.district
  if (s.timeZone && s.timeZone !== tz) {
    tz = s.timeZone
    setTimeZone(tz)
  }
  state.devices.clear()
  etcAt = null
  state.etcLiveFrom ??= typeof s.now === 'number' ? s.now : now()
  for (const d of s.devices) ingest(d)
  state.alarms = new Map(s.alarms.map((a) => [a.id, a]))
  state.alarmsChanged = true
  state.membership = true
  markerOf.clear()
  state.counters = s.counters ?? state.counters
  sampleLoad()
  setText($('district'), tOr(`district.${state.district}`, state.district))
  setText($('gateway'), state.gateway)
  render(true)
  perf.snapshotMs = performance.now() - t0
  maybeSeed()
}

function onDelta(u, t0 = performance.now()) {
  phase = [0, 0, 0, 0, 0, 0, u.devices?.length ?? 0, -2]
  if (typeof u.now === 'number') state.clockSkew = u.now - Date.now()
  etcAt = typeof u.now === 'number' ? u.now : now()
  for (const d of u.devices ?? []) ingest(d)
  if (Array.isArray(u.removedAlarms)) {
    for (const a of u.alarms ?? []) state.alarms.set(a.id, a)
    for (const id of u.removedAlarms) state.alarms.delete(id)
    if (u.alarms?.length || u.removedAlarms.length) state.alarmsChanged = true
  } else if (Array.isArray(u.alarms)) {
    // The older `update` event: the whole active list.
    state.alarms = new Map(u.alarms.map((a) => [a.id, a]))
    state.alarmsChanged = true
  }
  if (u.counters) state.counters = u.counters
  sampleLoad()
  mark(0, t0)
  render(false)
  perf.updates++
  perf.timings.push(performance.now() - t0)
  perf.phases.push(phase.map((x) => Math.round(x * 10) / 10))
  phase = null
  if (perf.timings.length > 5000) perf.timings.shift()
  if (perf.phases.length > 5000) perf.phases.shift()
}

function dispatch(block) {
  let event = 'message'
  const data = []
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim()
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''))
  }
  if (data.length === 0) return
  // An update's time starts before its text is parsed: parsing is part of the page's work per update.
  const t0 = performance.now()
  const msg = JSON.parse(data.join('\n'))
  if (event === 'snapshot') onSnapshot(msg)
  else if (event === 'delta' || event === 'update') onDelta(msg, t0)
}

let stream = null
let retryTimer = null
let watchdog = null
let lastEventAt = 0
const retry = (ms) => {
  clearTimeout(retryTimer)
  retryTimer = setTimeout(connect, ms)
}

function linkState(s) {
  const el = $('link')
  el.className = `link ${s}`
  el.dataset.state = s
  setText(el, t(`link.${s}`))
}

async function connect() {
  clearTimeout(retryTimer)
  stream?.abort()
  const ac = new AbortController()
  stream = ac
  let res
  try {
    res = await fetch('/api/live', { headers: authHeaders(), signal: ac.signal, cache: 'no-store' })
  } catch {
    if (!ac.signal.aborted) {
      linkState('reconnecting')
      retry(2000)
    }
    return
  }
  if (res.status === 401) return askToken(hasToken() ? t('auth.refused') : t('auth.needed'))
  if (res.status === 403) return askToken(t('auth.noRead'))
  if (res.status === 429) {
    const s = Number(res.headers.get('retry-after')) || 30
    linkState('locked')
    notice(t('auth.locked', { s }))
    return retry(s * 1000)
  }
  if (!res.ok || !res.body) {
    linkState('reconnecting')
    return retry(2000)
  }
  notice('')
  linkState('up')
  loadWhoami()
  if (!configOk)
    loadMap().then(() => {
      render(true)
      maybeSeed()
    })
  // Deltas come once a second: five seconds of silence means the stream is dead even if the socket is not
  // (a gateway that stopped without closing it, a proxy): drop it and connect again.
  lastEventAt = performance.now()
  clearInterval(watchdog)
  watchdog = setInterval(() => {
    if (stream === ac && performance.now() - lastEventAt > 5_000) {
      clearInterval(watchdog)
      ac.abort()
      linkState('reconnecting')
      retry(1000)
    }
  }, 1000)
  const reader = res.body.getReader()
  const dec = new TextDecoder()
  let buf = ''
  try {
    for (;;) {
      const { value: chunk, done } = await reader.read()
      if (done) break
      perf.bytes += chunk.byteLength
      lastEventAt = performance.now()
      buf += dec.decode(chunk, { stream: true }).replace(/\r\n?/g, '\n')
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        const block = buf.slice(0, i)
        buf = buf.slice(i + 2)
        try {
          dispatch(block)
        } catch (err) {
          // A fault of the page's own, not of the stream: say so and keep reading.
          console.error('dashboard: applying an event failed', err)
        }
      }
    }
  } catch {
    // aborted or the connection broke: reconnect below unless this stream was replaced
  }
  if (stream === ac && !ac.signal.aborted) {
    linkState('reconnecting')
    retry(1000)
  }
}

// ---- access
function notice(text) {
  setText($('notice'), text)
  $('notice').hidden = !text
}

function askToken(message) {
  linkState('noaccess')
  setText($('auth-msg'), message)
  $('auth').hidden = false
  $('token').value = ''
  $('token').focus()
}

async function loadWhoami() {
  const r = await getJson('/api/whoami')
  state.whoami = r.ok ? r.body : null
  const who = state.whoami
  setText($('who'), who ? t('auth.who', { actor: who.open ? t('auth.open') : (who.actor ?? ''), scopes: (who.scopes ?? []).map((s) => tOr(`scope.${s}`, s)).join(' · ') }) : '')
}

$('auth').addEventListener('submit', (e) => {
  e.preventDefault()
  setToken($('token').value.trim())
  $('auth').hidden = true
  $('signout').hidden = false
  connect()
})
$('signout').addEventListener('click', () => {
  setToken(null)
  $('signout').hidden = true
  stream?.abort()
  askToken(t('auth.forgotten'))
})
$('signout').hidden = !hasToken()

// ---- device detail with its history
function detailSpec(d) {
  const spec = KINDS[d.kind]
  const measurement = spec?.main[0] ?? Object.keys(d.latest ?? {})[0]
  // The kind's chart fields the device sends (all of them when it has sent nothing live yet).
  const fields = (spec?.chart ?? []).filter((f) => d.latest?.[measurement]?.fields?.[f] !== undefined)
  return { measurement, fields: fields.length ? fields : (spec?.chart ?? []) }
}

async function openDetail(id) {
  const d = state.devices.get(id)
  if (!d) return
  const { measurement, fields } = detailSpec(d)
  state.detail = { id, measurement, fields, series: {}, loading: true }
  const dlg = $('detail')
  if (!dlg.open) dlg.showModal()
  renderDetail()
  const hist = await history(id, measurement, fields, { since: '6h', every: '1m', ...(measurement === 'water_quality' ? { interval: 'realtime' } : {}) })
  if (state.detail?.id !== id) return
  state.detail.loading = false
  state.detail.noHistory = !hist
  if (hist) {
    const live = state.detail.series
    state.detail.series = {}
    for (const f of fields) {
      const h0 = (hist[f] ?? []).filter((p) => p[1] !== null)
      const last = h0.length ? h0[h0.length - 1][0] : -Infinity
      state.detail.series[f] = [...h0, ...(live[f] ?? []).filter((p) => p[0] > last)]
    }
  }
  renderDetail()
}

function renderDetail() {
  const det = state.detail
  const d = state.devices.get(det.id)
  if (!d) return
  setText($('detail-title'), `${tOr(`kind.${d.kind}`, d.kind)} ${d.id}`)
  setText($('detail-site'), d.site ?? '')
  const rows = []
  for (const [meas, p] of Object.entries(d.latest ?? {})) for (const [f, v] of Object.entries(p.fields)) rows.push({ key: `${meas}.${f}`, f, v: typeof v === 'number' ? fmtNum(v) : typeof v === 'boolean' ? t(v ? 'bool.yes' : 'bool.no') : String(v), time: p.time })
  patchList(
    $('detail-fields'),
    rows,
    (r) => r.key,
    () => {
      const li = h('li')
      li.append(h('span', 'k'), h('b', 'v'))
      return li
    },
    (li, r) => {
      setText(li.children[0], tOr(`field.${r.f}`, r.f))
      setText(li.children[1], r.v)
      li.title = fmtDateTime(r.time)
    },
  )
  setText($('detail-status'), det.loading ? t('detail.loading') : det.noHistory ? t('detail.noHistory') : t('detail.history', { n: det.fields.length }))
  drawHistory($('detail-chart'), det.series, det.fields)
}

$('detail-close').addEventListener('click', () => $('detail').close())
$('detail').addEventListener('close', () => {
  state.detail = null
})

// ---- energy and ETC history (consumption per interval from the counter differences, /api/history mode=delta)
async function seedEnergy() {
  const meters = [...state.devices.values()].filter((d) => d.kind === 'energy_meter').slice(0, 20)
  const got = await Promise.all(meters.map((m) => history(m.id, 'energy_meter', ['import_energy_kwh'], { since: '6h', every: `${ENERGY_INTERVAL_MIN}m`, mode: 'delta' })))
  const loads = await Promise.all(meters.map((m) => history(m.id, 'energy_meter', ['active_power_kw'], { since: '6h', every: '5m' })))
  const use = new Map()
  for (const s of got) for (const [ms, v] of s?.import_energy_kwh ?? []) if (typeof v === 'number') use.set(ms, (use.get(ms) ?? 0) + v)
  for (const [k, v] of use) if (!state.use.has(k)) state.use.set(k, v)
  const load = new Map()
  for (const s of loads) for (const [ms, v] of s?.active_power_kw ?? []) if (typeof v === 'number') load.set(ms, (load.get(ms) ?? 0) + v)
  const first = state.load[0]?.[0] ?? Infinity
  const older = [...load].filter(([k]) => k < first).sort((a, b) => a[0] - b[0])
  state.load.unshift(...older.map(([k, v]) => [k, Math.round(v * 100) / 100]))
  renderCharts(true)
}

// ETC passages per minute of the last hour from the history (mode=count, per result), up to the snapshot the
// live counts start from: the minute the page loaded in is the history's part before the snapshot plus the
// live part after it, added, so nothing is counted twice.
async function seedEtc() {
  const until = state.etcLiveFrom
  const gantries = [...state.devices.values()].filter((d) => d.kind === 'etc').slice(0, 50)
  if (until === null || gantries.length === 0) return
  // A passage counted before the snapshot reaches InfluxDB within the sink's flush (1 s by default): ask once
  // the snapshot is 3 s old, so it is in the history rather than in neither.
  await new Promise((r) => setTimeout(r, Math.max(0, 3_000 - (now() - until))))
  const since = new Date(Math.floor(until / 60_000) * 60_000 - (ETC_MINUTES - 1) * 60_000).toISOString()
  const got = await Promise.all(gantries.map((g) => history(g.id, 'etc_transaction', [], { since, until: new Date(until).toISOString(), every: '1m', mode: 'count' })))
  for (const series of got) {
    for (const [r, rows] of Object.entries(series ?? {})) {
      for (const [ms, n] of rows) {
        if (typeof n !== 'number') continue
        const b = state.etcMinutes.get(ms) ?? {}
        b[r] = (b[r] ?? 0) + n
        state.etcMinutes.set(ms, b)
      }
    }
  }
  renderCharts(true)
}

// ---- sparklines of a small district start from the last hour of history (a big one fills them live)
async function seedSparks() {
  const list = [...state.devices.values()].filter((d) => KINDS[d.kind])
  if (list.length > 60) return
  await Promise.all(
    list.map(async (d) => {
      const [meas, field] = KINDS[d.kind].main
      const hist = await history(d.id, meas, [field], { since: '1h', every: '2m', ...(meas === 'water_quality' ? { interval: 'realtime' } : {}) })
      const pts = (hist?.[field] ?? []).filter((p) => typeof p[1] === 'number')
      if (pts.length === 0) return
      const live = state.spark.get(d.id) ?? []
      const first = live[0]?.[0] ?? Infinity
      state.spark.set(d.id, [...pts.filter((p) => p[0] < first), ...live].slice(-SPARK_N))
    }),
  )
  render(false)
}

// ---- start: catalogue, config, geometry, stream
// Whether /api/ui/config answered (before a token is given it is 401: loaded again once the stream is up).
let configOk = false
async function loadMap() {
  const cfg = await getJson('/api/ui/config')
  configOk = cfg.ok
  const map = cfg.ok ? cfg.body?.map : undefined
  if (cfg.ok) setHistoryAvailable(cfg.body?.history)
  if (cfg.ok && cfg.body?.timeZone) {
    tz = cfg.body.timeZone
    setTimeZone(tz)
  }
  let geo = await getJson('/api/ui/geometry')
  // The page's own demo district only when the gateway has none (404), not when it refused (401/403).
  if (geo.status === 404 || geo.status === 0) geo = await getJson('/geo/demo-district.geojson')
  if (!geo.ok || !geo.body) return
  const wgs = geojsonToWgs84(geo.body, map?.datum ?? 'wgs84')
  // Point features carrying a `device` property place the fixed devices (stations, gantries, meters, cars);
  // the polygons and lines are the district's geometry.
  const areas = []
  for (const f of wgs.features ?? []) {
    if (f.geometry?.type === 'Point' && f.properties?.device) state.placed.set(f.properties.device, f.geometry.coordinates.slice(0, 2))
    else if (f.geometry && f.geometry.type !== 'Point') areas.push(f)
  }
  registerDistrict({ type: 'FeatureCollection', features: areas.filter((f) => f.geometry.type.includes('Polygon')).map((f) => ({ ...f, properties: { ...f.properties, name: f.properties?.[currentLang() === 'en' ? 'name_en' : 'name'] ?? f.properties?.name ?? '' } })) })
  // The configured centre is in the file's datum: converted like the file.
  const c = map?.center && (map.datum === 'gcj02' ? gcj02ToWgs84(map.center[1], map.center[0]).reverse() : map.center)
  state.mapView = c ? { center: c, zoom: map.zoom } : null
  // A map drawn before (another language, or the demo before the token) is made again with this geometry.
  resetCharts()
  mapReady = true
}

function switchLang() {
  const next = currentLang() === 'zh-CN' ? 'en' : 'zh-CN'
  setLang(next).then(() => {
    applyStatic()
    setText($('lang'), t('app.otherLang'))
    setText($('district'), tOr(`district.${state.district}`, state.district))
    linkState($('link').dataset.state ?? 'connecting')
    loadWhoami()
    // The map's area names and every chart's titles are in the language: redraw them.
    // Tables, alarms and counters in the new language at once; the map and charts once the geometry is in.
    mapReady = false
    resetCharts()
    render(true)
    loadMap().then(() => render(true))
    tick()
  })
}
$('lang').addEventListener('click', switchLang)

async function main() {
  await setLang(initialLang(), false)
  applyStatic()
  setText($('lang'), t('app.otherLang'))
  layout()
  linkState('connecting')
  tick()
  setInterval(tick, 1000)
  addEventListener('resize', () => {
    layout()
    resizeCharts()
  })
  await loadMap()
  render(true)
  connect()
}

// The energy charts and the sparklines start from the history once the inventory is known and the config
// said whether there is history.
let seeded = false
function maybeSeed() {
  if (seeded || !configOk || state.devices.size === 0) return
  seeded = true
  seedEnergy()
  seedEtc()
  seedSparks()
}

main().catch((err) => {
  notice(String(err?.message ?? err))
  console.error(err)
})
