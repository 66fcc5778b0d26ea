/**
 * A building of elevator monitors publishing over MQTT (docs/data-model.md): one MQTT client per car (each
 * monitor is a device with its own last will), `online` retained on `city/<district>/elevator/<id>/status`,
 * the car's status JSON on `.../telemetry` whenever it changes and at least every `heartbeatMs`, and, with
 * `reportEvents`, the monitor's own fault reports on `.../event` (the gateway reconciles them with the
 * events it derives). Car ids are `<building>-L<n>` (n from 1).
 */
import mqtt, { type MqttClient } from 'mqtt'
import { type BuildingOptions, createBuilding, type Fault } from './model.ts'

export interface MqttBuildingOptions extends BuildingOptions {
  url: string
  district: string
  building: string
  /** Simulation step and publish check, ms. */
  stepMs?: number
  /** Publish at least this often even without a change. */
  heartbeatMs?: number
  /** The monitor also reports its faults itself on `/event`. */
  reportEvents?: boolean
  /** Clock (epoch ms) driving the passenger model; default Date.now. */
  now?: () => number
  /**
   * The passenger model's clock (default: `now`). With a stepping clock (cli/simulate/clock.ts `ticks`) each
   * step advances the model by exactly `stepMs`, so a seed gives the same ride whatever the timers do.
   */
  modelNow?: () => number
  /** Called with the car id and each status object (with `ts`) once the broker acknowledged it (`smartcity simulate`). */
  onAcked?: (id: string, status: Record<string, unknown> & { ts: number }) => void
}

export interface MqttBuilding {
  ids: string[]
  inject(car: number, fault: Fault, durationMs: number, opts?: { silent?: boolean }): void
  building: ReturnType<typeof createBuilding>
  /** Status messages published (acknowledged by the broker). */
  sent(): number
  /** Monitor `car`'s clock runs this far off (ms): its status `ts` carries that time. */
  setClockOffset(car: number, ms: number): void
  /** Publish raw bytes on car `car`'s telemetry topic (garbage or a cut-off payload). */
  publishRaw(car: number, payload: Buffer): Promise<void>
  stop(): Promise<void>
}

const FAULT_EVENT: Record<Fault, string> = { trapped: 'trapped', door_fault: 'door_fault', overspeed: 'overspeed', power_loss: 'power_loss' }

export async function startMqttBuilding(o: MqttBuildingOptions): Promise<MqttBuilding> {
  const now = o.now ?? Date.now
  const modelNow = o.modelNow ?? now
  const stepMs = o.stepMs ?? 200
  const heartbeatMs = o.heartbeatMs ?? 10_000
  const b = createBuilding(o)
  const ids = Array.from({ length: b.cars }, (_, i) => `${o.building}-L${i + 1}`)
  const base = (id: string) => `city/${o.district}/elevator/${id}`
  const clients: MqttClient[] = []
  for (const id of ids) {
    const c = await mqtt.connectAsync(o.url, {
      clientId: `sim-${id}`,
      reconnectPeriod: 1000,
      will: { topic: `${base(id)}/status`, payload: Buffer.from('offline'), qos: 1, retain: true },
    })
    await c.publishAsync(`${base(id)}/status`, 'online', { qos: 1, retain: true })
    clients.push(c)
  }
  const last = ids.map(() => ({ json: '', at: 0 }))
  const reported = ids.map(() => undefined as Fault | undefined)
  let sent = 0
  let busy = false
  const offsets = ids.map(() => 0)
  let lastModelT: number | undefined

  const publish = (i: number, suffix: string, payload: string, status?: Record<string, unknown> & { ts: number }) => {
    const c = clients[i]!
    c.publishAsync(`${base(ids[i]!)}/${suffix}`, payload, { qos: 1 })
      .then(() => {
        if (suffix === 'telemetry') sent++
        if (status) o.onAcked?.(ids[i]!, status)
      })
      .catch(() => {
        // Disconnected: the status is published again on the next change or heartbeat.
      })
  }

  const timer = setInterval(() => {
    if (busy) return
    busy = true
    try {
      const t = modelNow()
      lastModelT = t
      const wall = now()
      b.step(t)
      for (let i = 0; i < ids.length; i++) {
        if (o.reportEvents) {
          const f = b.fault(i)
          const showing = f !== undefined && b.effective(i) && b.monitorOn(i) ? f : undefined
          const prev = reported[i]
          if (showing !== undefined && prev === undefined) {
            reported[i] = showing
            publish(i, 'event', JSON.stringify({ ts: wall + offsets[i]!, event: FAULT_EVENT[showing], active: true, floor: b.status(i).floor, detail: 'reported by the monitor' }))
          } else if (prev !== undefined && f === undefined && b.monitorOn(i)) {
            reported[i] = undefined
            publish(i, 'event', JSON.stringify({ ts: wall + offsets[i]!, event: FAULT_EVENT[prev], active: false, floor: b.status(i).floor }))
          }
        }
        if (!b.monitorOn(i)) continue
        const json = JSON.stringify(b.status(i))
        const l = last[i]!
        if (json === l.json && t - l.at < heartbeatMs) continue
        l.json = json
        l.at = t
        const ts = wall + offsets[i]!
        publish(i, 'telemetry', `{"ts":${ts},${json.slice(1)}`, o.onAcked ? { ...b.status(i), ts } : undefined)
      }
    } finally {
      busy = false
    }
  }, stepMs)

  return {
    ids,
    building: b,
    inject: (car, fault, durationMs, opts) => b.inject(car, fault, o.modelNow ? (lastModelT ?? modelNow()) : now(), durationMs, opts),
    sent: () => sent,
    setClockOffset(car, ms) {
      offsets[car] = ms
    },
    async publishRaw(car, payload) {
      await clients[car]!.publishAsync(`${base(ids[car]!)}/telemetry`, payload, { qos: 1 })
    },
    async stop() {
      clearInterval(timer)
      await Promise.all(
        clients.map(async (c, i) => {
          await c.publishAsync(`${base(ids[i]!)}/status`, 'offline', { qos: 1, retain: true }).catch(() => {})
          await c.endAsync()
        }),
      )
    },
  }
}
