// The gateway's HTTP API as the page uses it. When the gateway has tokens (http.tokens), the page asks for one
// once, keeps it in sessionStorage (this tab only, gone when it closes) and sends it as `Authorization: Bearer`
// on every request, the event stream included: the stream is read with fetch, not EventSource, because
// EventSource cannot send headers and a token in the URL ends up in proxy logs (RFC 6750 section 5.3).
const TOKEN_KEY = 'smartcity.token'
let token = sessionStorage.getItem(TOKEN_KEY)

export const hasToken = () => Boolean(token)
export function setToken(t) {
  token = t || null
  if (token) sessionStorage.setItem(TOKEN_KEY, token)
  else sessionStorage.removeItem(TOKEN_KEY)
}
export const authHeaders = () => (token ? { authorization: `Bearer ${token}` } : {})

/** GET JSON; resolves to { ok, status, body } and never throws (a network error is status 0). */
export async function getJson(path, signal) {
  try {
    const res = await fetch(path, { headers: authHeaders(), cache: 'no-store', signal })
    const body = res.headers.get('content-type')?.includes('json') ? await res.json() : null
    return { ok: res.ok, status: res.status, body }
  } catch {
    return { ok: false, status: 0, body: null }
  }
}

/** POST JSON to an alarm action route; resolves to { ok, status, body }. */
export async function postJson(path, body) {
  try {
    const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json', ...authHeaders() }, body: JSON.stringify(body ?? {}) })
    const out = res.headers.get('content-type')?.includes('json') ? await res.json().catch(() => null) : null
    return { ok: res.ok, status: res.status, body: out }
  } catch {
    return { ok: false, status: 0, body: null }
  }
}

/**
 * `/api/history` (read): the gateway builds the InfluxDB query from these validated parameters; the page sends
 * no query text. Resolves to `{ field: [[ms, value], ...] }`, or null when there is no history (no sink, the
 * route missing, an error).
 */
let historyOn = true
/** /api/ui/config says whether the gateway has a history source (`history: false`: no InfluxDB sink). */
export function setHistoryAvailable(on) {
  historyOn = on !== false
}
export async function history(device, measurement, fields, { since = '6h', until, every = '1m', mode, interval } = {}) {
  if (!historyOn) return null
  const q = new URLSearchParams({ device, measurement, since, every })
  // mode=count counts passages by result: no fields.
  if (fields.length) q.set('fields', fields.join(','))
  if (until) q.set('until', until)
  if (mode) q.set('mode', mode)
  if (interval) q.set('interval', interval)
  const r = await getJson(`/api/history?${q}`)
  // 503 NO_HISTORY: no InfluxDB sink; stop asking for this page's life.
  if (r.status === 503 && r.body?.error?.code === 'NO_HISTORY') historyOn = false
  return r.ok && r.body?.series ? r.body.series : null
}
