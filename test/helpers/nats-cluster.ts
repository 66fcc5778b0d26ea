/**
 * A NATS cluster on loopback (Debian's nats-server, 2.9.10 here): N servers with JetStream and an MQTT
 * listener each, routed to each other. NATS's MQTT needs JetStream and a `server_name` per server
 * (https://docs.nats.io/running-a-nats-service/configuration/mqtt). test/helpers/nats.ts (part `uplink`)
 * is the one-server helper; this one is the cluster.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { which } from './env.ts'
import { freePort, waitFor } from './net.ts'

export interface NatsNode {
  readonly name: string
  /** nats://127.0.0.1:<client port> */
  readonly url: string
  readonly mqttPort: number
  running(): boolean
  /** SIGKILL: no lame-duck mode, no goodbye to the cluster. */
  kill(): Promise<void>
  /** Start again with the same ports and store (after `kill`). */
  start(): Promise<void>
}

export interface NatsCluster {
  readonly nodes: readonly NatsNode[]
  /** Every node's client URL: what a client's `servers` list takes. */
  readonly urls: string[]
  /** Resolves once JetStream answers with a meta leader (a fresh cluster elects one in a few seconds). */
  ready(timeoutMs?: number): Promise<void>
  stop(): Promise<void>
}

export async function startNatsCluster(dir: string, size = 3, opts: { name?: string } = {}): Promise<NatsCluster> {
  const bin = which('nats-server')
  if (!bin) throw new Error('nats-server not found')
  const cluster = opts.name ?? 'city'
  const ports = await Promise.all(Array.from({ length: size }, async () => ({ client: await freePort(), route: await freePort(), mqtt: await freePort() })))
  const nodes: NatsNode[] = ports.map((p, i) => {
    const name = `n${i + 1}`
    const store = join(dir, name)
    mkdirSync(store, { recursive: true })
    const conf = join(dir, `${name}.conf`)
    const routes = ports.filter((_, j) => j !== i).map((q) => `nats-route://127.0.0.1:${q.route}`)
    writeFileSync(
      conf,
      [
        `server_name: ${name}`,
        `listen: 127.0.0.1:${p.client}`,
        `jetstream { store_dir: "${store}", max_memory_store: 64MB, max_file_store: 2GB }`,
        // One server is not a cluster: a cluster block without routes stops JetStream from starting.
        size > 1 ? `cluster { name: ${cluster}, listen: 127.0.0.1:${p.route}, routes: [${routes.join(', ')}] }` : '',
        // MQTT sessions and QoS 1 state live in JetStream streams with up to 3 replicas.
        // Replicas set, not derived from the servers known when the first client connects (which can be fewer).
        `mqtt { listen: 127.0.0.1:${p.mqtt}, stream_replicas: ${Math.min(3, size)} }`,
        '',
      ].join('\n'),
    )
    let child: ChildProcess | undefined
    let log = ''
    const url = `nats://127.0.0.1:${p.client}`
    const node: NatsNode = {
      name,
      url,
      mqttPort: p.mqtt,
      running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
      async kill() {
        const c = child
        if (!c || !node.running()) return
        await new Promise<void>((resolve) => {
          c.once('exit', () => resolve())
          c.kill('SIGKILL')
        })
      },
      async start() {
        log = ''
        const c = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
        child = c
        // Its log, kept in <dir>/<name>.log for a failed run.
        c.stderr!.on('data', (d: Buffer) => {
          if (log.length < 100_000) log += d.toString()
          appendFileSync(join(dir, `${name}.log`), d)
        })
        await waitFor(() => log.includes('Server is ready') || c.exitCode !== null, 20_000, `nats-server ${name} ready`)
        if (c.exitCode !== null) throw new Error(`nats-server ${name} exited ${c.exitCode}: ${log}`)
      },
    }
    return node
  })
  // A node that does not start takes the others down with it: no server outlives a failed set-up.
  const started = await Promise.allSettled(nodes.map((n) => n.start()))
  const failed = started.find((r) => r.status === 'rejected')
  if (failed) {
    await Promise.all(nodes.map((n) => n.kill()))
    throw (failed as PromiseRejectedResult).reason
  }
  return {
    nodes,
    urls: nodes.map((n) => n.url),
    async ready(timeoutMs = 30_000) {
      const nc = await connect({ servers: nodes.filter((n) => n.running()).map((n) => n.url) })
      try {
        // jetstreamManager asks for the account's JetStream info, which times out until a meta leader is elected.
        await waitFor(async () => (await (await jetstreamManager(nc, { timeout: 2_000 })).getAccountInfo()) !== undefined, timeoutMs, 'JetStream meta leader', 250)
      } finally {
        await nc.close()
      }
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.kill()))
    },
  }
}
