// Charts and the map, drawn by ECharts (vendored from npm, served by the gateway at /vendor/echarts.min.js:
// no CDN, no build step). ECharts does both the district map (registerMap of a GeoJSON, no tiles) and the
// time series, it is what Chinese operations dashboards commonly use, and it ships zh-CN locale and a dark theme.
import { currentLang, currentTimeZone, fmtDateTime, fmtTime, fmtYuan, t, tOr } from './i18n.js'

const ec = () => globalThis.echarts
const charts = new Map()
let theme = 'light'

/** (Re)create every chart for a theme ('dark' on the wall). */
export function setChartTheme(next) {
  if (next === theme) return
  theme = next
  resetCharts()
}

/** Dispose every chart; each is made again (theme, language) the next time it is drawn. */
export function resetCharts() {
  for (const c of charts.values()) c.dispose()
  charts.clear()
}

/**
 * Whether a chart's box has a size to draw in. ECharts lays a map out in a box with no width or height with a
 * singular transform and throws (its geo view inverts a zero-scale matrix), and a line chart there is drawn
 * at nothing. A box without a size (a layout in between, a slow machine still laying out, a collapsed panel)
 * is left alone: the next turn of the charts draws it once it has one.
 */
export const sized = (el) => el.clientWidth > 0 && el.clientHeight > 0

export function chart(el, opts) {
  let c = charts.get(el)
  if (!c) {
    c = ec().init(el, theme === 'dark' ? 'dark' : null, { renderer: 'canvas', ...opts })
    charts.set(el, c)
  }
  return c
}

export function resizeCharts() {
  for (const [el, c] of charts) if (sized(el)) c.resize()
}

const bg = () => (theme === 'dark' ? 'transparent' : undefined)
/** A time axis from the first point (at least the last 10 minutes) to now: a young series is not a dot. */
const timeAxis = (first) => {
  const now = Date.now()
  return { type: 'time', min: Math.min(first ?? now, now - 10 * 60_000), max: now, axisLabel: { formatter: axisTime, hideOverlap: true } }
}
// The time axes' labels, remembered: ECharts formats every candidate tick each time it lays out an axis (to
// measure the labels), and the ticks are the same round minutes from one second to the next.
const axisLabels = new Map()
let axisLabelsFor = ''
function axisTime(v) {
  const key = `${currentLang()} ${currentTimeZone()}`
  if (key !== axisLabelsFor || axisLabels.size > 2000) {
    axisLabels.clear()
    axisLabelsFor = key
  }
  let s = axisLabels.get(v)
  if (s === undefined) {
    s = fmtTime(v)
    axisLabels.set(v, s)
  }
  return s
}
const firstOf = (data) => data.reduce((m, p) => Math.min(m, p[0]), Infinity)
const tooltipTime = (params) => {
  const ps = Array.isArray(params) ? params : [params]
  return [fmtDateTime(ps[0]?.value?.[0]), ...ps.map((p) => `${p.marker}${p.seriesName}: ${p.value?.[1] ?? ''}`)].join('<br>')
}

// ---- the map
const KIND_SYMBOL = { water_quality: 'circle', energy_meter: 'rect', etc: 'triangle', elevator: 'roundRect', position: 'pin' }
const STATE_COLOR = { ok: '#2fbf71', alarm: '#ff4d4f', offline: '#8c8c8c', ack: '#faad14' }
const STATES = ['ok', 'alarm', 'ack', 'offline']
const KINDS = ['water_quality', 'energy_meter', 'etc', 'elevator', 'position']

export function registerDistrict(geojson) {
  ec().registerMap('district', geojson)
}

/**
 * markers: [{id, kind, state, lon, lat}], tracks: () => [{id, coords:[[lon,lat],...]}]; `geo` stays put (the
 * operator's zoom and pan are kept: only series data changes).
 */
