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
import { publisherArgs, stationPayload } from './stations.ts'

const { url, qos, count, devices, base, connections, first, step, topics, sent } = publisherArgs(process.argv.slice(2))
const payload = (i: number): string => stationPayload(i, base)
/** Readings per second per connection when paced (BENCH_RATE, QoS 0), else 0: as fast as TCP takes them. */
const PACE = Number(process.env['BENCH_RATE'] ?? 0) / connections

/**
 * Connection `c` publishes readings i = first + step * c, then every `step * connections` (so device
 * d = i % devices stays on one link when devices is a multiple of step * connections).
 */
async function run(client: MqttClient, c: number): Promise<void> {
  const start = first + step * c
  const stride = step * connections
  if (qos === 0) {
    let n = 0
    const t0 = performance.now()
    for (let i = start; i < count; i += stride) {
      const ok = client.publish(topics[i % devices]!, payload(i), { qos: 0 })
      if (!ok || ++n % 500 === 0) await new Promise<void>((r) => (client.stream.writableNeedDrain ? client.stream.once('drain', () => r()) : setImmediate(r)))
      // Paced (BENCH_RATE, the sustained scenario): reading n of this connection is due n / PACE s after the start.
      if (PACE > 0 && n % 64 === 0) {
        const ahead = t0 + (n * 1000) / PACE - performance.now()
        if (ahead > 1) await new Promise<void>((r) => setTimeout(r, ahead))
      }
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
process.stdout.write(`${JSON.stringify({ sent, ms, connections, start: performance.timeOrigin + t0, cpuUs: cpu.user + cpu.system })}\n`)
