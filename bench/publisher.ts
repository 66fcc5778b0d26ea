/**
 * Benchmark publisher, run as its own process so its CPU is not the gateway's:
 *   node --import tsx bench/publisher.ts <mqttUrl> <qos> <count> <devices> <baseTs>
 * Publishes `count` realistic 7-field station readings as fast as the broker takes them (QoS 0: paced by
 * TCP back-pressure; QoS 1: a window of in-flight messages), then prints `{"sent": n, "ms": t}`.
 */
import mqtt from 'mqtt'

const [url = 'mqtt://127.0.0.1:1883', qosArg = '0', countArg = '100000', devicesArg = '100', baseArg = '1790000000000'] = process.argv.slice(2)
const qos = Number(qosArg) as 0 | 1
const count = Number(countArg)
const devices = Number(devicesArg)
const base = Number(baseArg)

const client = await mqtt.connectAsync(url, { clientId: `bench-pub-${process.pid}`, reconnectPeriod: 0 })
const topics = Array.from({ length: devices }, (_, d) => `city/bench/water_quality/wq-${String(d).padStart(4, '0')}/telemetry`)
const payload = (i: number) =>
  `{"ts":${base + i},"ph":${(7 + (i % 50) / 100).toFixed(2)},"water_temp_c":${(18 + (i % 30) / 10).toFixed(1)},"dissolved_oxygen_mg_l":${(8 + (i % 20) / 10).toFixed(1)},"turbidity_ntu":${(3 + (i % 40) / 10).toFixed(1)},"conductivity_us_cm":${450 + (i % 60)},"cod_mg_l":${(12 + (i % 80) / 10).toFixed(1)},"ammonia_nitrogen_mg_l":${(0.3 + (i % 25) / 100).toFixed(2)}}`

const t0 = performance.now()
if (qos === 0) {
  for (let i = 0; i < count; i++) {
    const ok = client.publish(topics[i % devices]!, payload(i), { qos: 0 })
    // Respect TCP back-pressure so nothing piles up in this process.
    if (!ok || i % 2000 === 1999) await new Promise<void>((r) => (client.stream.writableNeedDrain ? client.stream.once('drain', () => r()) : setImmediate(r)))
  }
  await new Promise<void>((r) => client.stream.write('', () => r()))
} else {
  const WINDOW = 2000
  let next = 0
  let acked = 0
  await new Promise<void>((resolve, reject) => {
    const send = () => {
      while (next < count && next - acked < WINDOW) {
        const i = next++
        client.publish(topics[i % devices]!, payload(i), { qos: 1 }, (err) => {
          if (err) return reject(err)
          acked++
          if (acked === count) resolve()
          else if (next < count && next - acked < WINDOW / 2) setImmediate(send)
        })
      }
    }
    send()
  })
}
const ms = performance.now() - t0
await client.endAsync()
process.stdout.write(`${JSON.stringify({ sent: count, ms })}\n`)
