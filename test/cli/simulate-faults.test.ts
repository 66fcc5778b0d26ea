/**
 * Faults and assertions of `smartcity simulate` (issue 12 items 2 and 3, system side): the shipped
 * faults.yaml (every system fault kind and device_silent) passes against a configuration with an offline
 * rule, zero acknowledged readings lost, presence, alarms and events following the faults; each new
 * assertion fails when what it checks does not hold; the scheduler's `every`, the device fault map, the
 * proxy between gateway and InfluxDB, the quantiles of the latency histogram and the refusal counting on
 * their own. Runs start their own InfluxDB (Debian's influxd) and Mosquitto on free loopback ports.
 */
import { execFile } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { checkNoUnexpectedRefusals, checkTransitions, parseAgeHistograms, quantile } from '../../cli/simulate/expect.ts'
import { type DeviceFaults, scheduleFaults } from '../../cli/simulate/faults.ts'
import { startProxy } from '../../cli/simulate/proxy.ts'
import type { RunReport } from '../../cli/simulate/report.ts'
import { loadScenario, parseScenarioText } from '../../cli/simulate/scenario.ts'
import type { Planned } from '../../cli/simulate/devices.ts'
import { have, tempDir } from '../helpers/env.ts'
import { waitFor } from '../helpers/net.ts'

const run = promisify(execFile)
const ROOT = join(import.meta.dirname, '..', '..')
const BIN = join(ROOT, 'bin', 'smartcity.js')
const FIXTURES = join(ROOT, 'test', 'fixtures', 'simulate')

async function simulate(args: string[], timeout = 150_000): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, 'simulate', ...args], { cwd: ROOT, timeout })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

