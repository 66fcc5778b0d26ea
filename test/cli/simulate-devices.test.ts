/**
 * `smartcity simulate` with every kind and protocol (issue 12 items 1 and 2, device side): the value models'
 * clock and its seed, the nearest-time ground truth of the ETC lane's passages (`within`) against a real InfluxDB, the broken
 * frames and the refusals the protocols' own framers give for them, a configuration that reads a meter with
 * the wrong Modbus profile (the device faults run in faults.yaml: test/cli/simulate-faults.test.ts), and
 * two runs with one seed giving identical truth values.
 */
import { execFile, spawn } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { breakFlagged, breakHj212, breakNmea, refusalsOf } from '../../cli/demo-parts/bad-frames.ts'
import { createSimClock, startTimeOf } from '../../cli/simulate/clock.ts'
import type { RunReport } from '../../cli/simulate/report.ts'
import { parseScenarioText } from '../../cli/simulate/scenario.ts'
import { compare, createTruth, type ExpectedPoint, fromNmeaEpoch } from '../../cli/simulate/truth.ts'
import { createJt808Framer, decodeJt808, encodeJt808, JT808_MSG } from '../../devices/position/jt808/index.ts'
import { createNmeaFramer, decodeSentence } from '../../devices/position/nmea/index.ts'
import { createHj212Framer, dataCp, decodeHj212, encodeHj212 } from '../../devices/water-quality/hj212/index.ts'
import { rushFactor } from '../../simulators/etc/traffic.ts'
import { have, tempDir } from '../helpers/env.ts'
import { useInflux } from '../helpers/influx.ts'
import { freePort } from '../helpers/net.ts'

const run = promisify(execFile)
const ROOT = join(import.meta.dirname, '..', '..')
const BIN = join(ROOT, 'bin', 'smartcity.js')
const FIXTURES = join(ROOT, 'test', 'fixtures', 'simulate')

async function simulate(args: string[], timeout = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, 'simulate', ...args], { cwd: ROOT, timeout })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

describe('simulate: the value models clock', () => {
  it('starts at start_time or at a time the seed gives, runs --speed times faster, and ticks one period per reading', () => {
    expect(new Date(startTimeOf(1)).toISOString()).toBe('2026-05-31T23:00:00.000Z') // 07:00 Beijing
    expect(startTimeOf(25)).toBe(startTimeOf(1))
    expect(startTimeOf(3, '2026-01-15T08:00:00+08:00')).toBe(Date.UTC(2026, 0, 15, 0))
    const c = createSimClock(1_000_000, 4, Date.now() - 500)
    expect(c.now()).toBeGreaterThanOrEqual(1_000_000 + 2_000)
    expect(c.now()).toBeLessThan(1_000_000 + 2_000 + 400)
    const t = c.ticks(1_000, 10)
    expect([t(), t(), t()]).toEqual([1_000_010, 1_001_010, 1_002_010])
  })

  it('rush hours multiply the gantry rate around their peaks (Beijing time of the model clock)', () => {
    const r = { startMs: 0, peaks: [8, 18], factor: 4, widthH: 1 }
    const at = (h: number) => Date.UTC(2026, 5, 1, h - 8)
    expect(rushFactor(r, at(8))).toBeCloseTo(4, 6)
    expect(rushFactor(r, at(18))).toBeCloseTo(4, 6)
    expect(rushFactor(r, at(13))).toBeLessThan(1.01)
    expect(rushFactor(r, at(3))).toBeLessThan(1.01)
  })
})

