/**
 * The live view behind the operators' page: a processor that keeps each device's latest point (a reference,
 * no copy: it runs on the hot path), and `GET /api/live`, a server-sent-event stream (docs/dashboard-api.md):
 *   event: snapshot  `{now, gateway, district, timeZone, devices, alarms, counters}` on connect, then
 *   event: delta     `{now, devices, alarms, removedAlarms, counters}` once a second: the devices that sent
 *                    something or whose presence flipped (each whole, replacing the page's copy), the alarms
 *                    that changed (raised, acknowledged, shelved, unshelved: each whole, with its `state`) and
 *                    the ids of those that left the list (cleared).
 * Each ETC device also carries `counts.etc_transaction`: its passages by `result` since the gateway started,
 * so the page's passages per minute are exact at any rate (the difference of two deltas' counts).
 * Once a second whatever the load, so a busy district costs the same to watch. The page reads it with
 * fetch() streaming so it can send `Authorization: Bearer` (EventSource cannot send headers).
 * `GET /` serves the page in dashboards/web/.
 */
import type { ServerResponse } from 'node:http'
import type { FastifyInstance } from 'fastify'
import type { FieldValue, Point } from '../../devices/common/point.ts'
import type { ActiveAlarm, AlarmStore } from '../alarms/store.ts'
import type { DeviceState, Processor } from '../core/types.ts'
import { registerWebFiles } from './web.ts'

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
  /**
   * `etc_transaction` points by their `result` tag since the gateway started (only for a device that sent
   * one). `latest` holds one passage per delta; the difference of two deltas' counts is every passage between
   * them, however many a second.
   */
  counts?: { etc_transaction: Record<string, number> }
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
  /** The district's time zone (`http.dashboard.timeZone`). */
  timeZone: string
  devices(): DeviceState[]
  alarms: Pick<AlarmStore, 'listActive' | 'get' | 'onEvent'>
  counters(): LiveCounters
  /** The folder holding index.html, app.js, style.css. */
  webDir: string
  /** The delta's period (default 1000 ms; tests). */
  periodMs?: number
}

/** A client further behind than this (a stalled reader) is disconnected rather than buffered without end. */
const MAX_BUFFERED = 4 * 1024 * 1024

export interface LiveSnapshot {
  now: number
  gateway: string
  district: string
  timeZone: string
  devices: LiveDevice[]
  alarms: ActiveAlarm[]
  counters: LiveCounters
}

export interface LiveDelta {
  now: number
  devices: LiveDevice[]
  alarms: ActiveAlarm[]
  removedAlarms: string[]
  counters: LiveCounters
}

export function createLiveView(): LiveView {
  const latest = new Map<string, Map<string, Point>>()
  const changed = new Set<string>()
  /** device -> result -> passages since start: one increment per point on the hot path, nothing copied. */
  const etcCounts = new Map<string, Record<string, number>>()

  const processor: Processor = {
    id: 'live-view',
    process(batch) {
      let m = latest.get(batch.device)
      if (!m) {
        m = new Map()
        latest.set(batch.device, m)
      }
      for (const p of batch.points) {
        m.set(p.measurement, p)
        if (p.measurement === 'etc_transaction') {
          let c = etcCounts.get(batch.device)
          if (!c) {
            c = Object.create(null) as Record<string, number>
            etcCounts.set(batch.device, c)
          }
          const r = p.tags['result'] ?? 'unknown'
          c[r] = (c[r] ?? 0) + 1
        }
      }
      changed.add(batch.device)
      return undefined
    },
  }

  function view(d: DeviceState): LiveDevice {
    const out: LiveDevice = { id: d.id, kind: d.kind, district: d.district, online: d.online, lastSeenMs: d.lastSeenMs, framesOk: d.framesOk, framesRejected: d.framesRejected, latest: {} }
    if (d.site) out.site = d.site
    if (d.protocol) out.protocol = d.protocol
    for (const [meas, p] of latest.get(d.id) ?? []) out.latest[meas] = { time: p.time, fields: p.fields, tags: p.tags }
    // A copy: the message is serialised later in the same tick, but a copy of a dozen keys keeps it a snapshot.
    const c = etcCounts.get(d.id)
    if (c) out.counts = { etc_transaction: { ...c } }
    return out
  }

  return {
    processor,
    register(app, deps) {
      const clients = new Set<(event: string, data: unknown) => void>()
      let lastStatus = new Map<string, boolean>()
      const changedAlarms = new Set<string>()
      const unsubscribe = deps.alarms.onEvent((e) => {
        if (clients.size > 0) changedAlarms.add(e.id)
      })
      const timer = setInterval(() => {
        if (clients.size === 0) {
          changed.clear()
          changedAlarms.clear()
          return
        }
        const all = deps.devices()
        // A device changed when it sent something or its presence flipped.
        const status = new Map(all.map((d) => [d.id, d.online]))
        const devices = all.filter((d) => changed.has(d.id) || lastStatus.get(d.id) !== d.online).map(view)
        lastStatus = status
        changed.clear()
        const alarms: ActiveAlarm[] = []
        const removedAlarms: string[] = []
        for (const id of changedAlarms) {
          const a = deps.alarms.get(id)
          if (a) alarms.push(a)
          else removedAlarms.push(id)
        }
        changedAlarms.clear()
        const msg: LiveDelta = { now: Date.now(), devices, alarms, removedAlarms, counters: deps.counters() }
        for (const send of clients) send('delta', msg)
      }, deps.periodMs ?? 1000)
      timer.unref()
      const streams = new Set<ServerResponse>()
      // preClose runs before the server waits for its connections (fastify Hooks docs, "preClose"): end every
      // stream so a page sees the close at once and reconnects, and the server's close is not held up.
      app.addHook('preClose', async () => {
        clearInterval(timer)
        unsubscribe()
        for (const res of streams) res.end()
        streams.clear()
        clients.clear()
      })

      app.get('/api/live', (req, reply) => {
        reply.hijack()
        const res = reply.raw
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' })
        const send = (event: string, data: unknown) => {
          if (res.writableLength > MAX_BUFFERED) {
            clients.delete(send)
            res.destroy()
            return
          }
          res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
        }
        const snapshot: LiveSnapshot = { now: Date.now(), gateway: deps.gatewayId, district: deps.district, timeZone: deps.timeZone, devices: deps.devices().map(view), alarms: deps.alarms.listActive(), counters: deps.counters() }
        send('snapshot', snapshot)
        clients.add(send)
        streams.add(res)
        req.raw.on('close', () => {
          clients.delete(send)
          streams.delete(res)
        })
      })

      // The page's files (gateway/http/web.ts): every file under dashboards/web/, open.
      registerWebFiles(app, deps.webDir)
    },
  }
}