describe.skipIf(!have('influxd', 'mosquitto'))('smartcity simulate faults', () => {
  const tmp = tempDir('simulate-faults-')
  afterAll(() => tmp.cleanup())

  it('faults.yaml: device silent, broker restarted, gateway killed, InfluxDB stopped, network dropped and delayed: zero acknowledged readings lost; presence, alarm and event follow the faults', { timeout: 180_000 }, async () => {
    const json = join(tmp.dir, 'faults.json')
    const r = await simulate(['simulators/scenarios/faults.yaml', '--gateway-config', join(FIXTURES, 'gateway-faults.yaml'), '--json', json])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    const report = JSON.parse(readFileSync(json, 'utf8')) as RunReport
    const events = report.timeline.map((t) => t.event)
    for (const re of [
      /^fault: device wq-f-001 silent/,
      /^fault: device tower-f-L1 silent/,
      /^fault: MQTT broker stopped \(Mosquitto pid \d+\)/,
      /^fault over: MQTT broker started again/,
      /^fault: gateway killed \(SIGKILL, pid \d+\)$/,
      /^fault: InfluxDB stopped/,
      /^fault: network to InfluxDB dropped/,
      /^fault: network to InfluxDB delayed by 500 ms/,
    ]) {
      expect(events.some((e) => re.test(e)), String(re)).toBe(true)
    }
    // `every: 7s` from 30 s in a 44 s run: twice.
    expect(events.filter((e) => /^fault: device wq-f-003 silent/.test(e))).toHaveLength(2)
    expect(report.gateway.restarts).toBe(1)
    // The device faults (once device-faults.yaml): each broken frame refused with its protocol's own reason.
    for (const re of [
      /^fault over: device wq-df-001 sent 2 bad frame\(s\); refusals allowed: malformed_json x2$/,
      /^fault over: device 13900500001 sent 2 bad frame\(s\); refusals allowed: bad_check x2$/,
      /^fault over: device HJ212CI0000000000000001 sent 1 bad frame\(s\); refusals allowed: bad_crc x1$/,
      /^fault over: device wq-rtu-ci-1 sent 2 bad frame\(s\); refusals allowed: crc_mismatch x2$/,
      /^fault over: device bus-ci-gnss sent 2 bad frame\(s\); refusals allowed: bad_checksum x2$/,
      /^fault over: device rsu-ci-1 sent 1 bad frame\(s\); refusals allowed: bcc_mismatch x1$/,
      /^fault: device meter-ci-2 answers 1200 ms late for 3 s$/,
      /^fault over: serial port of meter-ci-1 plugged back$/,
      /^fault over: serial port of bus-ci-gnss plugged back$/,
      /^fault over: clock of 13900500001 right again$/,
    ]) {
      expect(events.some((e) => re.test(e)), String(re)).toBe(true)
    }
    const byName = (p: RegExp) => report.assertions.filter((a) => p.test(a.name))
    const refusals = byName(/^no unexpected refusals$/)[0]
    expect(refusals?.ok, refusals?.details.join('\n')).toBe(true)
    expect(Number(/^(\d+) refusal/.exec(refusals?.message ?? '')?.[1])).toBeGreaterThanOrEqual(15)
    const stored = byName(/^readings stored: all acknowledged$/)[0]
    expect(stored?.ok, stored?.details.join('\n')).toBe(true)
    // DL/T 645 answers and NMEA fixes the SIGKILL cut are accounted to it by name, not silently dropped.
    expect(stored?.message).toMatch(/lost to faults\[\d+\] gateway_kill at/)
    expect(report.acknowledged).toBeGreaterThan(300)
    // One presence assertion per silence (wq-f-003 twice), each offline then online again.
    const presence = byName(/^presence: /)
    // wq-f-002's silence ends while the broker is down: it must come back all the same.
    expect(presence.map((a) => a.name.replace(/ \(.*/, ''))).toEqual([
      'presence: wq-f-001 offline while silent',
      'presence: tower-f-L1 offline while silent',
      'presence: wq-f-002 offline while silent',
      'presence: wq-f-003 offline while silent',
      'presence: wq-f-003 offline while silent',
    ])
    for (const a of presence) expect(a.message).toMatch(/^offline at [\d.]+ s, online again at [\d.]+ s$/)
    expect(byName(/^alarm device_offline wq-f-001 fires and clears \(faults\[0\]\) \(InfluxDB and \/api\/alarms\)$/)[0]?.message).toMatch(
      /^InfluxDB: started [\d.]+ s after faults\[0\] \(device_silent\), cleared [\d.]+ s .*; \/api\/alarms: started [\d.]+ s after faults\[0\] \(device_silent\), cleared/,
    )
    expect(byName(/^elevator event power_loss tower-f-L1 fires and clears/)[0]?.ok).toBe(true)
    expect(byName(/^count water_quality wq-f-002 at 12 s$/)[0]?.ok).toBe(true)
    expect(events.filter((e) => /^fault: device wq-f-002 silent/.test(e))).toHaveLength(1)
    expect(report.gateway.cpuShare).toBeGreaterThan(0)
    expect(report.gateway.cpuShare).toBeLessThan(0.5)
    expect(report.latency?.p50Ms).toBeGreaterThan(0)
    // The outages held readings back: the slowest points waited seconds.
    expect(report.latency?.p99Ms).toBeGreaterThan(1000)
  })

  it('each new assertion fails when what it checks does not hold: exit 1 and the summary says why', { timeout: 120_000 }, async () => {
    const file = join(tmp.dir, 'unmet.yaml')
    writeFileSync(
      file,
      `name: unmet
duration: 8s
settle: 5s
devices:
  - { kind: water_quality, protocol: mqtt, count: 1, id_prefix: wq-u-, period: 500ms, model: { eventsPerDay: 0 } }
  - { kind: elevator, protocol: mqtt, count: 1, building: tower-u, period: 1s }
faults:
  - { type: device_silent, device: tower-u-L1, at: 1s, for: 3s }
expect:
  alarms: [{ rule: device_offline, device: wq-u-001, within: 5s }, { rule: device_offline, device: wq-u-001, within: 5s, via: api }]
  events: [{ event: power_loss, device: tower-u-L1, fault: 0, within: 4s }]
  presence: { within: 2s, checks: [{ device: wq-u-001, online: false, at: 6s }] }
  latency: { p99_ms: 0.001 }
  max_cpu_share: 0.00001
  refusals: [{ reason: bad_json, min: 1 }]
`,
    )
    const json = join(tmp.dir, 'unmet.json')
    // The configuration made for the scenario: no alarm rule, devices offline after 300 s of silence.
    const r = await simulate([file, '--json', json])
    const dir = /^run directory \(gateway log, dead letters, reports\): (.+)$/m.exec(r.stdout)?.[1]
    if (dir) rmSync(dir, { recursive: true, force: true })
    expect(r.code, r.stdout + r.stderr).toBe(1)
    const report = JSON.parse(readFileSync(json, 'utf8')) as RunReport
    const failed = Object.fromEntries(report.assertions.filter((a) => !a.ok).map((a) => [a.name, a.message]))
    expect(failed['alarm device_offline wq-u-001 fires and clears']).toMatch(/^did not start within 5 s of the start of the run \(no point at all\)/)
    expect(failed['alarm device_offline wq-u-001 fires and clears (/api/alarms)']).toMatch(/^did not start within 5 s of the start of the run \(no point at all\)/)
    expect(failed['elevator event power_loss tower-u-L1 fires and clears (faults[0])']).toMatch(/^did not start within 4 s of faults\[0\] \(device_silent\)/)
    expect(failed['presence: tower-u-L1 offline while silent (faults[0] at 1 s)']).toMatch(/never said offline .*offlineAfterSec/)
    expect(failed['presence: wq-u-001 offline at 6 s']).toMatch(/^online at 6 s/)
    expect(failed['latency device to stored: p99 at most 0.001 ms']).toMatch(/^p50 \d+ ms, p99 \d+ ms over \d+ points of water_quality, elevator_status: p99 over 0.001 ms$/)
    expect(failed['gateway CPU at most 0.00001 of one core']).toMatch(/of one core \([\d.]+ s CPU over the [\d.]+ s of the run it was up\)$/)
    expect(failed['refusals bad_json at least 1']).toBe('0 refused, expected at least 1')
    expect(r.stdout).toMatch(/^FAIL unmet/m)
    // What did hold still held.
    expect(report.assertions.find((a) => a.name === 'faults applied as scheduled')?.ok).toBe(true)
  })
})

describe('simulate faults without servers', () => {
  const planned = (ids: string[], handle = true): Planned => ({
    index: 0,
    entry: { kind: 'water_quality', protocol: 'mqtt', transport: 'mqtt', count: ids.length, pollute: false, report_events: false },
    label: 'water_quality over MQTT JSON',
    ids,
    ...(handle ? { handle: { sources: [], devices: [], start: async () => {}, describe: () => [], stop: async () => {} } } : {}),
  })

  it('every: repeats a fault until the end of the run; device faults go through the map and their expected refusals add up', { timeout: 10_000 }, async () => {
    const calls: { device: string; at: number }[] = []
    const t0 = Date.now()
    const devices: Partial<DeviceFaults> = {
      async device_silent(f, target, env) {
        calls.push({ device: f.device, at: Date.now() - t0 })
        env.note(`silent ${target.ids.join(',')}`)
        return { expectedRefusals: { bad_crc: 2 } }
      },
    }
    const notes: string[] = []
    const s = scheduleFaults(
      [
        { type: 'device_silent', device: 'a', at: 100, every: 300, for: 10 },
        { type: 'device_silent', device: 'nope', at: 50, for: 10 },
        { type: 'gateway_kill', at: 60, restart: 0 },
      ],
      { speed: 2, durationMs: 500, note: (n) => notes.push(n), targets: { plan: [planned(['a'])] }, devices },
    )
    // Scenario times 100, 400, 700 (< 1000 = 500 ms x speed 2) -> 50, 200, 350 ms of wall time.
    expect(s.planned).toBe(5)
    await new Promise((r) => setTimeout(r, 600))
    await s.stop()
    expect(calls.map((c) => c.device)).toEqual(['a', 'a', 'a'])
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(140)
    expect(s.expectedRefusals.get('bad_crc')).toBe(6)
    expect(s.problems.sort()).toEqual(['device_silent nope: no such device in the scenario', 'gateway_kill: the runner did not start the gateway (--gateway URL)'])
    expect(s.occurrences.filter((o) => o.failed).map((o) => o.type).sort()).toEqual(['device_silent', 'gateway_kill'])
    expect(notes).toEqual(['silent a', 'silent a', 'silent a'])
  })

  it('stop() ends the schedule: occurrences not yet due never start', { timeout: 10_000 }, async () => {
    let n = 0
    const s = scheduleFaults([{ type: 'device_silent', device: 'a', at: 0, every: 100, for: 10 }], {
      speed: 1,
      durationMs: 60_000,
      note: () => {},
      targets: { plan: [planned(['a'])] },
      devices: {
        device_silent: async () => {
          n++
          return {}
        },
      },
    })
    await new Promise((r) => setTimeout(r, 250))
    await s.stop()
    const seen = n
    await new Promise((r) => setTimeout(r, 250))
    expect(seen).toBeGreaterThanOrEqual(2)
    expect(n).toBe(seen)
  })

  it('the proxy passes bytes, delays each chunk in order, and drops connections', { timeout: 15_000 }, async () => {
    const echo: Server = createServer((s) => s.pipe(s))
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()))
    const a = echo.address()
    const px = await startProxy({ host: '127.0.0.1', port: typeof a === 'object' && a ? a.port : 0 })
    const roundTrip = (msgs: string[]) =>
      new Promise<{ got: string; ms: number; closed: boolean }>((ok) => {
        const t = Date.now()
        let got = ''
        const want = msgs.join('')
        const c = connect({ host: '127.0.0.1', port: px.port })
        c.on('connect', () => {
          for (const m of msgs) c.write(m)
        })
        c.on('data', (d: Buffer) => {
          got += d.toString()
          if (got === want) {
            c.destroy()
            ok({ got, ms: Date.now() - t, closed: false })
          }
        })
        c.on('error', () => undefined)
        c.on('close', () => ok({ got, ms: Date.now() - t, closed: true }))
      })
    try {
      expect((await roundTrip(['hello'])).got).toBe('hello')
      px.set({ mode: 'delay', delayMs: 200 })
      const d = await roundTrip(['a', 'b', 'c'])
      expect(d.got).toBe('abc')
      // Held both ways: at least two delays for the round trip.
      expect(d.ms).toBeGreaterThanOrEqual(390)
      px.set({ mode: 'drop' })
      const dropped = await roundTrip(['x'])
      expect(dropped).toMatchObject({ got: '', closed: true })
      expect(px.stats().refused).toBe(1)
      px.set({ mode: 'pass' })
      expect((await roundTrip(['back'])).got).toBe('back')
      // A connection open when the network drops is cut.
      const open = connect({ host: '127.0.0.1', port: px.port })
      await new Promise((r) => open.once('connect', r))
      await waitFor(() => px.stats().open === 1, 2_000, 'connection through the proxy')
      const closed = new Promise((r) => open.once('close', r))
      open.on('error', () => undefined)
      px.set({ mode: 'drop' })
      await closed
      expect(px.stats().open).toBe(0)
    } finally {
      await px.close()
      await new Promise<void>((r) => echo.close(() => r()))
    }
  })

  it('latency quantiles from the histogram, interpolated inside a bucket as histogram_quantile does', () => {
    const h = parseAgeHistograms(
      [
        'smartcity_reading_age_seconds_bucket{measurement="water_quality",interval="",le="0.1"} 50',
        'smartcity_reading_age_seconds_bucket{measurement="water_quality",interval="",le="0.2"} 90',
        'smartcity_reading_age_seconds_bucket{measurement="water_quality",interval="",le="1"} 100',
        'smartcity_reading_age_seconds_bucket{measurement="water_quality",interval="",le="+Inf"} 100',
        'smartcity_reading_age_seconds_bucket{measurement="water_quality",interval="minute",le="+Inf"} 7',
        'smartcity_reading_age_seconds_bucket{measurement="odd\\"name",interval="",le="+Inf"} 0',
      ].join('\n'),
    )
    const wq = h.get('water_quality')!
    expect(quantile(0.5, wq)).toBeCloseTo(0.1, 9)
    expect(quantile(0.7, wq)).toBeCloseTo(0.15, 9)
    expect(quantile(0.99, wq)).toBeCloseTo(0.2 + 0.8 * 0.9, 9)
    expect(quantile(0.5, h.get('odd"name')!)).toBeUndefined()
    expect(h.get('water_quality/minute')?.get(Number.POSITIVE_INFINITY)).toBe(7)
  })

  it('no_unexpected_refusals: reasons the device faults caused may come at most as often as caused; other reasons only when allowed', () => {
    const refusals = [{ reason: 'bad_crc' }, { reason: 'bad_crc', count: 2 }, { reason: 'truncated' }]
    const caused = new Map([['bad_crc', 3]])
    expect(checkNoUnexpectedRefusals({ allow: ['truncated'] }, refusals, caused)).toMatchObject({ ok: true, message: '4 refusal(s), all allowed (caused by the faults: bad_crc x3)' })
    expect(checkNoUnexpectedRefusals(true, refusals, caused)).toMatchObject({ ok: false, message: '1 refused input(s): truncated x1' })
    expect(checkNoUnexpectedRefusals({ allow: ['truncated'] }, refusals, new Map([['bad_crc', 4]]))).toMatchObject({ ok: true })
    expect(checkNoUnexpectedRefusals({ allow: ['truncated'] }, refusals, new Map([['bad_crc', 2]]))).toMatchObject({ ok: false, message: 'bad_crc: the faults caused at most 2, the gateway refused 3' })
    expect(checkNoUnexpectedRefusals(false, refusals, caused)).toBeUndefined()
  })

  it('alarm and event windows: a start too late, a start without its clear', () => {
    const win = { start: 10_000, end: 15_000, label: 'faults[0] (device_silent)' }
    const e = { event: 'power_loss', within: 4_000, clear_within: 2_000, clears: true }
    const f = [{ type: 'device_silent' as const, device: 'd', at: 0, for: 5_000 }]
    expect(checkTransitions('x', e, [{ time: 13_000, active: true, device: 'd', name: 'r' }, { time: 16_000, active: false, device: 'd', name: 'r' }], win, 1, f)).toMatchObject({ ok: true, message: 'started 3 s after faults[0] (device_silent), cleared 6 s after faults[0] (device_silent) (d)' })
    expect(checkTransitions('x', e, [{ time: 15_000, active: true, device: 'd', name: 'r' }], win, 1, f)).toMatchObject({ ok: false, message: 'did not start within 4 s of faults[0] (device_silent) (1 other start/clear point(s))' })
    expect(checkTransitions('x', e, [{ time: 11_000, active: true, device: 'd', name: 'r' }, { time: 18_000, active: false, device: 'd', name: 'r' }], win, 1, f)).toMatchObject({ ok: false, message: "started 1 s after faults[0] (device_silent) (d) but did not clear within 2 s of the fault's end" })
    // --speed 2: the scenario's 4 s are 2 s of the run.
    expect(checkTransitions('x', e, [{ time: 13_000, active: true, device: 'd', name: 'r' }], win, 2, f).ok).toBe(false)
    expect(checkTransitions('x', e, [], undefined, 1, f).message).toMatch(/was not applied/)
  })

  it('scenario schema: the new faults and expectations validate; every not longer than for, and an alarm window on a missing fault, are refused at their lines', async () => {
    const ok = parseScenarioText(
      'name: x\nduration: 30s\ndevices:\n  - { kind: elevator, protocol: mqtt }\nfaults:\n  - { type: broker_restart, at: 1s, for: 2s }\n  - { type: influx_network, mode: delay, delay_ms: 300, at: 5s, for: 2s, every: 10s }\nexpect:\n  alarms: [{ rule: r, fault: 1 }]\n  latency: { p99_ms: 2000 }\n',
      'x.yaml',
    )
    expect(ok.ok ? [] : ok.problems).toEqual([])
    const bad = parseScenarioText(
      'name: x\nduration: 30s\ndevices:\n  - { kind: elevator, protocol: mqtt }\nfaults:\n  - type: influx_network\n    mode: drop\n    at: 1s\n    for: 5s\n    every: 5s\nexpect:\n  alarms:\n    - rule: r\n      fault: 3\n  latency: {}\n  counts:\n    - { measurement: m, min: 1, at: 30s }\n',
      'x.yaml',
    )
    expect(bad.ok ? [] : bad.problems).toEqual([
      expect.stringMatching(/^x\.yaml:15: expect\.latency: give p50_ms or p99_ms/),
      'x.yaml:10: faults[0].every: not longer than the fault lasts (for 5 s): one would start before the last is over',
      'x.yaml:17: expect.counts[0].at: not before the end of the run (duration 30 s): check at the end without at',
      'x.yaml:14: expect.alarms[0].fault: no such fault: faults has 1 entry (0-based)',
    ])
    const shipped = await loadScenario(join(ROOT, 'simulators', 'scenarios', 'faults.yaml'))
    if (!shipped.ok) throw new Error(shipped.problems.join('\n'))
    expect(new Set(shipped.scenario.faults.map((f) => f.type))).toEqual(new Set(['device_silent', 'gateway_kill', 'influxdb_stop', 'broker_restart', 'influx_network', 'bad_frames', 'slow_answers', 'serial_unplug', 'clock_skew']))
    expect(new Set(shipped.scenario.faults.flatMap((f) => (f.type === 'influx_network' ? [f.mode] : [])))).toEqual(new Set(['drop', 'delay']))
    expect(shipped.scenario.duration).toBeLessThan(60_000)
    expect(readFileSync(join(ROOT, 'simulators', 'scenarios', 'faults.yaml'), 'utf8')).toMatch(/^ {2}# device faults:$/m)
  })
})
