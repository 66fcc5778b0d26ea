/**
 * Water-quality stations publishing JSON over MQTT (docs/data-model.md): `online` retained on
 * city/<district>/water_quality/<id>/status with `offline` as the last will, then a reading every interval
 * at QoS 1 on .../telemetry.
 */
import mqtt, { type MqttClient } from 'mqtt'
import { createStationModel, type StationModel } from './model.ts'

export interface MqttStationOptions {
  url: string
  district: string
  id: string
  intervalMs: number
  seed: number
  qos?: 0 | 1
}

export interface MqttStation {
  id: string
  model: StationModel
  /** Readings published and acknowledged by the broker. */
  sent(): number
  stop(): Promise<void>
}

export async function startMqttStation(o: MqttStationOptions): Promise<MqttStation> {
  const base = `city/${o.district}/water_quality/${o.id}`
  const model = createStationModel(o.seed)
  let sent = 0
  const client: MqttClient = await mqtt.connectAsync(o.url, {
    clientId: `sim-${o.id}`,
    reconnectPeriod: 1000,
    will: { topic: `${base}/status`, payload: Buffer.from('offline'), qos: 1, retain: true },
  })
  await client.publishAsync(`${base}/status`, 'online', { qos: 1, retain: true })
  const tick = async () => {
    const ts = Date.now()
    try {
      await client.publishAsync(`${base}/telemetry`, JSON.stringify({ ts, ...model.read(ts) }), { qos: o.qos ?? 1 })
      sent++
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
