/**
 * Benchmark publisher, run as its own process so its CPU is not the gateway's:
 *   node --import tsx bench/publisher.ts <mqttUrl> <qos> <count> <devices> <baseTs> [connections] [first] [step]
 * Publishes realistic 7-field station readings over `connections` MQTT connections (stations each have
 * their own link in a district; default 10), as fast as the broker takes them: QoS 0 paced by TCP
 * back-pressure, QoS 1 with a window of in-flight messages per connection. It takes readings
 * i = first, first + step, ... below `count` (default all of them): several publisher processes split the
 * devices between them, as real stations do not share one CPU.
 * Prints `{"sent": n, "ms": t, "start": epochMs}`.
 */
import mqtt, { type MqttClient } from 'mqtt'

const [url = 'mqtt://127.0.0.1:1883', qosArg = '0', countArg = '100000', devicesArg = '100', baseArg = '1790000000000', connArg = '10', firstArg = '0', stepArg = '1'] = process.argv.slice(2)
const qos = Number(qosArg) as 0 | 1
const count = Number(countArg)
const devices = Number(devicesArg)
const base = Number(baseArg)
const connections = Math.max(1, Math.min(Number(connArg), devices))
const first = Number(firstArg)
const step = Math.max(1, Number(stepArg))

const topics = Array.from({ length: devices }, (_, d) => `city/bench/water_quality/wq-${String(d).padStart(4, '0')}/telemetry`)
const payload = (i: number) =>
  `{"ts":${base + i},"ph":${(7 + (i % 50) / 100).toFixed(2)},"water_temp_c":${(18 + (i % 30) / 10).toFixed(1)},"dissolved_oxygen_mg_l":${(8 + (i % 20) / 10).toFixed(1)},"turbidity_ntu":${(3 + (i % 40) / 10).toFixed(1)},"conductivity_us_cm":${450 + (i % 60)},"cod_mg_l":${(12 + (i % 80) / 10).toFixed(1)},"ammonia_nitrogen_mg_l":${(0.3 + (i % 25) / 100).toFixed(2)}}`

/**
 * Connection `c` publishes readings i = first + step * c, then every `step * connections` (so device
 * d = i % devices stays on one link when devices is a multiple of step * connections).
 */
async function run(client: MqttClient, c: number): Promise<void> {
  const start = first + step * c
  const stride = step * connections
  if (qos === 0) {
    let n = 0
    for (let i = start; i < count; i += stride) {
      const ok = client.publish(topics[i % devices]!, payload(i), { qos: 0 })
      if (!ok || ++n % 500 === 0) await new Promise<void>((r) => (client.stream.writableNeedDrain ? client.stream.once('drain', () => r()) : setImmediate(r)))
    }
    await new Promise<void>((r) => client.stream.write('', () => r()))
    return
  }
  // In-flight QoS 1 messages per connection: with one connection the rate is window / round trip.
  const WINDOW = Number(process.env['BENCH_QOS1_WINDOW'] ?? 2000)
  let next = start
  let inflight = 0
  let done = 0
  const total = Math.max(0, Math.ceil((count - start) / stride))
  if (total === 0) return
  await new Promise<void>((resolve, reject) => {
    const send = () => {
      while (next < count && inflight < WINDOW) {
        const i = next
        next += stride
        inflight++
        client.publish(topics[i % devices]!, payload(i), { qos: 1 }, (err) => {
          if (err) return reject(err)
          inflight--
          if (++done === total) resolve()
          else if (inflight < WINDOW / 2) setImmediate(send)
        })
      }
    }
    send()
  })
}

const clients = await Promise.all(Array.from({ length: connections }, (_, c) => mqtt.connectAsync(url, { clientId: `bench-pub-${process.pid}-${c}`, reconnectPeriod: 0 })))
const t0 = performance.now()
await Promise.all(clients.map((cl, c) => run(cl, c)))
const ms = performance.now() - t0
await Promise.all(clients.map((cl) => cl.endAsync()))
// `start`: when the first reading went out, as epoch ms (performance.timeOrigin based, sub-millisecond).
const cpu = process.cpuUsage()
const sent = Math.max(0, Math.ceil((count - first) / step))
process.stdout.write(`${JSON.stringify({ sent, ms, connections, start: performance.timeOrigin + t0, cpuUs: cpu.user + cpu.system })}\n`)
