/**
 * The live-server fuzz (issue 13), shared by `npm test` (test/fuzz/live.test.ts, small) and
 * `npm run bench -- fuzz-live` (bench/fuzz-live.ts, full scale): fuzzed byte streams (test/fuzz/targets.ts)
 * sent to the gateway's TCP device servers (JT/T 808, HJ 212, the ETC RSU's server mode) over real sockets,
 * fuzzed MQTT messages (random and near-valid topics, JSON and bytes, QoS 0 and 1) to its broker, and,
 * meanwhile, well-behaved devices (an MQTT station at QoS 1, a JT/T 808 terminal) whose every acknowledged
 * reading is counted. Every loop is bounded in count and time.
 */
import { connect } from 'node:net'
import fc from 'fast-check'
import mqtt from 'mqtt'
import { DISTRICT_ROUTES } from '../../simulators/jt808/index.ts'
import { createTerminal } from '../../simulators/jt808/terminal.ts'
import { type FuzzTarget, fuzzTargets, streamArb } from './targets.ts'

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

function target(name: string): FuzzTarget {
  const t = fuzzTargets().find((x) => x.name === name)
  if (!t) throw new Error(`no fuzz target ${name}`)
  return t
}

/**
 * `streams` fuzzed streams of `targetName` to 127.0.0.1:`port`, over `connections` sockets at a time; a
 * socket the server closes (bad-frame budget, idle time-out) is replaced for the next stream. Resolves with
 * what was sent, by `deadline` at the latest.
 */
export async function fuzzTcp(port: number, targetName: string, o: { streams: number; connections: number; seed: number; deadline: number; pauseMs?: number }): Promise<{ streams: number; bytes: number; connects: number }> {
  const streams = fc.sample(streamArb(target(targetName)), { numRuns: o.streams, seed: o.seed })
  const sent = { streams: 0, bytes: 0, connects: 0 }
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < streams.length && Date.now() < o.deadline) {
      const chunks = streams[next++]!
      sent.connects++
      await new Promise<void>((resolve) => {
        const s = connect({ host: '127.0.0.1', port })
        const done = () => {
          clearTimeout(t)
          s.destroy()
          resolve()
        }
        // A stream is bounded in time whatever the server does.
        const t = setTimeout(done, 2000)
        s.on('error', done)
        s.on('close', done)
        s.on('data', () => undefined)
        s.once('connect', async () => {
          for (const c of chunks) {
            if (s.destroyed) break
            s.write(c)
            sent.bytes += c.length
            if (o.pauseMs) await sleep(o.pauseMs)
          }
          sent.streams++
          // Half-close: the server sees the end of this device's stream, then the socket goes.
          s.end()
          setTimeout(done, 50)
        })
      })
    }
  }
  await Promise.all(Array.from({ length: o.connections }, worker))
  return sent
}

const KINDS = ['water_quality', 'energy_meter', 'etc', 'elevator', 'position', 'nosuchkind']
const CHANNELS = ['telemetry', 'event', 'status', 'nothing']

/** An MQTT topic: mostly of the city/<district>/<kind>/<device>/<channel> shape, sometimes anything. */
const topicArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...KINDS), fc.integer({ min: 0, max: 20 }), fc.constantFrom(...CHANNELS)).map(([k, d, c]) => `city/fz/${k}/fuzz-${d}/${c}`) },
  { weight: 1, arbitrary: fc.stringMatching(/^[a-z0-9/_-]{1,40}$/).filter((s) => !s.startsWith('$')) },
)

/** `messages` fuzzed publishes on `clients` connections: random payloads, QoS 0 and 1. */
export async function fuzzMqtt(url: string, o: { messages: number; clients: number; seed: number; deadline: number }): Promise<{ messages: number; bytes: number }> {
  const json = target('json-readings')
  const arb = fc.tuple(topicArb, fc.oneof(streamArb(json).map((c) => c[0]!), fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a))), fc.constantFrom(0 as const, 1 as const))
  const msgs = fc.sample(arb, { numRuns: o.messages, seed: o.seed })
  const sent = { messages: 0, bytes: 0 }
  let next = 0
  await Promise.all(
    Array.from({ length: o.clients }, async (_, i) => {
      const c = await mqtt.connectAsync(url, { clientId: `fuzzer-${o.seed}-${i}`, reconnectPeriod: 0, connectTimeout: 5000 })
      try {
        while (next < msgs.length && Date.now() < o.deadline) {
          const [topic, payload, qos] = msgs[next++]!
          if (qos === 1) await Promise.race([c.publishAsync(topic, payload, { qos }), sleep(2000)])
          else c.publish(topic, payload, { qos })
          sent.messages++
          sent.bytes += payload.length
        }
      } finally {
        await Promise.race([c.endAsync(), sleep(2000)])
      }
    }),
  )
  return sent
}

