/**
 * The source contract (test/contracts/source.ts) for the nats-jetstream source: one nats-server with
 * JetStream and its MQTT listener (test/helpers/nats-cluster.ts with one node), a simulated MQTT station
 * publishing into it, the source pulling from the work-queue stream it creates. The 3-node cluster with
 * instances and kills is test/e2e/nats-cluster.test.ts.
 */
import { join } from 'node:path'
import mqtt from 'mqtt'
import { describe } from 'vitest'
import { startMqttStation } from '../../simulators/water-quality/mqtt-station.ts'
import { have, tempDir } from '../helpers/env.ts'
import { startNatsCluster } from '../helpers/nats-cluster.ts'
import { type FixtureRun, sourceContract } from './source.ts'

describe.skipIf(!have('nats-server'))('on a nats-server with JetStream and MQTT', () => {
  sourceContract('nats-jetstream', {
    waitMs: 30_000,
    async start(): Promise<FixtureRun> {
      const tmp = tempDir('contract-nats-')
      const cluster = await startNatsCluster(join(tmp.dir, 'nats'), 1).catch((err: unknown) => {
        tmp.cleanup()
        throw err
      })
      await cluster.ready()
      const url = `mqtt://127.0.0.1:${cluster.nodes[0]!.mqttPort}`
      const stations: Awaited<ReturnType<typeof startMqttStation>>[] = []
      return {
        config: { type: 'nats-jetstream', id: 'contract-nats', servers: cluster.urls, replicas: 1, connectWaitMs: 20_000 },
        devices: [{ id: 'wq-c-nats', kind: 'water_quality' }],
        async talk() {
          if (stations.length === 0) stations.push(await startMqttStation({ url, district: 'test', id: 'wq-c-nats', intervalMs: 150, seed: 9, qos: 1 }))
        },
        async bad() {
          const c = await mqtt.connectAsync(url, { clientId: 'contract-nats-bad' })
          await c.publishAsync('city/test/water_quality/wq-c-nats/telemetry', '{"ph": "not a number"', { qos: 1 })
          await c.endAsync()
        },
        async stop() {
          for (const s of stations) await s.stop()
          await cluster.stop()
          tmp.cleanup()
        },
      }
    },
  })
})
