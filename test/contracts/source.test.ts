/**
 * The source contract (test/contracts/source.ts) for every source type, each against its simulated devices
 * (simulators/, composed as cli/demo-parts/*.ts compose them) on free loopback ports or socat pseudo-terminals.
 */
import { closeSync, openSync, writeSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import mqtt from 'mqtt'
import pino from 'pino'
import { describe } from 'vitest'
import { BUILTIN_PROFILES } from '../../devices/modbus-profiles.ts'
import { BrokerConfig } from '../../gateway/broker/config.ts'
import { createBroker } from '../../gateway/broker/index.ts'
import { startDlt645Simulator } from '../../simulators/dlt645/index.ts'
import { startRsuSim } from '../../simulators/etc/rsu.ts'
import { startGnssSimulator } from '../../simulators/gnss/index.ts'
import { createStation } from '../../simulators/hj212/station.ts'
import { DISTRICT_ROUTES, createTerminal } from '../../simulators/jt808/index.ts'
import { type SimDevice, simulateRtu, simulateRtuOverTcp, simulateTcp } from '../../simulators/modbus/index.ts'
import { createPtyPair, type PtyPair } from '../../simulators/serial/pty.ts'
import { startMqttStation } from '../../simulators/water-quality/mqtt-station.ts'
import { have, tempDir } from '../helpers/env.ts'
import { freePort } from '../helpers/net.ts'
import { type FixtureRun, sourceContract } from './source.ts'

const log = pino({ level: 'silent' })

/** A clock that steps one second per call: reading times a device reports strictly increase. */
function steppingClock(): () => number {
  let t = Math.floor(Date.now() / 1000) * 1000
  return () => (t += 1000)
}

/** A socat pty pair in a fresh directory: `a` for the device, `b` for the gateway. */
async function ptyPair(name: string): Promise<{ pty: PtyPair; cleanup: () => Promise<void> }> {
  const t = tempDir(`contract-${name}-`)
  const pty = await createPtyPair(join(t.dir, 'device'), join(t.dir, 'gateway'))
  return {
    pty,
    async cleanup() {
      await pty.stop()
      t.cleanup()
    },
  }
}

/** Write bytes on the device's end of a pty, beside the simulator (as line noise or a second talker would). */
function writeOnLine(path: string, bytes: Buffer | string): void {
  const fd = openSync(path, 'w')
  try {
    writeSync(fd, typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes)
  } finally {
    closeSync(fd)
  }
}

function profile(name: string) {
  const p = BUILTIN_PROFILES.get(name)
  if (!p) throw new Error(`no built-in profile ${name}`)
  return p
}

sourceContract('mqtt (embedded broker)', {
  async start(): Promise<FixtureRun> {
    const port = await freePort()
    const broker = createBroker(BrokerConfig.parse({ type: 'embedded', port }), log)
    await broker.start()
    const url = broker.url()
    const stations: Awaited<ReturnType<typeof startMqttStation>>[] = []
    return {
      config: { type: 'mqtt', id: 'contract-mqtt' },
      deps: { mqtt: { broker } },
      devices: [{ id: 'wq-c-01', kind: 'water_quality' }],
      async talk() {
        if (stations.length === 0) stations.push(await startMqttStation({ url, district: 'test', id: 'wq-c-01', intervalMs: 150, seed: 7, qos: 1 }))
      },
      async bad() {
        const c = await mqtt.connectAsync(url)
        await c.publishAsync('city/test/water_quality/wq-c-01/telemetry', '{"ph": "not a number"', { qos: 1 })
        await c.endAsync()
      },
      async stop() {
        for (const s of stations) await s.stop()
        await broker.stop()
      },
    }
  },
})

function modbusDevices(rtu: boolean): { sim: SimDevice[]; entries: { device: string; unit: number; profile: string; intervalMs: number }[] } {
  const list = rtu
    ? [
        { device: 'wq-c-rtu-1', unit: 1, profile: 'generic-sonde' },
        { device: 'wq-c-rtu-2', unit: 2, profile: 'generic-sonde' },
      ]
    : [
        { device: 'em-c-1', unit: 1, profile: 'eastron-sdm630' },
        { device: 'em-c-2', unit: 2, profile: 'chint-dtsu666' },
      ]
  return { sim: list.map((d) => ({ unit: d.unit, profile: profile(d.profile) })), entries: list.map((d) => ({ ...d, intervalMs: 200 })) }
}

sourceContract('modbus-tcp', {
  async start(): Promise<FixtureRun> {
    const port = await freePort()
    const { sim, entries } = modbusDevices(false)
    const server = await simulateTcp({ port, devices: sim })
    return {
      config: { type: 'modbus-tcp', id: 'contract-modbus-tcp', host: '127.0.0.1', port, timeoutMs: 300, devices: entries },
      devices: entries.map((e) => ({ id: e.device, kind: 'energy_meter' })),
      async talk() {},
      async bad() {
        // An exception answer to the next poll (Modbus Application Protocol V1.1b3, section 7: code 2, illegal data address).
        const s = server.slaves.get(1)!
        s.fault = { kind: 'exception', code: 2 }
        setTimeout(() => (s.fault = { kind: 'none' }), 500).unref()
      },
      stop: () => server.close(),
    }
  },
})

sourceContract('modbus-rtu-over-tcp', {
  async start(): Promise<FixtureRun> {
    const port = await freePort()
    const { sim, entries } = modbusDevices(true)
    const server = await simulateRtuOverTcp({ port, devices: sim })
    return {
      config: { type: 'modbus-rtu-over-tcp', id: 'contract-modbus-rot', host: '127.0.0.1', port, timeoutMs: 300, retries: 0, devices: entries },
      devices: entries.map((e) => ({ id: e.device, kind: 'water_quality' })),
      async talk() {},
      async bad() {
        // One answer with a corrupt CRC (Modbus over Serial Line V1.02, section 2.5.1.2).
        const s = server.slaves.get(1)!
        s.fault = { kind: 'crc' }
        setTimeout(() => (s.fault = { kind: 'none' }), 500).unref()
      },
      stop: () => server.close(),
    }
  },
})

describe.skipIf(!have('socat'))('on socat pseudo-terminals', () => {
  sourceContract('modbus-rtu (pty)', {
    async start(): Promise<FixtureRun> {
      const { pty, cleanup } = await ptyPair('modbus-rtu')
      const { sim, entries } = modbusDevices(true)
      const bus = await simulateRtu({ path: pty.a, devices: sim })
      return {
        config: { type: 'modbus-rtu', id: 'contract-modbus-rtu', path: pty.b, timeoutMs: 300, retries: 0, pauseMs: 10, devices: entries },
        devices: entries.map((e) => ({ id: e.device, kind: 'water_quality' })),
        async talk() {},
        async bad() {
          const s = bus.slaves.get(1)!
          s.fault = { kind: 'crc' }
          setTimeout(() => (s.fault = { kind: 'none' }), 500).unref()
        },
        async stop() {
          await bus.close()
          await cleanup()
        },
      }
    },
  })

  sourceContract('nmea (pty)', {
    waitMs: 20_000,
    async start(): Promise<FixtureRun> {
      const { pty, cleanup } = await ptyPair('nmea')
      // Start away from the default tunnel (40 % of the loop): every epoch has a fix.
      const gnss = await startGnssSimulator({ path: pty.a, rateHz: 2, speedKmh: 35, tunnels: [] })
      return {
        config: { type: 'nmea', id: 'contract-nmea', device: 'gnss-c-1', serial: { path: pty.b, baudRate: 9600 } },
        devices: [{ id: 'gnss-c-1', kind: 'position' }],
        async talk() {},
        async bad() {
          // A sentence whose checksum does not match (NMEA 0183 4.11 section 5.2.1: XOR of the characters between $ and *).
          writeOnLine(pty.a, '$GNGGA,092751.000,3413.2220,N,10853.0520,E,1,08,1.0,420.0,M,0.0,M,,*00\r\n')
        },
        async stop() {
          await gnss.stop()
          await cleanup()
        },
      }
    },
  })

  sourceContract('dlt645 (pty)', {
    async start(): Promise<FixtureRun> {
      const { pty, cleanup } = await ptyPair('dlt645')
      const meters = await startDlt645Simulator({ path: pty.a, meters: [{ address: '000000000161' }, { address: '110101000002' }] })
      return {
        config: {
          type: 'dlt645',
          id: 'contract-dlt645',
          serial: { path: pty.b },
          meters: [
            { address: '000000000161', device: 'meter-c-0161' },
            { address: '110101000002', device: 'meter-c-0002' },
          ],
          pollIntervalMs: 300,
          responseTimeoutMs: 400,
        },
        devices: [
          { id: 'meter-c-0161', kind: 'energy_meter' },
          { id: 'meter-c-0002', kind: 'energy_meter' },
        ],
        async talk() {},
        async bad() {
          // A read reply (C = 0x91) of meter 000000000161 with a wrong checksum (DL/T 645-2007 section 4.1: CS is
          // the modulo-256 sum from the first 68H to the byte before CS; here 0x00 instead of the true sum).
          writeOnLine(pty.a, Buffer.from('fefefefe68610100000000006891083333333433333333001600', 'hex'))
        },
        async stop() {
          await meters.stop()
          await cleanup()
        },
      }
    },
  })
})

sourceContract('etc-rsu (the gateway dials the RSU)', {
  async start(): Promise<FixtureRun> {
    const rsu = await startRsuSim({ port: await freePort(), heartbeatMs: 500, waitMs: 500, traffic: { ratePerSec: 4, seed: 20_261_122 } })
    return {
      config: { type: 'etc-rsu', id: 'contract-etc', device: 'rsu-c-1', lane: 'c-up', port: rsu.port, blacklist: [...rsu.blacklist], reconnectMs: 200 },
      devices: [{ id: 'rsu-c-1', kind: 'etc' }],
      async talk() {},
      async bad() {
        // The gateway dials the RSU, so the RSU itself sends the corrupt frame (a B3 whose BCC is wrong).
        rsu.sendBad('bcc')
      },
      stop: () => rsu.stop(),
    }
  },
})

sourceContract('jt808', {
  async start(): Promise<FixtureRun> {
    const port = await freePort()
    const phone = '13900100071'
    const terminal = createTerminal({ host: '127.0.0.1', port, phone, vehicle: 'bus', route: DISTRICT_ROUTES.bus, autoReport: false, reconnect: false, heartbeatSec: 60, now: steppingClock(), onError: () => undefined })
    let started = false
    return {
      config: { type: 'jt808', id: 'contract-jt808', host: '127.0.0.1', port },
      devices: [{ id: phone, kind: 'position' }],
      async talk(n) {
        if (!started) {
          started = true
          await terminal.start()
        }
        for (let i = 0; i < n; i++) await terminal.report()
      },
      async bad() {
        // A location report (0x0200) whose check code is wrong (JT/T 808-2013 section 4.4.3: XOR of header and body).
        const s = connect(port, '127.0.0.1')
        await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject))
        s.write(Buffer.from('7e0200000001390010007100010000000000000000000000000000000000000000000000000000ff7e', 'hex'))
        await new Promise((r) => setTimeout(r, 200))
        s.destroy()
      },
      stop: () => terminal.stop(),
    }
  },
})

sourceContract('hj212', {
  async start(): Promise<FixtureRun> {
    const port = await freePort()
    const mn = 'HJ212WQ0000000000000071'
    const station = createStation({ host: '127.0.0.1', port, mn, pw: 'contract', autoUpload: false, reconnect: false, now: steppingClock(), seed: 71, onError: () => undefined })
    let started = false
    return {
      config: { type: 'hj212', id: 'contract-hj212', host: '127.0.0.1', port, passwords: { [mn]: 'contract' } },
      devices: [{ id: mn, kind: 'water_quality' }],
      async talk(n) {
        if (!started) {
          started = true
          await station.start()
        }
        for (let i = 0; i < n; i++) await station.upload('2011')
      },
      async bad() {
        // A segment whose CRC does not match (HJ 212-2017 section 6.3.2: CRC16 of the data segment, 4 hex digits).
        station.raw(Buffer.from(`##0042QN=20260101000000000;ST=21;CN=2011;MN=${mn}0000\r\n`, 'latin1'))
      },
      stop: () => station.stop(),
    }
  },
})
