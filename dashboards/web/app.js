// District live view: one event stream on /api/live (a snapshot, then once-a-second updates).
// Plain browser JavaScript, no build step and nothing fetched from outside this gateway.
// When the gateway has tokens (http.tokens), the page asks for one once, keeps it in sessionStorage (this tab
// only, gone when it closes) and sends it as `Authorization: Bearer` on the stream and on acknowledgements.
// The stream is read with fetch, not EventSource: EventSource cannot send headers, and a token in the URL
// would end up in proxy logs and the browser's history (RFC 6750 section 5.3).
const KINDS = {
  // Every graded GB 3838 factor a station usually reports has a column, so the factor that decided the class is on
  // screen (total nitrogen counts for lakes only; when a factor without a column decides, the badge shows its value).
  water_quality: { title: 'Water quality', cols: [['water_quality', 'ph', 'pH'], ['water_quality', 'dissolved_oxygen_mg_l', 'DO mg/L'], ['water_quality', 'codmn_mg_l', 'CODMn mg/L'], ['water_quality', 'cod_mg_l', 'COD mg/L'], ['water_quality', 'ammonia_nitrogen_mg_l', 'NH₃-N mg/L'], ['water_quality', 'total_phosphorus_mg_l', 'TP mg/L'], ['water_quality', 'water_temp_c', '°C'], ['water_quality', 'gb3838_class', 'class']] },
  energy_meter: { title: 'Energy meters', cols: [['energy_meter', 'voltage_a_v', 'Ua V'], ['energy_meter', 'current_a_a', 'Ia A'], ['energy_meter', 'active_power_kw', 'P kW'], ['energy_meter', 'power_factor', 'PF'], ['energy_meter', 'import_energy_kwh', 'import kWh']] },
  etc: { title: 'ETC lanes and gantries', cols: [['etc_transaction', '#result', 'last result'], ['etc_transaction', 'plate', 'plate'], ['etc_transaction', 'vehicle_class', 'class'], ['etc_transaction', 'fee_fen', 'fee fen'], ['etc_rsu_status', 'online', 'RSU']] },
  elevator: { title: 'Elevators', cols: [['elevator_status', 'floor', 'floor'], ['elevator_status', 'direction', 'direction'], ['elevator_status', 'door_open', 'door open'], ['elevator_status', 'speed_m_s', 'm/s'], ['elevator_status', 'occupied', 'occupied'], ['elevator_status', 'service_mode', 'mode']] },
  position: { title: 'Vehicles and receivers (BeiDou)', cols: [['position', '#system', 'system'], ['position', 'lat', 'lat', 6], ['position', 'lon', 'lon', 6], ['position', 'speed_kmh', 'km/h'], ['position', 'fix_quality', 'fix'], ['position', 'satellites_used', 'sats']] },
}
// GB 3838-2002 graded factors (gb3838_factor values): short label on the badge, name in its tooltip.
const FACTORS = {
  dissolved_oxygen_mg_l: ['DO', 'dissolved oxygen'],
  codmn_mg_l: ['CODMn', 'permanganate index'],
  cod_mg_l: ['COD', 'chemical oxygen demand'],
  ammonia_nitrogen_mg_l: ['NH₃-N', 'ammonia nitrogen'],
  total_phosphorus_mg_l: ['TP', 'total phosphorus'],
  total_nitrogen_mg_l: ['TN', 'total nitrogen'],
}
const CLASS_NAMES = ['', 'I', 'II', 'III', 'IV', 'V', '>V']
const devices = new Map()
let alarms = []
const $ = (id) => document.getElementById(id)
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c])
const ago = (ms) => (ms === null ? 'never' : `${Math.max(0, Math.round((Date.now() - ms) / 1000))} s ago`)

const num = (v, decimals) => (Number.isInteger(v) ? String(v) : v.toFixed(decimals ?? (Math.abs(v) >= 100 ? 1 : 3)).replace(/0+$/, '').replace(/\.$/, ''))

// The class badge names the factor that decided it ("IV · NH₃-N"); when that factor has no column of its own,
// the badge carries its value too, so the decision is always readable from the screen.
function classBadge(p, cols) {
  const v = p.fields.gb3838_class
  const factor = p.fields.gb3838_factor
  const [short, name] = FACTORS[factor] ?? [factor, factor]
  const value = p.fields[factor]
  const shown = cols.some((c) => c[1] === factor)
  // Class 6 is 劣V (worse than V): shown as >V so it reads without CJK fonts; the tooltip has the name.
  const title = `GB 3838-2002 class ${CLASS_NAMES[v] ?? v}${v === 6 ? ' 劣V (worse than V)' : ''}${factor ? `, decided by ${name}${typeof value === 'number' ? ` ${num(value)} mg/L` : ''}` : ''}`
  const label = `${CLASS_NAMES[v] ?? v}${factor ? ` · ${short}${!shown && typeof value === 'number' ? ` ${num(value)}` : ''}` : ''}`
  return `<span class="cls cls-${esc(v)}" data-factor="${esc(factor ?? '')}" title="${esc(title)}">${esc(label)}</span>`
}

