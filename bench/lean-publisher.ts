/**
 * A lean benchmark publisher: the same readings, topics, connections and arguments as bench/publisher.ts,
 * speaking MQTT 3.1.1 from pre-encoded packets (bench/mqtt-wire.ts) instead of through MQTT.js, whose
 * QoS 1 publish costs 12-15 us of CPU, more than the gateway spends on the reading. On a machine where the
 * simulated stations share the cores with the gateway and InfluxDB, this leaves the gateway's own cost to
 * decide the rate, as real stations (each on its own hardware) would.
 * QoS 0: packets written as fast as TCP takes them. QoS 1: a window of in-flight packet identifiers per
 * connection; every PUBACK must answer an identifier in flight, or the run fails.
 *   node --import tsx bench/lean-publisher.ts <mqttUrl> <qos> <count> <devices> <baseTs> [connections] [first] [step]
 * BENCH_RATE=R (QoS 0 only): send at R readings per second in all (split over the connections) instead of
 * as fast as TCP takes them: the sustained-rate scenario of bench/ingest.ts.
 * Prints `{"sent": n, "ms": t, "start": epochMs, "cpuUs": us}`.
 */
import { connect, type Socket } from 'node:net'
import { ackReader, connectPacket, DISCONNECT, publishPacket } from './mqtt-wire.ts'
import { publisherArgs, stationPayload } from './stations.ts'

const { url, qos, count, devices, base, connections, first, step, topics, sent } = publisherArgs(process.argv.slice(2))
const WINDOW = Number(process.env['BENCH_QOS1_WINDOW'] ?? 2000)
/** Readings per second per connection when paced (BENCH_RATE), else 0: as fast as TCP takes them. */
const PACE = Number(process.env['BENCH_RATE'] ?? 0) / connections
const target = new URL(url)
const payload = (i: number): string => stationPayload(i, base)

interface Link {
  sock: Socket
  onConnack: (code: number) => void
  onPuback: (id: number) => void
}

async function open(c: number): Promise<Link> {
  const sock = connect(Number(target.port), target.hostname)
  sock.setNoDelay(true)
  const link: Link = { sock, onConnack: () => undefined, onPuback: () => undefined }
  const fail = (e: Error) => {
    process.stderr.write(`connection ${c}: ${e.message}\n`)
    process.exit(1)
  }
  sock.on('error', fail)
  sock.on('data', ackReader({ connack: (code) => link.onConnack(code), puback: (id) => link.onPuback(id), error: fail }))
  await new Promise<void>((resolve, reject) => {
    link.onConnack = (code) => (code === 0 ? resolve() : reject(new Error(`CONNACK return code ${code}`)))
    sock.once('connect', () => sock.write(connectPacket(`bench-lean-${process.pid}-${c}`)))
  })
  return link
}

/** Connection `c` publishes readings i = first + step * c, then every `step * connections` (as publisher.ts). */
async function run(link: Link, c: number): Promise<void> {
  const start = first + step * c
  const stride = step * connections
  const { sock } = link
  if (qos === 0) {
    // Several packets per write: TCP keeps no message boundaries anyway, and the broker reads a stream.
    let batch: Buffer[] = []
    const t0 = performance.now()
    let k = 0
    for (let i = start; i < count; i += stride) {
      batch.push(publishPacket(topics[i % devices]!, payload(i), 0, 0))
      k++
      if (batch.length === 64) {
        if (!sock.write(Buffer.concat(batch))) await new Promise<void>((r) => sock.once('drain', () => r()))
        batch = []
        // Paced: reading k of this connection is due k / PACE seconds after the start.
        const ahead = PACE > 0 ? t0 + (k * 1000) / PACE - performance.now() : 0
        if (ahead > 1) await new Promise<void>((r) => setTimeout(r, ahead))
      }
    }
    if (batch.length > 0) sock.write(Buffer.concat(batch))
    await new Promise<void>((r) => sock.write(DISCONNECT, () => r()))
    return
  }
  const total = Math.max(0, Math.ceil((count - start) / stride))
  if (total === 0) return
  const inFlight = new Uint8Array(65_536)
  let nextId = 1
  let inflight = 0
  let acked = 0
  let next = start
  await new Promise<void>((resolve, reject) => {
    const send = () => {
      const batch: Buffer[] = []
      while (next < count && inflight < WINDOW) {
        while (inFlight[nextId] === 1) nextId = nextId === 65_535 ? 1 : nextId + 1
        inFlight[nextId] = 1
        batch.push(publishPacket(topics[next % devices]!, payload(next), 1, nextId))
        nextId = nextId === 65_535 ? 1 : nextId + 1
        next += stride
        inflight++
        if (batch.length === 64) sock.write(Buffer.concat(batch.splice(0)))
      }
      if (batch.length > 0) sock.write(Buffer.concat(batch))
    }
    let refill = false
    link.onPuback = (id) => {
      if (inFlight[id] !== 1) return reject(new Error(`PUBACK for packet ${id}, which is not in flight`))
      inFlight[id] = 0
      inflight--
      if (++acked === total) return resolve()
      if (inflight < WINDOW / 2 && next < count && !refill) {
        refill = true
        setImmediate(() => {
          refill = false
          send()
        })
      }
    }
    send()
  })
  sock.write(DISCONNECT)
}

const links = await Promise.all(Array.from({ length: connections }, (_, c) => open(c)))
const t0 = performance.now()
await Promise.all(links.map((l, c) => run(l, c)))
const ms = performance.now() - t0
for (const l of links) l.sock.end()
const cpu = process.cpuUsage()
process.stdout.write(`${JSON.stringify({ sent, ms, connections, start: performance.timeOrigin + t0, cpuUs: cpu.user + cpu.system })}\n`)
