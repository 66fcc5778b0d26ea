/**
 * The live view behind the operators' dashboard: a processor that keeps each device's latest point (a
 * reference, no copy: it runs on the hot path), and `GET /api/live`, a server-sent-event stream that sends a
 * snapshot on connect and then, once a second, the devices that changed, the active alarms and the
 * gateway's counters. Once a second whatever the load, so a busy district costs the same to watch.
 * `GET /` serves the page in dashboards/web/.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { FieldValue, Point } from '../../devices/common/point.ts'
import type { ActiveAlarm } from '../alarms/store.ts'
import type { DeviceState, Processor } from '../core/types.ts'

export interface LiveDevice {
  id: string
  kind: string
  district: string
  site?: string
  protocol?: string
  online: boolean
  lastSeenMs: number | null
  framesOk: number
  framesRejected: number
  /** The latest value of every field, per measurement, with its time. */
  latest: Record<string, { time: number; fields: Record<string, FieldValue>; tags: Record<string, string> }>
}

export interface LiveCounters {
  received: number
  accepted: number
  rejected: number
  spoolPoints: number
}

export interface LiveView {
  processor: Processor
  register(app: FastifyInstance, deps: LiveDeps): void
}

export interface LiveDeps {
  district: string
  gatewayId: string
  devices(): DeviceState[]
  alarms(): ActiveAlarm[]
  counters(): LiveCounters
  /** The folder holding index.html, app.js, style.css. */
  webDir: string
}

const CONTENT_TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' }

export function createLiveView(): LiveView {
  const latest = new Map<string, Map<string, Point>>()
  const changed = new Set<string>()

  const processor: Processor = {
    id: 'live-view',
    process(batch) {
      let m = latest.get(batch.device)
      if (!m) {
        m = new Map()
        latest.set(batch.device, m)
      }
      for (const p of batch.points) m.set(p.measurement, p)
      changed.add(batch.device)
      return undefined
    },
  }

  function view(d: DeviceState): LiveDevice {
    const out: LiveDevice = { id: d.id, kind: d.kind, district: d.district, online: d.online, lastSeenMs: d.lastSeenMs, framesOk: d.framesOk, framesRejected: d.framesRejected, latest: {} }
    if (d.site) out.site = d.site
    if (d.protocol) out.protocol = d.protocol
    for (const [meas, p] of latest.get(d.id) ?? []) out.latest[meas] = { time: p.time, fields: p.fields, tags: p.tags }
    return out
  }

  return {
    processor,
    register(app, deps) {
      const clients = new Set<(event: string, data: unknown) => void>()
      let lastStatus = new Map<string, string>()
      const timer = setInterval(() => {
        if (clients.size === 0) {
          changed.clear()
          return
        }
        const all = deps.devices()
        // A device changed when it sent something or its presence flipped.
        const status = new Map(all.map((d) => [d.id, `${d.online}`]))
        const updates = all.filter((d) => changed.has(d.id) || lastStatus.get(d.id) !== status.get(d.id)).map(view)
        lastStatus = status
        changed.clear()
        const msg = { devices: updates, alarms: deps.alarms(), counters: deps.counters(), time: Date.now() }
        for (const send of clients) send('update', msg)
      }, 1000)
      timer.unref()
      app.addHook('onClose', async () => clearInterval(timer))

      app.get('/api/live', (req, reply) => {
        reply.hijack()
        const res = reply.raw
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
        const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
        send('snapshot', { gateway: deps.gatewayId, district: deps.district, devices: deps.devices().map(view), alarms: deps.alarms(), counters: deps.counters(), time: Date.now() })
        clients.add(send)
        req.raw.on('close', () => clients.delete(send))
      })

      for (const [route, file] of [
        ['/', 'index.html'],
        ['/app.js', 'app.js'],
        ['/style.css', 'style.css'],
      ] as const) {
        // Open: the page and its script hold no data; the page asks for a token and sends it on /api/live.
        app.get(route, { config: { access: 'open' } }, async (_req, reply) => {
          const body = await readFile(join(deps.webDir, file), 'utf8')
          return reply.header('content-type', CONTENT_TYPES[file.split('.').pop()!] ?? 'text/plain').send(body)
        })
      }
    },
  }
}