describe('simulate: broken frames and what the protocol says of them', () => {
  it('JT/T 808, HJ 212 and NMEA: a wrong check code, a cut frame and garbage each give their refusal; the good frame after them still decodes', () => {
    const jt = Buffer.from(encodeJt808({ header: { msgId: JT808_MSG.heartbeat, version: 2013, protocolVersion: 0, phone: '013900500001', serial: 1, encryption: 0 }, body: { type: 'heartbeat' } }))
    expect(refusalsOf(createJt808Framer(), decodeJt808, breakFlagged(jt, 'crc', 0x7e, 0x7d), jt)).toEqual({ bad_check: 1 })
    expect(Object.keys(refusalsOf(createJt808Framer(), decodeJt808, breakFlagged(jt, 'truncated', 0x7e, 0x7d), jt))).toHaveLength(1)
    expect(refusalsOf(createJt808Framer(), decodeJt808, jt, jt)).toEqual({})
    const hj = encodeHj212({ qn: '20260601000000000', st: '21', cn: '2011', pw: 'pw', mn: 'HJ212CI0000000000000001', flag: 4, cp: dataCp(Date.UTC(2026, 5, 1), { w01001: { Rtd: '7.40', Flag: 'N' } }) })
    expect(refusalsOf(createHj212Framer(), decodeHj212, breakHj212(hj, 'crc'), hj)).toEqual({ bad_crc: 1 })
    expect(refusalsOf(createHj212Framer(), decodeHj212, breakHj212(hj, 'garbage'), hj)).toEqual({ garbage: 1 })
    // NMEA 0183 (IEC 61162-1): the checksum is the XOR of the characters between $ and *.
    const rmc = '$GNRMC,124125.00,A,3414.02160,N,10853.08627,E,20.215,90.82,011226,,,A,V*3B\r\n'
    const good = `${rmc.slice(0, rmc.indexOf('*') + 1)}${[...rmc.slice(1, rmc.indexOf('*'))].reduce((x, ch) => x ^ ch.charCodeAt(0), 0).toString(16).toUpperCase().padStart(2, '0')}\r\n`
    expect(refusalsOf(createNmeaFramer(), decodeSentence, Buffer.from(good), Buffer.from(good))).toEqual({})
    expect(refusalsOf(createNmeaFramer(), decodeSentence, Buffer.from(breakNmea(good, 'crc')), Buffer.from(good))).toEqual({ bad_checksum: 1 })
    expect(Object.values(refusalsOf(createNmeaFramer(), decodeSentence, Buffer.from(breakNmea(good, 'truncated')), Buffer.from(good)))).toEqual([1])
  })

  it('scenario device faults validate: count, or rate with for', () => {
    const base = 'name: x\nduration: 10s\ndevices:\n  - { kind: water_quality, protocol: mqtt }\nfaults:\n'
    expect(parseScenarioText(`${base}  - { type: bad_frames, device: wq1-001, kind: garbage, count: 2, at: 1s }\n`, 'x.yaml').ok).toBe(true)
    const r = parseScenarioText(`${base}  - { type: bad_frames, device: wq1-001, rate: 0.5, at: 1s }\n`, 'x.yaml')
    expect(r.ok ? [] : r.problems).toEqual([expect.stringMatching(/^x\.yaml:6: faults\[0\]: give count, or rate and for/)])
    const k = parseScenarioText(`${base}  - { type: bad_frames, device: wq1-001, kind: noise, count: 1, at: 1s }\n`, 'x.yaml')
    expect(k.ok).toBe(false)
  })
})

describe.skipIf(!have('influxd'))('simulate: ground truth of polled devices against InfluxDB', () => {
  const influx = useInflux()

  it('a point with a window (an ETC passage) matches the stored point of its device nearest in time within it; other values and no point in the window are named', { timeout: 30_000 }, async () => {
    const db = 'nearest'
    await fetch(`${influx.url}/query`, { method: 'POST', body: new URLSearchParams({ q: `CREATE DATABASE ${db}` }) })
    const t = Date.UTC(2026, 11, 1, 10, 0, 0)
    const lines = [`energy_meter,device=em-1 voltage_a_v=230.4,active_power_kw=12.5 ${t + 40}`, `energy_meter,device=em-1 voltage_a_v=231 ${t + 1040}`, `position,device=gnss-1,system=GNSS lat=34.2337,lon=108.8842 ${t}`]
    expect((await fetch(`${influx.url}/write?db=${db}&precision=ms`, { method: 'POST', body: lines.join('\n') })).status).toBe(204)
    const truth = createTruth()
    const p = (time: number, fields: ExpectedPoint['fields'], within = 500): ExpectedPoint => ({ measurement: 'energy_meter', device: 'em-1', tags: {}, time, fields, within })
    truth.add(p(t, { voltage_a_v: 230.4 })) // the gateway stamped the poll 40 ms later
    truth.add(p(t + 10, { active_power_kw: 12.5 }))
    truth.add(p(t + 1000, { voltage_a_v: 230.9 })) // stored 231
    truth.add(p(t + 5000, { voltage_a_v: 230 })) // nothing stored within 500 ms
    // NMEA: the exact time, the gateway's `system` tag not needed to match.
    truth.add(fromNmeaEpoch('gnss-1', { time: t, fix: true, lat: 34.2337, lon: 108.8842 })!)
    const r = await compare({ url: influx.url, database: db }, truth.points(), t - 1000, truth.candidates)
    expect(r.differences.map((d) => `${d.point.time - t}: ${d.what}`).sort()).toEqual(['1000: voltage_a_v sent 230.9 stored 231 (nearest point 40 ms off)', '5000: missing (no energy_meter point of em-1 within 500 ms)'])
    // forget: a poll a fault interrupted is no longer expected.
    truth.forget('em-1', t + 900)
    const again = await compare({ url: influx.url, database: db }, truth.points(), t - 1000, truth.candidates)
    expect(again.differences).toEqual([])
  })
})