/**
 * The two findings as a client would send them: `messages` QoS 0 messages of 5,000 refused readings
 * each, then 6,000 nested arrays at QoS 1. Resolves once the QoS 1 message is acknowledged.
 */
export async function floodMqtt(url: string, o: { messages: number; items?: number }): Promise<{ bytes: number }> {
  const payload = JSON.stringify(Array.from({ length: o.items ?? 5000 }, () => ({ ph: 99 })))
  const c = await mqtt.connectAsync(url, { clientId: 'flooder', reconnectPeriod: 0 })
  try {
    for (let i = 0; i < o.messages; i++) c.publish('city/fz/water_quality/flood-1/telemetry', payload, { qos: 0 })
    await c.publishAsync('city/fz/water_quality/flood-2/telemetry', `${'['.repeat(6000)}${']'.repeat(6000)}`, { qos: 1 })
  } finally {
    await c.endAsync()
  }
  return { bytes: payload.length * o.messages + 12_000 }
}

/** What the well-behaved devices sent and had acknowledged, and the slowest acknowledgement. */
export interface GoodStats {
  mqtt: { sent: number; acked: number; maxAckMs: number }
  jt808: { sent: number; acked: number; maxAckMs: number }
}

/**
 * Well-behaved devices: an MQTT station (`good-station`, QoS 1 every `periodMs`) and a JT/T 808 terminal
 * (`phone`, with `authCode` if the source needs one, one location every `periodMs`). `stop()` ends them and
 * returns their counts.
 */
export async function goodDevices(o: { mqttUrl: string; jt808Port: number; periodMs: number; phone?: string; authCode?: string }): Promise<{ stop(): Promise<GoodStats> }> {
  const stats: GoodStats = { mqtt: { sent: 0, acked: 0, maxAckMs: 0 }, jt808: { sent: 0, acked: 0, maxAckMs: 0 } }
  const station = await mqtt.connectAsync(o.mqttUrl, { clientId: 'good-station' })
  const terminal = createTerminal({ host: '127.0.0.1', port: o.jt808Port, phone: o.phone ?? '13900000777', vehicle: 'bus', route: DISTRICT_ROUTES.bus, autoReport: false, alarmProbability: 0, reconnect: true, ...(o.authCode ? { authCode: o.authCode } : {}) })
  await terminal.start()
  let running = true
  const base = Date.now()
  const loop = async (send: () => Promise<unknown>, s: { sent: number; acked: number; maxAckMs: number }) => {
    while (running) {
      const t0 = Date.now()
      s.sent++
      try {
        await send()
        s.acked++
        s.maxAckMs = Math.max(s.maxAckMs, Date.now() - t0)
      } catch {
        // counted as sent, not acknowledged
      }
      await sleep(Math.max(0, o.periodMs - (Date.now() - t0)))
    }
  }
  let i = 0
  const loops = [
    loop(() => Promise.race([station.publishAsync('city/fz/water_quality/good-station/telemetry', JSON.stringify({ ts: base + i++, ph: 7.1, water_temp_c: 18.2 }), { qos: 1 }), sleep(5000).then(() => Promise.reject(new Error('no PUBACK within 5 s')))]), stats.mqtt),
    loop(async () => {
      const r = await Promise.race([terminal.report(), sleep(5000).then(() => -2)])
      if (r !== 0) throw new Error(r === -2 ? 'no answer within 5 s' : `refused (${r})`)
    }, stats.jt808),
  ]
  return {
    async stop() {
      running = false
      await Promise.all(loops)
      await station.endAsync()
      await terminal.stop()
      return stats
    },
  }
}
