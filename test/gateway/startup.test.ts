/**
 * A gateway that cannot start must not half-run (issue 10): with one of its listening ports already taken,
 * `start` stops what had started, in reverse, and rejects with a StartError (code start_failed) that names
 * the component, the address and the cause. Each listener is tried: HTTP, MQTT over TCP, MQTT over
 * WebSocket, and the TCP servers of the hj212, jt808 and etc-rsu sources.
 */
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { StartError } from '../../gateway/core/errors.ts'
import type { Gateway } from '../../gateway/gateway.ts'
import { tempDir } from '../helpers/env.ts'
import { gatewayFrom } from '../helpers/gateway.ts'
import { freePort } from '../helpers/net.ts'

/** A real server holding a port on 127.0.0.1, as another program would. */
async function occupy(): Promise<{ port: number; server: Server }> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const a = server.address()
  if (!a || typeof a !== 'object') throw new Error('no address')
  return { port: a.port, server }
}

/** True when nothing listens on the port (we can take it, and give it back). */
async function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
}

/** Whether an MQTT client gets a CONNACK on the port within a second. */
async function mqttAnswers(port: number): Promise<boolean> {
  const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 1_000 })
  c.on('error', () => undefined)
  const ok = await new Promise<boolean>((resolve) => {
    c.once('connect', () => resolve(true))
    c.once('close', () => resolve(false))
  })
  c.end(true)
  return ok
}

interface Ports {
  http: number
  mqtt: number
  ws: number
  hj212: number
  jt808: number
  etc: number
}

describe('a gateway whose port is taken does not start at all', () => {
  const tmp = tempDir()
  const held: Server[] = []
  let n = 0
  afterEach(async () => {
    for (const s of held.splice(0)) await new Promise((r) => s.close(r))
  })
  afterAll(() => tmp.cleanup())

  /** Free ports for every listener, with `taken` held by another server. */
  async function ports(taken: keyof Ports): Promise<Ports & { taken: number }> {
    const occupied = await occupy()
    held.push(occupied.server)
    const p: Ports = { http: await freePort(), mqtt: await freePort(), ws: await freePort(), hj212: await freePort(), jt808: await freePort(), etc: await freePort() }
    p[taken] = occupied.port
    return { ...p, taken: occupied.port }
  }

  /** A gateway with every kind of listener: the sources start in this order, then the broker, then HTTP. */
  function gateway(p: Ports): Gateway {
    return gatewayFrom({
      dataDir: join(tmp.dir, `gw-${n++}`),
      broker: { type: 'embedded', port: p.mqtt, wsPort: p.ws },
      http: { port: p.http },
      sources: [
        { type: 'mqtt' },
        { type: 'hj212', port: p.hj212 },
        { type: 'jt808', port: p.jt808 },
        { type: 'etc-rsu', id: 'lane-1', device: 'rsu-1', mode: 'server', port: p.etc },
      ],
    })
  }

  async function startFails(p: Ports): Promise<StartError> {
    const gw = gateway(p)
    const err = await gw.start().then(
      () => undefined,
      (e: unknown) => e,
    )
    if (!(err instanceof StartError)) {
      if (err === undefined) await gw.stop()
      throw new Error(`expected a StartError, got ${String(err)}`)
    }
    // Everything is stopped already; a stop() that follows (as a caller's clean-up would) has nothing to do.
    await gw.stop()
    return err
  }

  /** Every port but the taken one is free again: nothing that had started is left listening. */
  async function expectAllFree(p: Ports & { taken: number }): Promise<void> {
    for (const [name, port] of Object.entries(p)) {
      if (name === 'taken' || port === p.taken) continue
      expect(await isFree(port), `${name} port ${port} free`).toBe(true)
    }
  }

  it('HTTP: the broker and every source that had started are stopped; the error names http, its address and EADDRINUSE', { timeout: 20_000 }, async () => {
    const p = await ports('http')
    const err = await startFails(p)
    expect(err.code).toBe('start_failed')
    expect(err.component).toBe('http')
    expect(err.address).toBe(`127.0.0.1:${p.http}`)
    expect(err.message).toBe(`cannot start http on 127.0.0.1:${p.http}: address already in use (EADDRINUSE)`)
    expect((err.cause as NodeJS.ErrnoException).code).toBe('EADDRINUSE')
    // The broker had been listening before HTTP failed: it must not take publishes into the spool now.
    expect(await mqttAnswers(p.mqtt)).toBe(false)
    await expectAllFree(p)
  })

  it('MQTT over TCP: the sources are stopped, HTTP never listens', { timeout: 20_000 }, async () => {
    const p = await ports('mqtt')
    const err = await startFails(p)
    expect(err).toMatchObject({ code: 'start_failed', component: 'mqtt', address: `127.0.0.1:${p.mqtt}` })
    expect(err.message).toBe(`cannot start mqtt on 127.0.0.1:${p.mqtt}: address already in use (EADDRINUSE)`)
    await expectAllFree(p)
  })

  it('MQTT over WebSocket: the broker TCP listener goes too, not only the sources', { timeout: 20_000 }, async () => {
    const p = await ports('ws')
    const err = await startFails(p)
    expect(err).toMatchObject({ code: 'start_failed', component: 'mqtt-ws', address: `127.0.0.1:${p.ws}` })
    expect(err.message).toBe(`cannot start mqtt-ws on 127.0.0.1:${p.ws}: address already in use (EADDRINUSE)`)
    expect(await mqttAnswers(p.mqtt)).toBe(false)
    await expectAllFree(p)
  })

  for (const [taken, component, id] of [
    ['hj212', 'source.hj212', 'hj212'],
    ['jt808', 'source.jt808', 'jt808'],
    ['etc', 'source.etc-rsu', 'lane-1'],
  ] as const) {
    it(`a TCP source's port (${component}): the sources before it are stopped, the broker never listens`, { timeout: 20_000 }, async () => {
      const p = await ports(taken)
      const err = await startFails(p)
      expect(err).toMatchObject({ code: 'start_failed', component, id, address: `127.0.0.1:${p.taken}` })
      expect(err.message).toBe(`cannot start ${component} "${id}" on 127.0.0.1:${p.taken}: address already in use (EADDRINUSE)`)
      await expectAllFree(p)
    })
  }

  it('with every port free the same gateway starts and serves (the fixture itself is sound)', { timeout: 20_000 }, async () => {
    const p: Ports = { http: await freePort(), mqtt: await freePort(), ws: await freePort(), hj212: await freePort(), jt808: await freePort(), etc: await freePort() }
    const g = gateway(p)
    await g.start()
    try {
      for (const port of Object.values(p)) expect(await isFree(port)).toBe(false)
      expect(await mqttAnswers(p.mqtt)).toBe(true)
    } finally {
      await g.stop()
    }
    for (const port of Object.values(p)) expect(await isFree(port)).toBe(true)
  })
})
