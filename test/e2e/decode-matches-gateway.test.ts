/**
 * `smartcity decode` prints what the gateway stores (issue 11: one path from frame to point). For each protocol
 * format, a simulated device talks to a running gateway (createGateway in this process: its source, pipeline,
 * processors and a real spool, no sink); a tap on the wire records the frames the simulator really sent, one per
 * line, as a capture file; `runDecode` (cli/decode.ts, the `smartcity decode <format> FILE` command) decodes that
 * file. The points decode prints and the lines the gateway spooled (parsed back from line protocol) must be
 * identical: measurement, the tags decode gives, fields, time. The gateway's presence points (`device_status`,
 * from its device registry, not from a frame) are not decode's business and are left out; everything else it
 * spooled, alarms of processors included, is compared.
 *
 * Polled protocols (modbus-rtu, dlt645) are captured in both directions: the gateway's requests and the
 * devices' answers, in wire order, as a field engineer's capture has them.
 *
 * Two things a capture cannot carry are left out where the protocol does not carry them either:
 * - the `device` tag, for protocols whose frames name no device of the inventory (an NMEA receiver, a Modbus
 *   unit number, a meter address, an RSU): decode names the device from the frame or the protocol, the
 *   gateway from its configuration;
 * - the time, for readings that carry no time of their own (Modbus, DL/T 645, the RSU's status): the gateway
 *   stamps them when it received them, and a capture line has no receive time (record/replay, issue 12,
 *   gives captures their times).
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import mqtt from 'mqtt'
import { afterAll, describe, expect, it } from 'vitest'
import { runDecode } from '../../cli/decode.ts'
import type { Point } from '../../devices/common/point.ts'
import type { GatewayConfigInput } from '../../gateway/config.ts'
import type { Gateway } from '../../gateway/gateway.ts'
import { startRsuSim } from '../../simulators/etc/rsu.ts'
import { startGnssSimulator } from '../../simulators/gnss/index.ts'
import { createStation } from '../../simulators/hj212/station.ts'
import { DISTRICT_ROUTES, createTerminal } from '../../simulators/jt808/index.ts'
import { startDlt645Simulator } from '../../simulators/dlt645/index.ts'
import { simulateRtuOverTcp } from '../../simulators/modbus/index.ts'
import { createPtyPair, type PtyPair } from '../../simulators/serial/pty.ts'
import { BUILTIN_PROFILES } from '../../devices/modbus-profiles.ts'
import { SerialPort } from 'serialport'
import { startMqttStation } from '../../simulators/water-quality/mqtt-station.ts'
import { have, tempDir } from '../helpers/env.ts'
import { freePort, waitFor } from '../helpers/net.ts'
import { gatewayFrom } from '../helpers/gateway.ts'
const tmp = tempDir('decode-vs-gateway-')
afterAll(() => tmp.cleanup())

/** A clock that steps one second per call: each reading has its own time. */
function steppingClock(): () => number {
  let t = Math.floor(Date.now() / 1000) * 1000
  return () => (t += 1000)
}

/** Run `smartcity decode <format>` on capture lines; the points of every valid frame, in order. */
async function decodePoints(format: string, lines: string[]): Promise<Point[]> {
  const dir = join(tmp.dir, format)
  mkdirSync(dir, { recursive: true })
  const file = join(dir, 'capture.txt')
  writeFileSync(file, `${lines.join('\n')}\n`)
  let text = ''
  const out = new Writable({
    write(chunk, _enc, cb) {
      text += chunk.toString()
      cb()
    },
  })
  await runDecode(format, file, out)
  if (process.env['DECODE_DIFF']) writeFileSync(join('/tmp', `contracts-decoded-${format}.jsonl`), `${lines.join('\n')}\n---\n${text}`)
  const points: Point[] = []
  for (const l of text.trim().split('\n')) {
    if (l === '') continue
    const r = JSON.parse(l) as { ok: boolean; points?: Point[] }
    if (r.ok) points.push(...(r.points ?? []))
  }
  return points
}

type Fields = Record<string, string | number | boolean>