describe.skipIf(!have('influxd', 'socat'))('smartcity simulate with every kind and protocol', () => {
  const tmp = tempDir('simulate-devices-')
  afterAll(() => tmp.cleanup())

  it('a configuration that reads a meter with the wrong Modbus profile fails ci-smoke, naming the device and both profiles', { timeout: 120_000 }, async () => {
    const junit = join(tmp.dir, 'wrong.xml')
    const r = await simulate(['simulators/scenarios/ci-smoke.yaml', '--gateway-config', join(FIXTURES, 'gateway-wrong-profile.yaml'), '--speed', '4', '--junit', junit])
    const dir = /^run directory \(gateway log, dead letters, reports\): (.+)$/m.exec(r.stdout)?.[1]
    if (dir) rmSync(dir, { recursive: true, force: true })
    expect(r.code, r.stdout + r.stderr).toBe(1)
    expect(r.stdout).toMatch(/FAIL gateway serves energy_meter over Modbus TCP \(devices\[4\]\): the modbus-tcp source meters-tcp polls em-ci-1 with profile chint-dtsu666; the device is eastron-sdm630/)
    // The entries that configuration has no source for are named too.
    expect(r.stdout).toMatch(/FAIL gateway serves position over NMEA 0183 on a serial port \(devices\[7\]\): .*has no nmea source for the receiver bus-ci-gnss/)
    expect(readFileSync(junit, 'utf8')).toContain('name="gateway serves energy_meter over Modbus TCP (devices[4])"')
  })

  it('the gateway SIGKILLed and InfluxDB stopped: polled (Modbus, DL/T 645), serial (NMEA) and ETC devices lose no answered reading', { timeout: 150_000 }, async () => {
    const file = join(tmp.dir, 'kill.yaml')
    writeFileSync(
      file,
      [
        'name: kill-polled',
        'duration: 20s',
        'district: ci-district',
        'settle: 20s',
        'devices:',
        '  - { kind: energy_meter, protocol: modbus-tcp, ids: [em-ci-1, em-ci-2], profile: eastron-sdm630 }',
        '  - { kind: water_quality, protocol: modbus-rtu, ids: [wq-rtu-ci-1], profile: generic-sonde }',
        '  - { kind: position, protocol: nmea, ids: [bus-ci-gnss] }',
        '  - { kind: energy_meter, protocol: dlt645, ids: [meter-ci-1, meter-ci-2] }',
        '  - { kind: etc, protocol: etc-rsu, ids: [rsu-ci-1], rate_per_sec: 1 }',
        'faults:',
        '  - { type: gateway_kill, at: 6s, restart: 2s }',
        '  - { type: influxdb_stop, at: 13s, for: 3s }',
        'expect:',
        '  readings_stored: all_acknowledged',
        '  no_unexpected_refusals: true',
        '',
      ].join('\n'),
    )
    const json = join(tmp.dir, 'kill.json')
    const r = await simulate([file, '--gateway-config', join(FIXTURES, 'gateway.yaml'), '--json', json])
    const dir = /^run directory \(gateway log, dead letters, reports\): (.+)$/m.exec(r.stdout)?.[1]
    if (dir) rmSync(dir, { recursive: true, force: true })
    expect(r.code, r.stdout + r.stderr).toBe(0)
    const report = JSON.parse(readFileSync(json, 'utf8')) as RunReport
    expect(report.gateway.restarts).toBe(1)
    expect(report.devices.every((d) => d.acknowledged > 5)).toBe(true)
  })

  it('two runs with one seed give identical truth values; another seed gives others', { timeout: 150_000 }, async () => {
    const file = join(tmp.dir, 'seeded.yaml')
    writeFileSync(
      file,
      [
        'name: seeded',
        'duration: 6s',
        'district: ci-district',
        'settle: 10s',
        'devices:',
        '  - { kind: water_quality, protocol: mqtt, count: 2, id_prefix: wq-seed-, period: 500ms }',
        '  - { kind: elevator, protocol: mqtt, count: 1, building: tower-seed, period: 1s }',
        '  - { kind: position, protocol: jt808, count: 1, first_phone: 13900600001, period: 500ms }',
        '  - { kind: water_quality, protocol: hj212, ids: [HJ212CI0000000000000002], period: 1s, minute_period: 1m }',
        '  - { kind: etc, protocol: etc-rsu, ids: [rsu-ci-1], rate_per_sec: 2 }',
        'expect: { readings_stored: all_acknowledged }',
        '',
      ].join('\n'),
    )
    const truthOf = async (seed: number, name: string) => {
      const out = join(tmp.dir, `${name}.jsonl`)
      const r = await simulate([file, '--gateway-config', join(FIXTURES, 'gateway.yaml'), '--seed', String(seed), '--speed', '2', '--truth', out])
      expect(r.code, r.stdout + r.stderr).toBe(0)
      const byDevice = new Map<string, string[]>()
      for (const l of readFileSync(out, 'utf8').split('\n').filter(Boolean)) {
        const p = JSON.parse(l) as ExpectedPoint
        const list = byDevice.get(p.device) ?? []
        list.push(`${JSON.stringify(p.tags)}|${JSON.stringify(p.fields)}`)
        byDevice.set(p.device, list)
      }
      // Times are wall-clock send times: compare each device's values in the order they were acknowledged.
      return byDevice
    }
    const a = await truthOf(7, 'a')
    const b = await truthOf(7, 'b')
    const c = await truthOf(8, 'c')
    expect([...a.keys()].sort()).toEqual(['13900600001', 'HJ212CI0000000000000002', 'rsu-ci-1', 'tower-seed-L1', 'wq-seed-001', 'wq-seed-002'])
    for (const [device, values] of a) {
      const other = b.get(device) ?? []
      const n = Math.min(values.length, other.length)
      expect(n, device).toBeGreaterThan(2)
      expect(other.slice(0, n), device).toEqual(values.slice(0, n))
      // Another seed draws other values (an elevator car may idle at the lobby the whole short run with either).
      if (device.startsWith('tower-')) continue
      const third = c.get(device) ?? []
      expect(third.slice(0, Math.min(n, third.length)), device).not.toEqual(values.slice(0, Math.min(n, third.length)))
    }
  })
})

