/**
 * NATS JetStream as the clustered front (docs/scale-out.md): three nats-server processes clustered on
 * loopback, each with JetStream and an MQTT listener; MQTT devices publish QoS 1 into two of the nodes;
 * the work-queue stream (replicas 3) keeps every message; two gateway instances (child processes) pull from
 * one shared durable consumer. Mid-run one gateway is SIGKILLed (started again later: what it had
 * acknowledged waits in its own spool) and one NATS node is SIGKILLed (left dead: two of three keep the
 * quorum; its MQTT publishers reconnect to the other node and send what was not acknowledged again).
 * Every reading must be in InfluxDB once (InfluxDB keeps one point per series and time).
 *
 * NATS MQTT: https://docs.nats.io/running-a-nats-service/configuration/mqtt (server_name and JetStream are
 * required); work-queue streams: https://docs.nats.io/nats-concepts/jetstream/streams#retentionpolicy.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import mqtt, { type MqttClient } from 'mqtt'
import { afterAll, describe, expect, it } from 'vitest'
import { have, tempDir } from '../helpers/env.ts'
import { type GatewayProcess, startGatewayProcess } from '../helpers/gateway-process.ts'
import { stationReading } from '../helpers/gateway.ts'
import { useInflux } from '../helpers/influx.ts'
import { type NatsCluster, startNatsCluster } from '../helpers/nats-cluster.ts'
import { freePort, sleep, waitFor } from '../helpers/net.ts'

// NATS's MQTT listener stores each QoS 1 publish in JetStream (R3) before its PUBACK: on this shared 2-core
// machine one connection does ~100-200 a second, so 20 publishers carry the load.
const TOTAL = 20_000
const PUBLISHERS = 20
const DEVICES = 100
const PER_DEVICE = TOTAL / DEVICES

describe.skipIf(!have('influxd', 'nats-server'))('NATS JetStream cluster front: 3 nodes, 2 gateway instances on one work-queue consumer', () => {
  const influx = useInflux()
  const tmp = tempDir('nats-cluster-')
  afterAll(() => tmp.cleanup())

  /**
   * `work-queue`: the gateways' own work-queue stream CITY (subjects city.>); the node killed is a publisher
   * node that does not lead CITY. `mqtt-stream`: the durable consumer on NATS's own QoS 1 stream
   * `$MQTT_msgs` (what the PUBACK waits for); the node killed is that stream's leader.
   */
  async function run(mode: 'work-queue' | 'mqtt-stream', db: string): Promise<void> {
    const t0 = Date.now()
    const base0 = join(tmp.dir, mode)
    const cluster: NatsCluster = await startNatsCluster(join(base0, 'nats'))
    await cluster.ready()
    const stream = mode === 'work-queue' ? 'CITY' : '$MQTT_msgs'
    const src =
      mode === 'work-queue'
        ? 'stream: CITY, replicas: 3'
        : 'stream: "$MQTT_msgs", filterSubject: "$MQTT.msgs.city.>", stripPrefix: "$MQTT.msgs."'
    const yaml = (id: string, httpPort: number) => {
      const dir = join(base0, id)
      mkdirSync(dir, { recursive: true })
      return [
        `gateway: { id: ${id} }`,
        `dataDir: ${dir}`,
        'log: { level: warn }',
        // The embedded broker is not what devices use here: a free port keeps it out of the way.
        'broker: { type: embedded, port: 0 }',
        `http: { host: 127.0.0.1, port: ${httpPort} }`,
        'sources:',
        `  - { type: nats-jetstream, servers: [${cluster.urls.map((u) => `"${u}"`).join(', ')}], ${src}, durable: gateways, ackWaitSec: 5, batch: 200, connectWaitMs: 1000, reconnectMaxMs: 1000 }`,
        'sinks:',
        `  - { type: influx-v1, url: "${influx.url}", database: ${db}, flushIntervalMs: 200 }`,
        '',
      ].join('\n')
    }
    const ports = { a: await freePort(), b: await freePort() }
    const gws: Record<'a' | 'b', GatewayProcess | undefined> = { a: undefined, b: undefined }
    const publishers: MqttClient[] = []
    const nc = await connect({ servers: cluster.urls })
    try {
      gws.a = await startGatewayProcess(base0, 'gw-a', yaml('gw-a', ports.a), ports.a)
      gws.b = await startGatewayProcess(base0, 'gw-b', yaml('gw-b', ports.b), ports.b)
      const jsm = await jetstreamManager(nc)
      const publisherNodes = [cluster.nodes[0]!, cluster.nodes[1]!]
      for (let k = 0; k < PUBLISHERS; k++) {
        const home = publisherNodes[k % 2]!
        const away = publisherNodes[(k + 1) % 2]!
        const c = await mqtt.connectAsync({
          servers: [
            { host: '127.0.0.1', port: home.mqttPort },
            { host: '127.0.0.1', port: away.mqttPort },
          ],
          clientId: `nats-pub-${k}`,
          protocolVersion: 4,
          reconnectPeriod: 300,
          connectTimeout: 5_000,
        })
        c.on('error', () => undefined)
        publishers.push(c)
      }
      // NATS makes $MQTT_msgs at the first MQTT connect; the gateways make CITY and their consumer.
      const info = await waitFor(async () => jsm.streams.info(stream), 30_000, `the ${stream} stream`, 250)
      expect(info.config.num_replicas).toBe(3)
      expect(info.config.retention).toBe(mode === 'work-queue' ? 'workqueue' : 'interest')
      await waitFor(async () => (await jsm.consumers.info(stream, 'gateways')).num_waiting >= 1, 30_000, 'a gateway pulling', 250)
      // The node to kill: work-queue, a publisher node that does not lead CITY (docs/scale-out.md: NATS's
      // PUBACK follows its own QoS 1 store, not CITY's copy); mqtt-stream, the leader of $MQTT_msgs.
      const leader = info.cluster?.leader
      const victim = mode === 'work-queue' ? publisherNodes.find((n) => n.name !== leader)! : cluster.nodes.find((n) => n.name === leader)!

      const base = Date.UTC(2026, 10, 21)
      let acked = 0
      let sent = 0
      const deadline = Date.now() + 240_000
      // Bounded in count (TOTAL) and time (240 s); each publisher has at most 50 QoS 1 messages in flight.
      const publishing = Promise.all(
        publishers.map(async (c, k) => {
          for (let i = k; i < TOTAL && Date.now() < deadline; i += PUBLISHERS * 50) {
            const batch: Promise<unknown>[] = []
            for (let j = i; j < Math.min(TOTAL, i + PUBLISHERS * 50); j += PUBLISHERS) {
              const dev = j % DEVICES
              const seq = Math.floor(j / DEVICES)
              sent++
              batch.push(c.publishAsync(`city/d1/water_quality/wq-nats-${dev}/telemetry`, JSON.stringify(stationReading(j, base + seq * 1_000)), { qos: 1 }).then(() => acked++))
            }
            await Promise.race([Promise.all(batch), sleep(Math.max(0, deadline - Date.now()))])
          }
        }),
      )

      await waitFor(() => acked >= TOTAL * 0.3, 200_000, '30% acknowledged', 20)
      const bAtKill = await gws.b.metric('smartcity_readings_accepted_total')
      await gws.a.kill()
      const gatewayKilledAt = (Date.now() - t0) / 1000
      await waitFor(() => acked >= TOTAL * 0.5, 200_000, '50% acknowledged', 20)
      await victim.kill()
      const nodeKilledAt = (Date.now() - t0) / 1000
      // gw-b carries on alone (the consumer gives it gw-a's share and, after ackWaitSec, gw-a's unacknowledged
      // messages) once the killed node's streams have new leaders (seconds; more for the stream's own leader).
      const bAlone = await waitFor(async () => Math.max(0, (await gws.b!.metric('smartcity_readings_accepted_total')) - bAtKill), 90_000, 'gw-b carrying on alone', 250)
      expect(bAlone).toBeGreaterThan(0)
      const bGoingOnAtSeconds = (Date.now() - t0) / 1000
      // gw-a again, on its own dataDir: what it had acknowledged to JetStream is in its spool.
      gws.a = await startGatewayProcess(base0, 'gw-a', yaml('gw-a', ports.a), ports.a)
      await publishing
      const publishSeconds = (Date.now() - t0) / 1000
      expect(sent).toBe(TOTAL)
      expect(acked).toBe(TOTAL)

      const where = `time >= ${base}ms`
      await waitFor(async () => (await influx.count(db, 'water_quality', 'ph', where)) >= TOTAL, 180_000, `${TOTAL} points in InfluxDB`, 500)
      await waitFor(async () => (await gws.a!.metric('smartcity_spool_depth_points')) === 0 && (await gws.b!.metric('smartcity_spool_depth_points')) === 0, 60_000, 'both spools drained', 500)
      await sleep(1_000)
      expect(await influx.count(db, 'water_quality', 'ph', where)).toBe(TOTAL)
      for (const dev of [0, 1, 55, DEVICES - 1]) {
        expect(await influx.count(db, 'water_quality', 'ph', `${where} AND "device"='wq-nats-${dev}'`)).toBe(PER_DEVICE)
      }
      // The queue is empty: every message was acknowledged by one instance.
      const after = await waitFor(async () => {
        const s = await jsm.streams.info(stream)
        return s.state.messages === 0 ? s : undefined
      }, 30_000, 'the queue emptied', 250)
      expect(after.state.messages).toBe(0)
      const consumer = await jsm.consumers.info(stream, 'gateways')
      const aTotal = await gws.a.metric('smartcity_readings_accepted_total')
      const bTotal = await gws.b.metric('smartcity_readings_accepted_total')
      console.log(
        JSON.stringify({
          test: `nats-cluster ${mode}`,
          readings: TOTAL,
          publishers: PUBLISHERS,
          killedGatewayAtSeconds: gatewayKilledAt,
          killedNode: victim.name,
          streamLeaderAtStart: leader,
          stream,
          killedNodeAtSeconds: nodeKilledAt,
          publishSeconds,
          totalSeconds: (Date.now() - t0) / 1000,
          acceptedByBWhileAAway: bAlone,
          bGoingOnAtSeconds,
          acceptedByAAfterRestart: aTotal,
          acceptedByB: bTotal,
          streamMessagesTotal: after.state.last_seq,
          redeliveredPending: consumer.num_redelivered,
        }),
      )
    } finally {
      for (const c of publishers) await c.endAsync(true).catch(() => undefined)
      await nc.close().catch(() => undefined)
      await gws.a?.stop()
      await gws.b?.stop()
      await cluster.stop()
    }
  }

  it(`${TOTAL.toLocaleString('en')} MQTT readings into a work-queue stream, one gateway and a non-leader NATS node killed mid-run: each stored once`, { timeout: 420_000 }, () => run('work-queue', 'natsqueue'))

  it(`${TOTAL.toLocaleString('en')} MQTT readings on NATS's own QoS 1 stream, one gateway and that stream's leader killed mid-run: each stored once`, { timeout: 420_000 }, () => run('mqtt-stream', 'natsmqtt'))
})
