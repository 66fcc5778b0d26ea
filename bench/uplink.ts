/**
 * `npm run bench -- uplink`: how fast a backlog drains through the uplink sinks (docs/uplink.md), as after a
 * WAN outage: N points staged in a spool, then the drain with `mqtt-uplink` into a local Mosquitto (no TLS,
 * no subscriber) and with `nats-jetstream` into a local nats-server -js (file storage), each at two batch
 * sizes. Prints points/s and the drain's wall time. Both servers run on this machine's two cores with the
 * gateway side, so the figures are a floor for a WAN link's round trip, not for its bandwidth.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import pino from 'pino'
import { findMosquitto, mosquitto } from '../cli/simulate/mosquitto.ts'
import { findProgram } from '../cli/programs.ts'
import { createDeadLetterLog } from '../gateway/core/deadletter.ts'
import { createDrain } from '../gateway/core/drain.ts'
import { createMetrics } from '../gateway/core/metrics.ts'
import { createSpool } from '../gateway/core/spool.ts'
import type { Sink } from '../gateway/core/types.ts'
import { MqttUplinkSinkConfig, NatsJetStreamSinkConfig } from '../gateway/sinks/config.ts'
import { createMqttUplinkSink } from '../gateway/sinks/mqtt-uplink.ts'
import { createNatsJetStreamSink } from '../gateway/sinks/nats-jetstream.ts'

const log = pino({ level: 'silent' })
const N = Number(process.env['UPLINK_BENCH_POINTS'] ?? 20_000)

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))))
    })
  })

async function drainOnce(dir: string, sink: Sink, batchSize: number): Promise<{ points: number; seconds: number; pointsPerSec: number }> {
  const spool = createSpool({ dir: join(dir, 'spool'), maxBytes: 1 << 30, segmentBytes: 64 << 20, fsync: false, sinks: [sink.id], log })
  const dlq = createDeadLetterLog({ dir: join(dir, 'deadletter'), maxBytes: 1 << 26, log })
  spool.open()
  dlq.open()
  const base = Date.UTC(2026, 10, 1)
  for (let i = 0; i < N; i++) {
    spool.stage(`water_quality,device=wq-${i % 50},district=d1,kind=water_quality,protocol=mqtt,interval=realtime ph=${7 + (i % 100) / 100},water_temp_c=18.${i % 10},turbidity_ntu=3.2 ${base + i}`)
  }
  await spool.committed()
  await sink.start()
  const drain = createDrain(sink, spool, dlq, createMetrics(), log, { batchSize, flushIntervalMs: 50, concurrency: 1, minBackoffMs: 100, maxBackoffMs: 1_000 })
  const t0 = performance.now()
  drain.start()
  const deadline = Date.now() + 300_000
  while (spool.pending(sink.id) > 0 && Date.now() < deadline) await sleep(20)
  const seconds = (performance.now() - t0) / 1000
  const left = spool.pending(sink.id)
  await drain.stop()
  await sink.close()
  spool.close()
  dlq.close()
  if (left > 0) throw new Error(`${left} points not drained in 300 s`)
  return { points: N, seconds: Math.round(seconds * 100) / 100, pointsPerSec: Math.round(N / seconds) }
}

export async function run(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { points: N }
  const mq = findMosquitto()
  if (mq) {
    const dir = mkdtempSync(join(tmpdir(), 'bench-uplink-mqtt-'))
    const broker = mosquitto({ bin: mq, dir: join(dir, 'broker'), port: await freePort() })
    await broker.start()
    try {
      for (const batchSize of [500, 2000]) {
        const sink = createMqttUplinkSink(MqttUplinkSinkConfig.parse({ type: 'mqtt-uplink', url: broker.url, clientId: `bench-${batchSize}` }), log)
        out[`mqtt-uplink batch ${batchSize}`] = await drainOnce(join(dir, `gw-${batchSize}`), sink, batchSize)
      }
    } finally {
      await broker.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  } else out['mqtt-uplink'] = { skipped: 'mosquitto not found' }

  const ns = findProgram('nats-server', { env: 'SMARTCITY_NATS_SERVER', debianPath: '/usr/sbin/nats-server' })
  if (ns) {
    const dir = mkdtempSync(join(tmpdir(), 'bench-uplink-nats-'))
    const port = await freePort()
    const child: ChildProcess = spawn(ns, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', join(dir, 'js')], { stdio: 'ignore' })
    await sleep(1_000)
    try {
      for (const batchSize of [500, 2000]) {
        const sink = createNatsJetStreamSink(NatsJetStreamSinkConfig.parse({ type: 'nats-jetstream', servers: [`nats://127.0.0.1:${port}`], stream: `BENCH${batchSize}`, subject: `b${batchSize}.{district}.{device}` }), log)
        out[`nats-jetstream batch ${batchSize}`] = await drainOnce(join(dir, `gw-${batchSize}`), sink, batchSize)
      }
    } finally {
      child.kill('SIGTERM')
      await new Promise((r) => child.once('exit', r))
      rmSync(dir, { recursive: true, force: true })
    }
  } else out['nats-jetstream'] = { skipped: 'nats-server not found' }
  return out
}