export function drawMap(el, markers, tracks, view, onClick, label) {
  if (!sized(el)) return
  // Dirty rectangles: a second's redraw repaints the areas where vehicles moved or a marker changed colour,
  // not the whole district with its 2,000 markers.
  const c = chart(el, { useDirtyRect: true })
  if (!c.__ready) {
    c.setOption({
      backgroundColor: bg(),
      // Live data every second: no transition animations (each would cost frames after every update).
      animation: false,
      geo: {
        map: 'district',
        roam: true,
        left: '2%',
        right: '2%',
        top: '2%',
        bottom: '2%',
        ...(view?.center ? { center: view.center } : {}),
        ...(view?.zoom ? { zoom: view.zoom } : {}),
        label: { show: true, color: theme === 'dark' ? '#7f93b2' : '#6b7a90', fontSize: 12 },
        itemStyle: { areaColor: theme === 'dark' ? '#13233d' : '#eef3f9', borderColor: theme === 'dark' ? '#3d6aa8' : '#8aa4c8' },
        emphasis: { disabled: true },
        select: { disabled: true },
      },
      tooltip: { trigger: 'item' },
      series: [
        { id: 'tracks', type: 'lines', coordinateSystem: 'geo', polyline: true, silent: true, lineStyle: { width: 2, opacity: 0.7, color: '#40a9ff' }, data: [] },
        // Markers as plain arrays [lon, lat, state, kind] with the symbol and colour from functions: ECharts
        // takes thousands of these far faster than objects with their own styles. Two series: the fixed
        // devices (redrawn only when one changes state) and the vehicles (which move).
        markerSeries('fixed', c),
        markerSeries('moving', c),
      ],
    })
    c.on('click', (p) => c.__ids?.[p.seriesId]?.[p.dataIndex] && onClick(c.__ids[p.seriesId][p.dataIndex]))
    c.__ready = true
    c.__tracksAt = 0
    c.__ids = { fixed: [], moving: [] }
    c.__fixedKey = ''
    c.__label = label
  }
  const fixed = []
  const moving = []
  for (const m of markers) (m.kind === 'position' ? moving : fixed).push(m)
  const series = []
  const row = (m) => [m.lon, m.lat, STATES.indexOf(m.state), KINDS.indexOf(m.kind)]
  // The fixed devices' layer changes only when one of them changes state (or one appears).
  let key = ''
  for (const m of fixed) key += `${m.id}:${m.state};`
  if (key !== c.__fixedKey) {
    c.__fixedKey = key
    c.__ids.fixed = fixed.map((m) => m.id)
    series.push({ id: 'fixed', data: fixed.map(row) })
  }
  c.__ids.moving = moving.map((m) => m.id)
  series.push({ id: 'moving', data: moving.map(row) })
  // Tracks move slowly: redrawn when the caller passes them (every 5 s) and on the first draw.
  if (tracks || !c.__tracksAt) {
    c.__tracksAt = Date.now()
    series.unshift({ id: 'tracks', data: (tracks?.() ?? []).map((tr) => ({ name: tr.id, coords: tr.coords })) })
  }
  c.setOption({ series }, { silent: true })
}

function markerSeries(id, c) {
  return {
    id,
    type: 'scatter',
    coordinateSystem: 'geo',
    dimensions: ['lon', 'lat', 'state', 'kind'],
    // The vehicles' layer has one symbol and size; the fixed devices' symbol is their kind's (no call per vehicle).
    ...(id === 'moving' ? { symbol: KIND_SYMBOL.position, symbolSize: 18 } : { symbol: (v) => KIND_SYMBOL[KINDS[v[3]]] ?? 'circle', symbolSize: 13 }),
    itemStyle: { color: (p) => STATE_COLOR[STATES[p.value[2]]] ?? STATE_COLOR.ok, borderColor: '#fff', borderWidth: 1 },
    label: { show: false },
    tooltip: { formatter: (p) => c.__label(c.__ids[id][p.dataIndex]) },
    animation: false,
    data: [],
  }
}

// ---- energy: district load curve (sum of active power) and consumption per interval (counter differences).
// The whole option once per chart instance (a new theme or language makes new instances); after that only
// the data and the time axis' ends change.
export function drawEnergy(loadEl, useEl, load, use, intervalMin) {
  drawLoad(loadEl, load)
  drawUse(useEl, use, intervalMin)
}

