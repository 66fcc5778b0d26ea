/**
 * Water-quality stations publishing JSON over MQTT (docs/data-model.md): `online` retained on
 * city/<district>/water_quality/<id>/status with `offline` as the last will, then a reading every interval
 * at QoS 1 on .../telemetry.
 */
import mqtt, { type MqttClient } from 'mqtt'
import { createStationModel, DEFAULT_STATION, type StationModel, type StationParams } from './model.ts'

export interface MqttStationOptions {
  url: string
  district: string
  id: string
  intervalMs: number
  seed: number
  qos?: 0 | 1
  /** Parameters of the river model (defaults: DEFAULT_STATION). */
  params?: Partial<StationParams>
  /** Called with each telemetry object once the broker acknowledged it (ground truth for `smartcity simulate`). */
  onAcked?: (telemetry: { ts: number } & Record<string, number>) => void
  /** The river model's clock (default: the reading time). A run's clock (cli/simulate/clock.ts) makes values reproducible. */
  modelNow?: () => number
}

export interface MqttStation {
  id: string
  model: StationModel
  /** Readings published and acknowledged by the broker. */
  sent(): number
  /** The station's clock runs this far off (ms) from now on: its readings carry that `ts` (a skewed clock). */
  setClockOffset(ms: number): void
  /** Publish raw bytes on the telemetry topic (a broken firmware: garbage or a cut-off payload). */
  publishRaw(payload: Buffer): Promise<void>
  stop(): Promise<void>
}

export async function startMqttStation(o: MqttStationOptions): Promise<MqttStation> {
  const base = `city/${o.district}/water_quality/${o.id}`
  const model = createStationModel(o.seed, { ...DEFAULT_STATION, ...o.params })
  let sent = 0
  let offset = 0
  const client: MqttClient = await mqtt.connectAsync(o.url, {
    clientId: `sim-${o.id}`,
    reconnectPeriod: 1000,
    will: { topic: `${base}/status`, payload: Buffer.from('offline'), qos: 1, retain: true },
  })
  await client.publishAsync(`${base}/status`, 'online', { qos: 1, retain: true })
  const tick = async () => {
    const ts = Date.now() + offset
    try {
      const telemetry = { ts, ...model.read(o.modelNow ? o.modelNow() : ts) }
      await client.publishAsync(`${base}/telemetry`, JSON.stringify(telemetry), { qos: o.qos ?? 1 })
      sent++
      o.onAcked?.(telemetry)
    } catch {
      // broker away: MQTT.js reconnects; this reading is lost at the device, as with a real station
    }
  }
  await tick()
  const timer = setInterval(() => void tick(), o.intervalMs)
  return {
    id: o.id,
    model,
    sent: () => sent,
    setClockOffset(ms) {
      offset = ms
    },
    async publishRaw(payload) {
      await client.publishAsync(`${base}/telemetry`, payload, { qos: o.qos ?? 1 })
    },
    async stop() {
      clearInterval(timer)
      // Say goodbye, but never wait on a broker that does not acknowledge (gone, or refusing): at most 1 s,
      // then close without waiting for what is still in flight.
      const bye = client.publishAsync(`${base}/status`, 'offline', { qos: 1, retain: true }).catch(() => undefined)
      await Promise.race([bye, new Promise((r) => setTimeout(r, 1000).unref())])
      await client.endAsync(true)
    },
  }
}
