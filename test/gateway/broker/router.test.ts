/**
 * The embedded broker's router and session store skip their per-message lookups for topics no
 * subscription can match; everything else must behave as aedes' own mqemitter and aedes-persistence.
 * Checked on each alone, and on a running gateway with an independent subscriber (mosquitto_sub) and with
 * a persistent-session subscriber that is offline when telemetry arrives.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import mqtt from 'mqtt'
import mqemitter from 'mqemitter'
import { afterAll, describe, expect, it } from 'vitest'
import pino from 'pino'
import { AckGroups } from '../../../gateway/broker/index.ts'
import { createPersistence } from '../../../gateway/broker/persistence.ts'
import { createRouter } from '../../../gateway/broker/router.ts'
import { have, tempDir } from '../../helpers/env.ts'
import { gatewayFrom, metricValue } from '../../helpers/gateway.ts'
import { waitFor } from '../../helpers/net.ts'

type Msg = mqemitter.Message

/** Emit and report the topics each listener got, and whether the callback ran before emit returned. */
function emitTo(mq: mqemitter.MQEmitter, topic: string): Promise<{ sync: boolean }> {
  return new Promise((resolve) => {
    let returned = false
    let syncCb = false
    mq.emit({ topic, payload: Buffer.from('x') }, () => {
      syncCb = !returned
      setImmediate(() => resolve({ sync: syncCb }))
    })
    returned = true
  })
}

function recorder(): { got: string[]; listener: (m: Msg, done: () => void) => void } {
  const got: string[] = []
  return {
    got,
    listener: (m, done) => {
      got.push(m.topic)
      done()
    },
  }
}

const turn = () => new Promise((r) => setImmediate(r))

describe('broker router', () => {
  const pairs = () => [createRouter({ concurrency: 100 }), mqemitter({ concurrency: 100, matchEmptyLevels: true })] as const

  it('delivers what mqemitter delivers, for exact, + and # filters', async () => {
    const filters = ['city/#', '+/d1/+/wq-1/telemetry', 'other/x', '$SYS/+/new/clients', 'cit/#', 'city']
    const topics = ['city', 'city/d1/water_quality/wq-1/telemetry', 'cityx/a', 'cit/a', 'other/x', 'other/y', '$SYS/b/new/clients', 'zzz', '/x']
    for (const withHash of [false, true]) {
      const [fast, plain] = pairs()
      const a = recorder()
      const b = recorder()
      for (const f of withHash ? [...filters, '#'] : filters) {
        fast.on(f, a.listener)
        plain.on(f, b.listener)
      }
      for (const t of topics) {
        await emitTo(fast, t)
        await emitTo(plain, t)
      }
      expect(a.got).toEqual(b.got)
      expect(a.got.length).toBeGreaterThan(5)
    }
  })

  it('finishes a message nobody can get at once, and matches again once someone subscribes', async () => {
    const mq = createRouter({ concurrency: 100 })
    const r = recorder()
    mq.on('$SYS/+/new/clients', r.listener)
    expect(await emitTo(mq, 'city/d1/water_quality/wq-1/telemetry')).toEqual({ sync: true })
    mq.on('city/+/water_quality/#', r.listener)
    await emitTo(mq, 'city/d1/water_quality/wq-1/telemetry')
    expect(r.got).toEqual(['city/d1/water_quality/wq-1/telemetry'])
  })

  it('counts down only once mqemitter has removed the listener', async () => {
    const [fast, plain] = pairs()
    const a = recorder()
    const b = recorder()
    let removed = 0
    for (const [mq, r] of [[fast, a], [plain, b]] as const) {
      mq.on('city/#', r.listener)
      mq.on('city/#', r.listener)
      // Removal happens on the next turn: a message emitted before it still finds the listener.
      mq.removeListener('city/#', r.listener, () => removed++)
      await emitTo(mq, 'city/a')
      await turn()
      await emitTo(mq, 'city/b')
    }
    expect(removed).toBe(2)
    expect(a.got).toEqual(b.got)
    expect(a.got).toContain('city/b')
    fast.removeListener('city/#', a.listener)
    await turn()
    expect(await emitTo(fast, 'city/c')).toEqual({ sync: true })
    expect(a.got).not.toContain('city/c')
  })
})