describe.skipIf(!have('influxd', 'socat'))('smartcity simulate --gateway URL (a gateway already running)', () => {
  const influx = useInflux()
  const tmp = tempDir('simulate-remote-')
  afterAll(() => tmp.cleanup())

  it('puts each simulator where the configuration says (its Modbus TCP port, its NMEA pty path) and checks what that gateway stored', { timeout: 120_000 }, async () => {
    const [http, mqtt, modbus] = [await freePort(), await freePort(), await freePort()]
    const gnssPath = join(tmp.dir, 'gnss-gateway')
    const cfg = join(tmp.dir, 'remote.yaml')
    writeFileSync(
      cfg,
      [
        'gateway: { id: remote, district: ci-district }',
        `dataDir: ${join(tmp.dir, 'data')}`,
        `http: { enabled: true, host: 127.0.0.1, port: ${http} }`,
        `broker: { type: embedded, host: 127.0.0.1, port: ${mqtt} }`,
        'log: { level: warn }',
        'sources:',
        '  - type: mqtt',
        `  - { type: modbus-tcp, id: meters, host: 127.0.0.1, port: ${modbus}, timeoutMs: 300, devices: [{ device: em-r-1, unit: 7, profile: eastron-sdm630, intervalMs: 500 }] }`,
        `  - { type: nmea, id: gnss, device: gnss-r-1, serial: { path: ${gnssPath}, reconnectMinMs: 100, reconnectMaxMs: 300 } }`,
        `sinks: [{ type: influx-v1, url: "${influx.url}", database: remote, flushIntervalMs: 200 }]`,
        '',
      ].join('\n'),
    )
    const scenario = join(tmp.dir, 'remote-scenario.yaml')
    writeFileSync(
      scenario,
      [
        'name: remote',
        'duration: 8s',
        'district: ci-district',
        'settle: 10s',
        'devices:',
        '  - { kind: energy_meter, protocol: modbus-tcp, ids: [em-r-1], profile: eastron-sdm630 }',
        '  - { kind: position, protocol: nmea, ids: [gnss-r-1] }',
        'expect:',
        '  readings_stored: all_acknowledged',
        '  counts: [{ measurement: energy_meter, device: em-r-1, min: 2 }, { measurement: position, device: gnss-r-1, min: 2 }]',
        '',
      ].join('\n'),
    )
    const gw = spawn(process.execPath, [BIN, 'gateway', '--config', cfg], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    gw.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
    try {
      const deadline = Date.now() + 30_000
      while (Date.now() < deadline) {
        const st = await fetch(`http://127.0.0.1:${http}/healthz`).then((r) => r.status, () => 0)
        if (st === 200 || st === 503) break
        await new Promise((r) => setTimeout(r, 200))
      }
      const json = join(tmp.dir, 'remote.json')
      const r = await simulate([scenario, '--gateway', `http://127.0.0.1:${http}`, '--gateway-config', cfg, '--json', json])
      expect(r.code, r.stdout + r.stderr + stderr).toBe(0)
      const report = JSON.parse(readFileSync(json, 'utf8')) as RunReport
      expect(report.gateway.started).toBe(false)
      // The gateway was up before the simulators: its links found them on their next reconnect.
      expect(report.devices.map((d) => d.acknowledged > 1)).toEqual([true, true])
      expect(report.assertions.find((a) => a.name === 'readings stored: all acknowledged')?.ok).toBe(true)
    } finally {
      gw.kill('SIGTERM')
      await new Promise((r) => gw.once('exit', r))
    }
  })
})