function cell(d, [meas, field, , decimals], cols) {
  const p = d.latest[meas]
  if (!p) return ''
  const v = field.startsWith('#') ? p.tags[field.slice(1)] : p.fields[field]
  if (v === undefined) return ''
  if (field === 'gb3838_class') return classBadge(p, cols)
  if (typeof v === 'number') return num(v, decimals)
  if (typeof v === 'boolean') return v ? 'yes' : 'no'
  return esc(v)
}

// The cell of the factor that decided the class is marked, so the eye goes from the badge to the value.
function decided(d, [meas, field]) {
  return meas === 'water_quality' && d.latest[meas]?.fields.gb3838_factor === field ? ' class="decided"' : ''
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
      html += `<tr data-device="${esc(d.id)}"><td><span class="dot ${d.online ? 'on' : 'off'}"></span>${esc(d.id)}</td><td>${esc(d.site ?? '')}</td>${spec.cols.map((c) => `<td${decided(d, c)}>${cell(d, c, spec.cols)}</td>`).join('')}<td>${ago(d.lastSeenMs)}</td></tr>`
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

const TOKEN_KEY = 'smartcity.token'
let token = sessionStorage.getItem(TOKEN_KEY)
const authHeaders = () => (token ? { authorization: `Bearer ${token}` } : {})

function notice(text) {
  $('notice').textContent = text
  $('notice').hidden = !text
}

function link(up, text) {
  $('link').className = `link ${up ? 'up' : 'down'}`
  $('link').textContent = text
}

// The token form: shown when the gateway answers 401 (no or wrong token) or 403 (no read scope).
function askToken(message) {
  link(false, 'no access')
  $('auth-msg').textContent = message
  $('auth').hidden = false
  $('token').value = ''
  $('token').focus()
}

$('auth').addEventListener('submit', (e) => {
  e.preventDefault()
  token = $('token').value.trim()
  sessionStorage.setItem(TOKEN_KEY, token)
  $('auth').hidden = true
  $('signout').hidden = false
  connect()
})
$('signout').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY)
  token = null
  $('signout').hidden = true
  stream?.abort()
  askToken('Token forgotten. Enter a token to connect again.')
})
$('signout').hidden = !token

function onSnapshot(s) {
  $('district').textContent = s.district
  $('gateway').textContent = s.gateway
  devices.clear()
  for (const d of s.devices) devices.set(d.id, d)
  alarms = s.alarms
  counters(s.counters)
  renderKinds()
  renderAlarms()
}

function onUpdate(u) {
  for (const d of u.devices) devices.set(d.id, d)
  alarms = u.alarms
  counters(u.counters)
  renderKinds()
  renderAlarms()
}

// One server-sent event block (WHATWG HTML, "event stream interpretation"): `event:` and `data:` lines.
function dispatch(block) {
  let event = 'message'
  const data = []
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim()
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''))
  }
  if (data.length === 0) return
  const msg = JSON.parse(data.join('\n'))
  if (event === 'snapshot') onSnapshot(msg)
  else if (event === 'update') onUpdate(msg)
}

let stream = null
let retryTimer = null

function retry(ms) {
  clearTimeout(retryTimer)
  retryTimer = setTimeout(connect, ms)
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
      link(false, 'reconnecting')
      retry(2000)
    }
    return
  }
  if (res.status === 401) return askToken(token ? 'The gateway refused this token. Enter another one.' : 'This gateway needs an access token.')
  if (res.status === 403) return askToken('This token may not read the live view (it needs the read scope). Enter another one.')
  if (res.status === 429) {
    const s = Number(res.headers.get('retry-after')) || 30
    link(false, 'locked out')
    notice(`Too many failed tokens from this address: trying again in ${s} s.`)
    return retry(s * 1000)
  }
  if (!res.ok || !res.body) {
    link(false, 'reconnecting')
    return retry(2000)
  }
  notice('')
  link(true, 'live')
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
  let buf = ''
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      buf += value.replace(/\r\n?/g, '\n')
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        dispatch(buf.slice(0, i))
        buf = buf.slice(i + 2)
      }
    }
  } catch {
    // aborted or the connection broke: reconnect below unless this stream was replaced
  }
  if (stream === ac && !ac.signal.aborted) {
    link(false, 'reconnecting')
    retry(1000)
  }
}

document.addEventListener('click', async (e) => {
  const id = e.target instanceof HTMLElement ? e.target.dataset.ack : undefined
  if (!id) return
  e.target.disabled = true
  // `by` is left to the gateway: the token's name when there are tokens.
  const res = await fetch(`/api/alarms/${encodeURIComponent(id)}/ack`, { method: 'POST', headers: { 'content-type': 'application/json', ...authHeaders() }, body: '{}' }).catch(() => null)
  if (!res?.ok) {
    e.target.disabled = false
    if (res?.status === 403) notice('This token may not acknowledge alarms (it needs the operate scope).')
    else if (res?.status === 401) askToken('The gateway refused this token. Enter another one.')
    else notice(`The acknowledgement failed${res ? ` (HTTP ${res.status})` : ''}.`)
    return
  }
  notice('')
  const a = alarms.find((x) => x.id === id)
  if (a) {
    a.acknowledged = true
    a.ackBy = (await res.json()).alarm?.ackBy
  }
  renderAlarms()
})

renderAlarms()
connect()