/** One line of line protocol back to a point (measurement, tags, fields, time), for comparing with decode's. */
function parseLine(line: string): { measurement: string; tags: Record<string, string>; fields: Fields; time: number } {
  // Split on unescaped, unquoted separators: spaces between the three sections, commas and '=' inside them.
  const sections: string[] = []
  let cur = ''
  let quoted = false
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (c === '\\' && i + 1 < line.length) {
      cur += c + line[i + 1]
      i++
    } else if (c === '"') {
      quoted = !quoted
      cur += c
    } else if (c === ' ' && !quoted) {
      sections.push(cur)
      cur = ''
    } else cur += c
  }
  sections.push(cur)
  const [head = '', fieldText = '', time = ''] = sections
  const split = (t: string, sep: string): string[] => {
    const out: string[] = []
    let part = ''
    let q = false
    for (let i = 0; i < t.length; i++) {
      const c = t[i]!
      if (c === '\\' && i + 1 < t.length) {
        part += c + t[i + 1]
        i++
      } else if (c === '"') {
        q = !q
        part += c
      } else if (c === sep && !q) {
        out.push(part)
        part = ''
      } else part += c
    }
    out.push(part)
    return out
  }
  const unescapeLp = (t: string) => t.replace(/\\(.)/g, '$1')
  const [m = '', ...tagParts] = split(head, ',')
  const tags = Object.fromEntries(tagParts.map((t) => split(t, '=').map(unescapeLp) as [string, string]))
  const fields: Fields = {}
  for (const f of split(fieldText, ',')) {
    const [k = '', v = ''] = split(f, '=')
    if (v.startsWith('"')) fields[unescapeLp(k)] = v.slice(1, -1).replace(/\\(["\\])/g, '$1')
    else if (v === 't' || v === 'true' || v === 'f' || v === 'false') fields[unescapeLp(k)] = v.startsWith('t')
    else fields[unescapeLp(k)] = Number(v.replace(/[iu]$/, ''))
  }
  return { measurement: unescapeLp(m), tags, fields, time: Number(time) }
}

/** A point as both paths must agree on it: measurement, the tags decode gives (`known`), fields, time. */
/** What a protocol's frames cannot tell decode (see the head of this file). */
interface Unknowable {
  device?: boolean
  time?: boolean
}

function canon(p: { measurement: string; tags?: Record<string, string>; fields: Record<string, unknown>; time: number }, known?: Record<string, string>, not: Unknowable = {}): string {
  const tags = Object.fromEntries(
    Object.keys(known ?? p.tags ?? {})
      .filter((k) => !(not.device && k === 'device'))
      .sort()
      .map((k) => [k, p.tags?.[k]]),
  )
  const fields = Object.fromEntries(Object.entries(p.fields).sort(([a], [b]) => a.localeCompare(b)))
  return JSON.stringify({ measurement: p.measurement, tags, fields, time: not.time ? 0 : Math.round(p.time) })
}

/** Measurements the gateway writes from its own state, not from a frame's readings. */
const INTERNAL = new Set(['device_status'])

/** Both sides compared as sorted lists: the gateway's spooled points (but its internal ones), on decode's tag keys. */
function expectSamePoints(decoded: Point[], spooled: ReturnType<typeof parseLine>[], not: Unknowable = {}): void {
  expect(decoded.length, 'decode gave points').toBeGreaterThan(0)
  const d = decoded.map((p) => canon(p as Point & { tags: Record<string, string> }, undefined, not)).sort()
  const g = spooled
    .filter((p) => !INTERNAL.has(p.measurement))
    .map((p) => {
      const twin = decoded.find((q) => q.measurement === p.measurement && (not.time || Math.round(q.time) === p.time))
      return canon(p, twin?.tags as Record<string, string> | undefined, not)
    })
    .sort()
  if (process.env['DECODE_DIFF']) console.log(JSON.stringify({ onlyDecode: d.filter((x) => !g.includes(x)), onlyGateway: g.filter((x) => !d.includes(x)) }, null, 1))
  expect(g).toEqual(d)
}

/** Every line the gateway spooled (its spool directory's segments), once it has stopped. */
function spooledLines(dataDir: string): ReturnType<typeof parseLine>[] {
  const dir = join(dataDir, 'spool')
  return readdirSync(dir)
    .filter((f) => f.endsWith('.lp'))
    .sort()
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n'))
    .filter((l) => l !== '')
    .map(parseLine)
}

let gateways = 0
/** A gateway in this process with one source, a real spool in a fresh data directory, no sink, no HTTP. */
async function startGateway(source: Record<string, unknown>, mqttPort?: number): Promise<{ gw: Gateway; dataDir: string }> {
  const dataDir = join(tmp.dir, `gw-${++gateways}`)
  const raw = { dataDir, http: { enabled: false }, sources: [source] } as unknown as GatewayConfigInput
  const gw = gatewayFrom(raw, { mqttPort: mqttPort ?? (await freePort()) })
  await gw.start()
  return { gw, dataDir }
}

/** A TCP tap between a device and the gateway: records the bytes in both directions, in order. */
async function tap(target: number): Promise<{ port: number; chunks: { fromClient: boolean; bytes: Buffer }[]; close(): Promise<void> }> {
  const chunks: { fromClient: boolean; bytes: Buffer }[] = []
  const sockets: Socket[] = []
  const server: Server = createServer((client) => {
    const up = connect(target, '127.0.0.1')
    sockets.push(client, up)
    client.on('data', (b: Buffer) => {
      chunks.push({ fromClient: true, bytes: b })
      up.write(b)
    })
    up.on('data', (b: Buffer) => {
      chunks.push({ fromClient: false, bytes: b })
      client.write(b)
    })
    const end = () => {
      client.destroy()
      up.destroy()
    }
    client.on('error', end).on('close', end)
    up.on('error', end).on('close', end)
  })
  const port = await freePort()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  return {
    port,
    chunks,
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** Split a byte stream into frames that start with `start` and end with the next `end` byte after it. */
function frames(stream: Buffer, start: number[], end: number): Buffer[] {
  const out: Buffer[] = []
  let i = 0
  while (i < stream.length) {
    const at = stream.indexOf(Buffer.from(start), i)
    if (at < 0) break
    const stop = stream.indexOf(end, at + start.length)
    if (stop < 0) break
    out.push(stream.subarray(at, stop + 1))
    i = stop + 1
  }
  return out
}

const hex = (b: Buffer) => b.toString('hex').toUpperCase()

describe('smartcity decode gives the points the gateway stores, for the same recorded frames', () => {
  it('mqtt: water-quality station JSON', async () => {
    const mqttPort = await freePort()
    const { gw, dataDir } = await startGateway({ type: 'mqtt' }, mqttPort)
    const url = `mqtt://127.0.0.1:${mqttPort}`
    const lines: string[] = []
    const listener = await mqtt.connectAsync(url)
    listener.on('message', (topic, payload) => lines.push(`${topic} ${payload.toString('utf8')}`))
    await listener.subscribeAsync('city/#', { qos: 1 })
    const station = await startMqttStation({ url, district: 'test', id: 'wq-d-01', intervalMs: 100, seed: 11, qos: 1 })
    try {
      await waitFor(() => lines.filter((l) => l.includes('/telemetry ')).length >= 6, 10_000, '6 readings')
      await station.stop()
      await new Promise((r) => setTimeout(r, 300))
    } finally {
      await listener.endAsync()
      await gw.stop()
    }
    expectSamePoints(await decodePoints('mqtt', lines), spooledLines(dataDir))
  })

  it('jt808: a bus terminal reporting locations', async () => {
    const port = await freePort()
    const { gw, dataDir } = await startGateway({ type: 'jt808', port })
    const t = await tap(port)
    const terminal = createTerminal({ host: '127.0.0.1', port: t.port, phone: '13900100081', vehicle: 'bus', route: DISTRICT_ROUTES.bus, autoReport: false, reconnect: false, alarmProbability: 0.3, random: () => 0.25, now: steppingClock() })
    try {
      await terminal.start()
      for (let i = 0; i < 6; i++) await terminal.report()
    } finally {
      await terminal.stop()
      await gw.stop()
      await t.close()
    }
    // JT/T 808-2013 section 4.4.1: each message is delimited by 0x7E flags (0x7E inside is escaped as 7D 02).
    const up = Buffer.concat(t.chunks.filter((c) => c.fromClient).map((c) => c.bytes))
    expectSamePoints(await decodePoints('jt808', frames(up, [0x7e], 0x7e).map(hex)), spooledLines(dataDir))
  })

  it('hj212: a station data logger uploading real-time and minute data', async () => {
    const port = await freePort()
    const mn = 'HJ212WQ0000000000000081'
    const { gw, dataDir } = await startGateway({ type: 'hj212', port, passwords: { [mn]: 'pw-81' } })
    const t = await tap(port)
    const station = createStation({ host: '127.0.0.1', port: t.port, mn, pw: 'pw-81', autoUpload: false, reconnect: false, seed: 81, flagProbability: 0.5, random: () => 0.3, now: steppingClock() })
    try {
      await station.start()
      for (let i = 0; i < 3; i++) {
        await station.upload('2011')
        await station.upload('2051')
      }
    } finally {
      await station.stop()
      await gw.stop()
      await t.close()
    }
    // HJ 212-2017 section 6.3: a packet is "##" + length + data segment + CRC + CR LF.
    const up = Buffer.concat(t.chunks.filter((c) => c.fromClient).map((c) => c.bytes)).toString('latin1')
    const lines = up.split('\r\n').filter((l) => l.startsWith('##'))
    expectSamePoints(await decodePoints('hj212', lines), spooledLines(dataDir))
  })

  it('etc-rsu: an RSU at a gantry, passages and heartbeats', async () => {
    const rsu = await startRsuSim({ port: await freePort(), heartbeatMs: 300, waitMs: 500, vehicles: 6, traffic: { ratePerSec: 5, seed: 20_261_122 } })
    const t = await tap(rsu.port)
    const { gw, dataDir } = await startGateway({ type: 'etc-rsu', device: 'rsu-d-1', lane: 'd-up', port: t.port, blacklist: [...rsu.blacklist] })
    try {
      await Promise.race([rsu.done(), new Promise((r) => setTimeout(r, 20_000))])
      await new Promise((r) => setTimeout(r, 500))
    } finally {
      await gw.stop()
      await rsu.stop()
      await t.close()
    }
    // Both directions, in order (as test/fixtures/etc-rsu/passage.hex has them): frames are FF FF ... FF, FF escaped inside.
    const lines: string[] = []
    const pending = { true: Buffer.alloc(0), false: Buffer.alloc(0) }
    for (const c of t.chunks) {
      const key = String(c.fromClient) as 'true' | 'false'
      const buf = Buffer.concat([pending[key], c.bytes])
      const found = frames(buf, [0xff, 0xff], 0xff)
      lines.push(...found.map(hex))
      const last = found.at(-1)
      pending[key] = last ? buf.subarray(last.byteOffset - buf.byteOffset + last.length) : buf
    }
    // The gateway is the lane controller here: a passage's `etc_transaction` is its own decision (tariff,
    // blacklist, time-outs of its configuration), checked against the simulator's ground truth by
    // test/e2e/etc-influx.test.ts; its `{online}` presence status comes from the connection, not a frame. What
    // the RSU's frames themselves carry, the B0 status, must be the same on both paths.
    const fromFrames = spooledLines(dataDir).filter((p) => p.measurement === 'etc_rsu_status' && 'rsu_status' in p.fields)
    expect(spooledLines(dataDir).filter((p) => p.measurement === 'etc_transaction').length, 'the lane stored passages').toBeGreaterThan(0)
    expectSamePoints(await decodePoints('etc-rsu', lines), fromFrames, { device: true, time: true })
  })

  it('modbus-rtu: water sondes behind a transparent serial server (RTU over TCP)', async () => {
    const port = await freePort()
    const profile = BUILTIN_PROFILES.get('generic-sonde')!
    const sim = await simulateRtuOverTcp({ port, devices: [{ unit: 1, profile }, { unit: 2, profile }] })
    const t = await tap(port)
    const devices = [
      { device: 'unit-1', unit: 1, profile: 'generic-sonde', intervalMs: 200 },
      { device: 'unit-2', unit: 2, profile: 'generic-sonde', intervalMs: 200 },
    ]
    const { gw, dataDir } = await startGateway({ type: 'modbus-rtu-over-tcp', host: '127.0.0.1', port: t.port, timeoutMs: 500, devices })
    try {
      await waitFor(() => t.chunks.filter((c) => !c.fromClient).length >= 8, 10_000, '8 answers')
    } finally {
      await gw.stop()
      await t.close()
      await sim.close()
    }
    // One RTU frame per write on each side (Modbus over Serial Line V1.02 section 2.5.1: frames are separated by silence).
    expectSamePoints(await decodePoints('modbus-rtu', t.chunks.map((c) => hex(c.bytes))), spooledLines(dataDir), { device: true, time: true })
  })

  describe.skipIf(!have('socat'))('on a pty', () => {
    it('dlt645: two meters on an RS-485 bus, a relay between two pty pairs records the wire', async () => {
      const dir = join(tmp.dir, 'dlt645-pty')
      mkdirSync(dir, { recursive: true })
      const ptys: PtyPair[] = []
      const gwSide = await createPtyPair(join(dir, 'gw-relay'), join(dir, 'gw'))
      ptys.push(gwSide)
      const meterSide = await createPtyPair(join(dir, 'meters'), join(dir, 'meter-relay'))
      ptys.push(meterSide)
      const open = async (path: string) => {
        const p = new SerialPort({ path, baudRate: 2400, parity: 'even', autoOpen: false })
        await new Promise<void>((resolve, reject) => p.open((err) => (err ? reject(err) : resolve())))
        return p
      }
      const toGateway = await open(gwSide.a)
      const toMeters = await open(meterSide.b)
      const wire: { fromGateway: boolean; bytes: Buffer }[] = []
      toGateway.on('data', (b: Buffer) => {
        wire.push({ fromGateway: true, bytes: b })
        toMeters.write(b)
      })
      // Cut before the gateway stops: a reply still on its way when it stops would be on the capture but
      // not in the gateway. After the cut nothing more reaches either, and the gateway has read what came.
      let cut = false
      toMeters.on('data', (b: Buffer) => {
        if (cut) return
        wire.push({ fromGateway: false, bytes: b })
        toGateway.write(b)
      })
      const meters = await startDlt645Simulator({ path: meterSide.a, meters: [{ address: '000000000161' }, { address: '110101000002' }] })
      const { gw, dataDir } = await startGateway({
        type: 'dlt645',
        serial: { path: gwSide.b },
        meters: [
          { address: '000000000161', device: 'meter-0161' },
          { address: '110101000002', device: 'meter-0002' },
        ],
        pollIntervalMs: 300,
      })
      try {
        await waitFor(() => wire.filter((w) => !w.fromGateway).length >= 12, 15_000, '12 answers')
        cut = true
        await new Promise((r) => setTimeout(r, 400))
      } finally {
        await gw.stop()
        await meters.stop()
        for (const p of [toGateway, toMeters]) await new Promise<void>((resolve) => p.close(() => resolve()))
        for (const p of ptys) await p.stop()
      }
      // DL/T 645-2007 section 4.1: a frame is 68H A0..A5 68H C L DATA CS 16H, led by FE wake-up bytes; the serial
      // line may cut it anywhere, so each direction is joined and split at 68H .. 16H with its length byte.
      const lines: string[] = []
      const pending = { true: Buffer.alloc(0), false: Buffer.alloc(0) }
      for (const w of wire) {
        const key = String(w.fromGateway) as 'true' | 'false'
        let buf = Buffer.concat([pending[key], w.bytes])
        for (;;) {
          const at = buf.indexOf(0x68)
          if (at < 0 || buf.length < at + 10) break
          const end = at + 12 + (buf[at + 9] ?? 0)
          if (buf.length < end) break
          lines.push(hex(buf.subarray(at, end)))
          buf = buf.subarray(end)
        }
        pending[key] = buf
      }
      expectSamePoints(await decodePoints('dlt645', lines), spooledLines(dataDir), { device: true, time: true })
    })

    it('nmea: a BeiDou/GPS receiver at 2 Hz', async () => {
      const dir = join(tmp.dir, 'nmea-pty')
      mkdirSync(dir, { recursive: true })
      const pty = await createPtyPair(join(dir, 'device'), join(dir, 'gateway'))
      const lines: string[] = []
      const { gw, dataDir } = await startGateway({ type: 'nmea', device: 'gnss-d-1', serial: { path: pty.b, baudRate: 9600 } })
      const gnss = await startGnssSimulator({ path: pty.a, rateHz: 2, tunnels: [], onEpoch: (e) => lines.push(...e.lines.map((l) => l.replace(/\r?\n$/, ''))) })
      try {
        await waitFor(() => lines.length > 0 && lines.filter((l) => l.includes('RMC')).length >= 5, 15_000, '5 epochs')
        await gnss.stop()
        await new Promise((r) => setTimeout(r, 600))
      } finally {
        await gw.stop()
        await pty.stop()
      }
      expectSamePoints(await decodePoints('nmea', lines), spooledLines(dataDir), { device: true })
    })
  })
})
