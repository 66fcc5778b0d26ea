// District live view: one EventSource on /api/live (a snapshot, then once-a-second updates).
// Plain browser JavaScript, no build step and nothing fetched from outside this gateway.
const KINDS = {
  water_quality: { title: 'Water quality', cols: [['water_quality', 'ph', 'pH'], ['water_quality', 'dissolved_oxygen_mg_l', 'DO mg/L'], ['water_quality', 'ammonia_nitrogen_mg_l', 'NH₃-N mg/L'], ['water_quality', 'cod_mg_l', 'COD mg/L'], ['water_quality', 'water_temp_c', '°C'], ['water_quality', 'gb3838_class', 'class']] },
  energy_meter: { title: 'Energy meters', cols: [['energy_meter', 'voltage_a_v', 'Ua V'], ['energy_meter', 'current_a_a', 'Ia A'], ['energy_meter', 'active_power_kw', 'P kW'], ['energy_meter', 'power_factor', 'PF'], ['energy_meter', 'import_energy_kwh', 'import kWh']] },
  etc: { title: 'ETC lanes and gantries', cols: [['etc_transaction', '#result', 'last result'], ['etc_transaction', 'plate', 'plate'], ['etc_transaction', 'vehicle_class', 'class'], ['etc_transaction', 'fee_fen', 'fee fen'], ['etc_rsu_status', 'online', 'RSU']] },
  elevator: { title: 'Elevators', cols: [['elevator_status', 'floor', 'floor'], ['elevator_status', 'direction', 'direction'], ['elevator_status', 'door_open', 'door open'], ['elevator_status', 'speed_m_s', 'm/s'], ['elevator_status', 'occupied', 'occupied'], ['elevator_status', 'service_mode', 'mode']] },
  position: { title: 'Vehicles and receivers (BeiDou)', cols: [['position', '#system', 'system'], ['position', 'lat', 'lat', 6], ['position', 'lon', 'lon', 6], ['position', 'speed_kmh', 'km/h'], ['position', 'fix_quality', 'fix'], ['position', 'satellites_used', 'sats']] },
}
const devices = new Map()
let alarms = []
const $ = (id) => document.getElementById(id)
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c])
const ago = (ms) => (ms === null ? 'never' : `${Math.max(0, Math.round((Date.now() - ms) / 1000))} s ago`)

function cell(d, [meas, field, , decimals]) {
  const p = d.latest[meas]
  if (!p) return ''
  const v = field.startsWith('#') ? p.tags[field.slice(1)] : p.fields[field]
  if (v === undefined) return ''
  // Class 6 is 劣V (worse than V): shown as >V so it reads without CJK fonts; the tooltip has the name.
  if (field === 'gb3838_class') return `<span class="cls cls-${v}" title="GB 3838-2002 class${v === 6 ? ' 劣V (worse than V)' : ''}">${['', 'I', 'II', 'III', 'IV', 'V', '>V'][v] ?? v}</span>`
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(decimals ?? (Math.abs(v) >= 100 ? 1 : 3)).replace(/0+$/, '').replace(/\.$/, '')
  if (typeof v === 'boolean') return v ? 'yes' : 'no'
  return esc(v)
}

function renderKinds() {
  const main = $('kinds')
  let html = ''
  for (const [kind, spec] of Object.entries(KINDS)) {
    const list = [...devices.values()].filter((d) => d.kind === kind).sort((a, b) => a.id.localeCompare(b.id))
    if (list.length === 0) continue
    const online = list.filter((d) => d.online).length
    html += `<section data-kind="${kind}"><h2>${spec.title} <span class="badge">${online} / ${list.length} online</span></h2><table><thead><tr><th>device</th><th>site</th>${spec.cols.map((c) => `<th>${c[2]}</th>`).join('')}<th>last seen</th></tr></thead><tbody>`
    for (const d of list) {
      html += `<tr data-device="${esc(d.id)}"><td><span class="dot ${d.online ? 'on' : 'off'}"></span>${esc(d.id)}</td><td>${esc(d.site ?? '')}</td>${spec.cols.map((c) => `<td>${cell(d, c)}</td>`).join('')}<td>${ago(d.lastSeenMs)}</td></tr>`
    }
    html += '</tbody></table></section>'
  }
  main.innerHTML = html
  const all = [...devices.values()]
  $('c-online').textContent = `${all.filter((d) => d.online).length} / ${all.length}`
}

function renderAlarms() {
  const body = $('alarms').querySelector('tbody')
  body.innerHTML = alarms
    .map((a) => `<tr data-alarm="${esc(a.id)}"><td class="sev-${a.severity}">${a.severity}</td><td>${esc(a.rule)}</td><td>${esc(a.device)}</td><td>${esc(a.message)}</td><td>${new Date(a.since).toLocaleTimeString()}</td><td>${a.acknowledged ? `acknowledged${a.ackBy ? ` by ${esc(a.ackBy)}` : ''}` : `<button data-ack="${esc(a.id)}">acknowledge</button>`}</td></tr>`)
    .join('')
  $('alarm-count').textContent = String(alarms.length)
  $('no-alarms').hidden = alarms.length > 0
  $('alarms').hidden = alarms.length === 0
}

function counters(c) {
  $('c-received').textContent = c.received.toLocaleString()
  $('c-accepted').textContent = c.accepted.toLocaleString()
  $('c-rejected').textContent = c.rejected.toLocaleString()
  $('c-spool').textContent = c.spoolPoints.toLocaleString()
}

document.addEventListener('click', async (e) => {
  const id = e.target instanceof HTMLElement ? e.target.dataset.ack : undefined
  if (!id) return
  e.target.disabled = true
  await fetch(`/api/alarms/${encodeURIComponent(id)}/ack`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ by: 'operator' }) })
  const a = alarms.find((x) => x.id === id)
  if (a) a.acknowledged = true
  renderAlarms()
})

const es = new EventSource('/api/live')
es.addEventListener('snapshot', (ev) => {
  const s = JSON.parse(ev.data)
  $('district').textContent = s.district
  $('gateway').textContent = s.gateway
  devices.clear()
  for (const d of s.devices) devices.set(d.id, d)
  alarms = s.alarms
  counters(s.counters)
  renderKinds()
  renderAlarms()
})
es.addEventListener('update', (ev) => {
  const u = JSON.parse(ev.data)
  for (const d of u.devices) devices.set(d.id, d)
  alarms = u.alarms
  counters(u.counters)
  renderKinds()
  renderAlarms()
})
es.onopen = () => {
  $('link').className = 'link up'
  $('link').textContent = 'live'
}
es.onerror = () => {
  $('link').className = 'link down'
  $('link').textContent = 'reconnecting'
}