describe.skipIf(!have('mosquitto_sub'))('embedded broker with a subscriber', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('still routes telemetry to an MQTT subscriber (mosquitto_sub) while the gateway takes it', async () => {
    const gw = gatewayFrom({ dataDir: join(tmp.dir, 'sub'), http: { enabled: false }, broker: { type: 'embedded', port: 0 } })
    await gw.start()
    const url = new URL(gw.endpoints().mqtt)
    const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', url.port, '-t', 'city/+/water_quality/#', '-v'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    sub.stdout.on('data', (d: Buffer) => (out += d.toString()))
    try {
      const dev = await mqtt.connectAsync(url.toString(), { reconnectPeriod: 0 })
      // Before mosquitto_sub has subscribed, the reading is still taken; publish until it is seen.
      await waitFor(async () => {
        await dev.publishAsync('city/d1/water_quality/wq-s/telemetry', '{"ph":7.1}', { qos: 1 })
        return out.length > 0
      }, 15_000)
      await dev.publishAsync('city/d1/water_quality/wq-s/telemetry', '{"ph":7.2}', { qos: 1 })
      await dev.publishAsync('city/d1/water_quality/wq-s/telemetry', '{"ph":7.3}', { qos: 0 })
      await waitFor(() => out.includes('7.3'), 10_000)
      expect(out.trim().split('\n').slice(-2)).toEqual(['city/d1/water_quality/wq-s/telemetry {"ph":7.2}', 'city/d1/water_quality/wq-s/telemetry {"ph":7.3}'])
      expect(await metricValue(gw, 'smartcity_readings_accepted_total')).toBeGreaterThanOrEqual(3)
      await dev.endAsync()
    } finally {
      sub.kill('SIGKILL')
      await gw.stop()
    }
  })
})

describe('broker session store', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('answers like aedes-persistence for stored subscriptions, and with nothing for other topics', async () => {
    const store = createPersistence() as unknown as {
      setup(b: unknown): Promise<void>
      addSubscriptions(c: unknown, s: unknown[]): Promise<void>
      subscriptionsByTopic(t: string): Promise<{ clientId: string; topic: string }[]>
    }
    await store.setup({ id: 'test' })
    expect(await store.subscriptionsByTopic('city/d1/water_quality/wq-1/telemetry')).toEqual([])
    await store.addSubscriptions({ id: 'ops' }, [{ topic: 'city/+/water_quality/#', qos: 1 }])
    const subs = await store.subscriptionsByTopic('city/d1/water_quality/wq-1/telemetry')
    expect(subs.map((s) => [s.clientId, s.topic])).toEqual([['ops', 'city/+/water_quality/#']])
    expect(await store.subscriptionsByTopic('other/x')).toEqual([])
  })

  it('queues QoS 1 telemetry for a persistent subscriber while it is offline', async () => {
    const gw = gatewayFrom({ dataDir: join(tmp.dir, 'offline'), http: { enabled: false }, broker: { type: 'embedded', port: 0 } })
    await gw.start()
    const url = gw.endpoints().mqtt
    try {
      const ops = await mqtt.connectAsync(url, { clientId: 'ops-console', clean: false, reconnectPeriod: 0 })
      await ops.subscribeAsync('city/+/water_quality/#', { qos: 1 })
      await ops.endAsync()
      const dev = await mqtt.connectAsync(url, { reconnectPeriod: 0 })
      await dev.publishAsync('city/d1/water_quality/wq-o/telemetry', '{"ph":7.4}', { qos: 1 })
      await dev.endAsync()
      const back = mqtt.connect(url, { clientId: 'ops-console', clean: false, reconnectPeriod: 0, manualConnect: true })
      const got = new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('the queued message did not arrive within 10 s')), 10_000)
        back.on('message', (topic, p) => {
          clearTimeout(t)
          resolve(`${topic} ${p.toString()}`)
        })
      })
      back.connect()
      expect(await got).toBe('city/d1/water_quality/wq-o/telemetry {"ph":7.4}')
      await back.endAsync()
      expect(await metricValue(gw, 'smartcity_readings_accepted_total')).toBe(1)
    } finally {
      await gw.stop()
    }
  })
})

describe('QoS 1 acknowledgements', () => {
  const quiet = pino({ level: 'silent' })

  it('run in arrival order when their group is on disk, and all fail when it is not', async () => {
    const acks = new AckGroups(quiet)
    const order: string[] = []
    let resolve!: () => void
    const group = new Promise<void>((r) => (resolve = r))
    for (const id of ['a', 'b', 'c']) acks.wait(group, (err) => order.push(`${id}:${err === null ? 'ok' : err.message}`))
    let reject!: (e: Error) => void
    const failing = new Promise<void>((_, r) => (reject = r))
    for (const id of ['d', 'e']) acks.wait(failing, (err) => order.push(`${id}:${err === null ? 'ok' : err.message}`))
    expect(order).toEqual([])
    resolve()
    reject(new Error('disk full'))
    await turn()
    expect(order).toEqual(['a:ok', 'b:ok', 'c:ok', 'd:disk full', 'e:disk full'])
  })

  it('still answers a message whose group promise had already settled', async () => {
    const acks = new AckGroups(quiet)
    const p = Promise.resolve()
    const got: string[] = []
    acks.wait(p, () => got.push('first'))
    await turn()
    acks.wait(p, () => got.push('second'))
    await turn()
    expect(got).toEqual(['first', 'second'])
  })
})
