import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import mqtt from 'mqtt'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { joinLines } from '../../gateway/core/spool.ts'
import { MqttUplinkSinkConfig, NatsJetStreamSinkConfig } from '../../gateway/sinks/config.ts'
import { createMqttUplinkSink } from '../../gateway/sinks/mqtt-uplink.ts'
import { createNatsJetStreamSink } from '../../gateway/sinks/nats-jetstream.ts'
import type { UplinkJson } from '../../gateway/sinks/uplink.ts'
import { have, tempDir } from '../helpers/env.ts'
import { startMosquitto } from '../helpers/mosquitto.ts'
import { startNats } from '../helpers/nats.ts'
import { sleep, waitFor } from '../helpers/net.ts'

const log = pino({ level: 'silent' })

/**
 * A WAN link that fails mid-batch: a TCP relay to the real server that, once `cutAfter` bytes went up,
 * forwards nothing more upwards, lets the answers to what did go up come back for 300 ms, then drops both
 * sides. So the server has (and has acknowledged) the first part of a batch and never saw the rest.
 */
async function flakyLink(target: number, cutAfter: number): Promise<{ port: number; cuts: () => number; close: () => Promise<void> }> {
  let armed = true
  let cuts = 0
  const socks = new Set<Socket>()
  const server: Server = createServer((down) => {
    const up = tcpConnect({ host: '127.0.0.1', port: target })
    socks.add(down)
    socks.add(up)
    let sent = 0
    let cut = false
    const end = () => {
      down.destroy()
      up.destroy()
    }
    down.on('data', (d: Buffer) => {
      if (cut) return
      if (armed && sent + d.length > cutAfter) {
        up.write(d.subarray(0, Math.max(0, cutAfter - sent)))
        cut = true
        armed = false
        cuts++
        setTimeout(end, 300)
        return
      }
      sent += d.length
      up.write(d)
    })
    up.on('data', (d: Buffer) => down.write(d))
    for (const s of [down, up]) {
      s.on('error', () => undefined)
      s.on('close', end)
    }
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const a = server.address()
  return {
    port: a && typeof a === 'object' ? a.port : 0,
    cuts: () => cuts,
    close: async () => {
      for (const s of socks) s.destroy()
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}

const BASE = Date.UTC(2026, 10, 5)
const lines = Array.from({ length: 400 }, (_, i) => `water_quality,device=wq-cut,district=d1,kind=water_quality ph=${7 + (i % 100) / 100} ${BASE + i}`)

describe('a link cut in the middle of a batch: the retry sends only what was not acknowledged', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it.skipIf(!have('mosquitto'))('mqtt-uplink: every point once at the broker, in order, though the batch went twice', { timeout: 60_000 }, async () => {
    const broker = await startMosquitto(tmp.dir)
    const got: UplinkJson[] = []
    const city = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 })
    city.on('message', (_t, p) => got.push(JSON.parse(p.toString()) as UplinkJson))
    await city.subscribeAsync('city/#', { qos: 1 })
    // About half of the batch's PUBLISH packets (each ~200 bytes) get through before the cut.
    const link = await flakyLink(broker.port, 40_000)
    const sink = createMqttUplinkSink(MqttUplinkSinkConfig.parse({ type: 'mqtt-uplink', url: `mqtt://127.0.0.1:${link.port}`, timeoutMs: 5_000 }), log)
    try {
      const batch = joinLines(lines)
      const first = await sink.write(batch)
      expect(first.kind).toBe('retry')
      expect(link.cuts()).toBe(1)
      await sleep(300)
      const before = got.length
      expect(before).toBeGreaterThan(50)
      expect(before).toBeLessThan(400)
      expect(await sink.write(batch)).toEqual({ kind: 'accepted' })
      await waitFor(() => got.length >= 400, 10_000, '400 messages')
      await sleep(300)
      expect(got.map((g) => g.time - BASE)).toEqual(Array.from({ length: 400 }, (_, i) => i))
    } finally {
      await sink.close()
      await city.endAsync()
      await link.close()
      await broker.stop()
    }
  })

  it.skipIf(!have('nats-server'))('nats-jetstream: every point once in the stream, in order (a new connection, nothing flushed late)', { timeout: 60_000 }, async () => {
    const nats = await startNats(tmp.dir)
    const link = await flakyLink(nats.port, 40_000)
    const sink = createNatsJetStreamSink(NatsJetStreamSinkConfig.parse({ type: 'nats-jetstream', servers: [`nats://127.0.0.1:${link.port}`], stream: 'CUT', timeoutMs: 3_000 }), log)
    const nc = await connect({ servers: nats.url, reconnect: false })
    try {
      const batch = joinLines(lines)
      let r = await sink.write(batch)
      // The stream is created on the first connection; the cut may come during that or during the batch.
      for (let i = 0; i < 5 && r.kind !== 'accepted'; i++) r = await sink.write(batch)
      expect(r).toEqual({ kind: 'accepted' })
      expect(link.cuts()).toBe(1)
      const jsm = await jetstreamManager(nc)
      const info = await jsm.streams.info('CUT')
      expect(info.state.messages).toBe(400)
      const times: number[] = []
      for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) times.push((await jsm.streams.getMessage('CUT', { seq }))!.json<UplinkJson>().time - BASE)
      expect(times).toEqual(Array.from({ length: 400 }, (_, i) => i))
      expect((await sink.health()).detail).toMatch(/ stored, \d+ duplicates dropped/)
    } finally {
      await sink.close()
      await nc.close()
      await link.close()
      await nats.stop()
    }
  })
})