export function drawLoad(loadEl, load) {
  if (!sized(loadEl)) return
  const lc = chart(loadEl)
  if (!lc.__full) {
    lc.__full = true
    lc.setOption({
      backgroundColor: bg(),
      animation: false,
      grid: { left: 48, right: 12, top: 30, bottom: 24 },
      title: { text: `${t('energy.load')} (kW)`, textStyle: { fontSize: 13 }, left: 0 },
      tooltip: { trigger: 'axis', formatter: tooltipTime },
      xAxis: timeAxis(firstOf(load)),
      yAxis: { type: 'value', scale: true },
      series: [{ id: 'load', name: t('energy.loadSeries'), type: 'line', showSymbol: false, areaStyle: { opacity: 0.15 }, data: load }],
    })
  } else lc.setOption({ xAxis: timeAxis(firstOf(load)), series: [{ id: 'load', data: load }] })
}

export function drawUse(useEl, use, intervalMin) {
  if (!sized(useEl)) return
  const uc = chart(useEl)
  if (!uc.__full) {
    uc.__full = true
    uc.setOption({
      backgroundColor: bg(),
      animation: false,
      grid: { left: 48, right: 12, top: 30, bottom: 24 },
      title: { text: `${t('energy.use', { n: intervalMin })} (kWh)`, textStyle: { fontSize: 13 }, left: 0 },
      tooltip: { trigger: 'axis', formatter: tooltipTime },
      xAxis: timeAxis(firstOf(use)),
      yAxis: { type: 'value' },
      series: [{ id: 'use', name: t('energy.useSeries'), type: 'bar', barMaxWidth: 18, data: use }],
    })
  } else uc.setOption({ xAxis: timeAxis(firstOf(use)), series: [{ id: 'use', data: use }] })
}

// ---- ETC: passages per minute, stacked by result (ok and each failure reason)
export function drawEtc(el, minutes) {
  if (!sized(el)) return
  const reasons = new Set()
  for (const m of minutes.values()) for (const r of Object.keys(m)) reasons.add(r)
  const order = ['ok', ...[...reasons].filter((r) => r !== 'ok').sort()]
  const keys = [...minutes.keys()].sort((a, b) => a - b)
  const c = chart(el)
  const series = order.map((r) => ({ id: r, data: keys.map((k) => [k, minutes.get(k)[r] ?? 0]) }))
  const shape = order.join()
  // The series (one per result) change only when a new failure reason appears; else only the data.
  if (c.__shape === shape) {
    c.setOption({ xAxis: timeAxis(keys[0]), series })
    return
  }
  c.__shape = shape
  c.setOption(
    {
      backgroundColor: bg(),
      animation: false,
      grid: { left: 36, right: 8, top: 30, bottom: 44 },
      title: { text: t('etc.perMinute'), textStyle: { fontSize: 13 }, left: 0 },
      legend: { bottom: 0, type: 'scroll', textStyle: { fontSize: 11 } },
      tooltip: { trigger: 'axis', formatter: tooltipTime },
      xAxis: timeAxis(keys[0]),
      yAxis: { type: 'value', minInterval: 1 },
      series: order.map((r, i) => ({ ...series[i], name: tOr(`etc.result.${r}`, r), type: 'bar', stack: 'n', barMaxWidth: 14, ...(r === 'ok' ? { itemStyle: { color: '#2fbf71' } } : {}) })),
    },
    { replaceMerge: ['series'] },
  )
}

// ---- device detail: the last hours of its main fields from /api/history, extended live
export function drawHistory(el, series, fields) {
  if (!sized(el)) return
  chart(el).setOption(
    {
      backgroundColor: bg(),
      grid: { left: 52, right: 16, top: 36, bottom: 32 },
      legend: { top: 4 },
      tooltip: { trigger: 'axis', formatter: tooltipTime },
      xAxis: timeAxis(Math.min(...fields.map((f) => firstOf(series[f] ?? [])))),
      yAxis: { type: 'value', scale: true },
      series: fields.map((f) => ({ name: tOr(`field.${f}`, f), type: 'line', showSymbol: false, data: series[f] ?? [] })),
    },
    { replaceMerge: ['series'] },
  )
}

export { fmtYuan }
