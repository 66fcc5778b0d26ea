/** Scenario files of `smartcity simulate`: every problem with its line; the shipped scenarios load; reports escape. */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { junitXml, type RunReport } from '../../cli/simulate/report.ts'
import { loadScenario, parseDuration, parseScenarioText } from '../../cli/simulate/scenario.ts'
import { parseXml } from '../helpers/xml.ts'

const SCENARIOS = join(import.meta.dirname, '..', '..', 'simulators', 'scenarios')

describe('simulate scenario files', () => {
  it('times: 500ms, 30s, 2m, 1h and bare seconds; anything else is refused', () => {
    expect([parseDuration('500ms'), parseDuration('30s'), parseDuration('2m'), parseDuration('1h'), parseDuration(1.5)]).toEqual([500, 30_000, 120_000, 3_600_000, 1500])
    expect(parseDuration('30 sec')).toBeUndefined()
    expect(parseDuration('-1s')).toBeUndefined()
  })

  it('reports every problem as FILE:LINE: key.path: message, with the nearest known key for a typo', () => {
    const text = [
      'name: bad', //                    1
      'duration: 30 sec', //             2
      'devices:', //                     3
      '  - kind: water_quality', //      4
      '    protocol: mqtt', //           5
      '    perod: 1s', //                6
      '  - kind: position', //           7
      '    protocol: jt808', //          8
      '    count: 0', //                 9
      'faults:', //                      10
      '  - type: gateway_kill', //       11
      '    at: 10s', //                  12
      '    restrat: 1s', //              13
    ].join('\n')
    const r = parseScenarioText(text, 'bad.yaml')
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^bad\.yaml:2: duration: not a time: "30 sec"/),
        'bad.yaml:6: devices[0].perod: unknown key; did you mean "period"?',
        expect.stringMatching(/^bad\.yaml:9: devices\[1\]\.count: /),
        'bad.yaml:13: faults[0].restrat: unknown key; did you mean "restart"?',
      ]),
    )
    expect(r.problems).toHaveLength(4)
  })

  it('a fault after the end of the run is refused at its line', () => {
    const r = parseScenarioText('name: x\nduration: 10s\ndevices:\n  - { kind: elevator, protocol: mqtt }\nfaults:\n  - type: influxdb_stop\n    at: 20s\n    for: 1s\n', 'x.yaml')
    expect(r.ok ? [] : r.problems).toEqual(['x.yaml:7: faults[0].at: after the end of the run (duration 10 s)'])
  })

  it('ids are refused where the simulator numbers its devices itself', () => {
    const r = parseScenarioText('name: x\nduration: 10s\ndevices:\n  - kind: position\n    protocol: jt808\n    ids: ["13900000001"]\n', 'x.yaml')
    expect(r.ok ? [] : r.problems).toEqual(['x.yaml:6: devices[0].ids: not for JT/T 808 terminals (use first_phone and count)'])
  })

  it('the shipped scenarios load and stay under a minute', async () => {
    for (const f of ['ci-smoke.yaml', 'faults-smoke.yaml', 'faults.yaml']) {
      const r = await loadScenario(join(SCENARIOS, f))
      expect(r.ok ? [] : r.problems, f).toEqual([])
      if (r.ok) expect(r.scenario.duration, f).toBeLessThan(60_000)
    }
    const smoke = await loadScenario(join(SCENARIOS, 'ci-smoke.yaml'))
    if (!smoke.ok) throw new Error('ci-smoke does not load')
    expect(new Set(smoke.scenario.devices.map((d) => `${d.kind}/${d.protocol}`))).toEqual(
      new Set(['water_quality/mqtt', 'elevator/mqtt', 'position/jt808', 'water_quality/hj212', 'energy_meter/modbus-tcp', 'water_quality/modbus-rtu', 'energy_meter/modbus-rtu-over-tcp', 'position/nmea', 'energy_meter/dlt645', 'etc/etc-rsu']),
    )
    // faults.yaml carries every fault kind, system and device (device-faults.yaml merged into it).
    const all = await loadScenario(join(SCENARIOS, 'faults.yaml'))
    if (!all.ok) throw new Error('faults does not load')
    expect(new Set(all.scenario.faults.map((f) => f.type))).toEqual(new Set(['device_silent', 'broker_restart', 'gateway_kill', 'influxdb_stop', 'influx_network', 'bad_frames', 'slow_answers', 'serial_unplug', 'clock_skew']))
    expect(new Set(all.scenario.faults.flatMap((f) => (f.type === 'bad_frames' ? [f.kind] : [])))).toEqual(new Set(['crc', 'truncated', 'garbage']))
    expect(new Set(all.scenario.devices.map((d) => d.protocol))).toEqual(new Set(smoke.scenario.devices.map((d) => d.protocol)))
    const faults = await loadScenario(join(SCENARIOS, 'faults-smoke.yaml'))
    if (!faults.ok) throw new Error('faults-smoke does not load')
    expect(new Set(faults.scenario.faults.map((f) => f.type))).toEqual(new Set(['device_silent', 'gateway_kill', 'influxdb_stop']))
    expect(readFileSync(join(SCENARIOS, 'ci-smoke.yaml'), 'utf8')).toMatch(/^# ci-smoke:/)
  })

  it('JUnit XML escapes what a failure message carries and counts failures and skips', () => {
    const report: RunReport = {
      scenario: 'odd <name>',
      file: 'x.yaml',
      ok: false,
      startedAt: '2026-12-01T10:00:00.000Z',
      durationMs: 1234,
      seed: 1,
      speed: 1,
      runDir: '/tmp/x',
      gateway: { config: 'g.yaml', started: true, restarts: 0 },
      influx: { url: 'http://127.0.0.1:1', database: 'd', startedByRunner: true },
      devices: [],
      timeline: [],
      acknowledged: 0,
      assertions: [
        { name: 'a & b', ok: true, message: 'fine', details: [] },
        { name: 'quotes "here"', ok: false, message: 'sent <7.4> & stored "7.5"', details: ['line\u0001 two'] },
        { name: 'rss', ok: false, skipped: true, message: 'not measured', details: [] },
      ],
    }
    const root = parseXml(junitXml(report))
    const suite = root.children[0]!
    expect([root.attrs['tests'], root.attrs['failures'], suite.attrs['skipped'], suite.attrs['name']]).toEqual(['3', '1', '1', 'odd <name>'])
    const failure = suite.children[1]!.children[0]!
    expect(failure.name).toBe('failure')
    expect(failure.attrs['message']).toBe('sent <7.4> & stored "7.5"')
    expect(failure.text).toBe('sent <7.4> & stored "7.5"\nline two')
    expect(() => parseXml('<a><b></a></b>')).toThrow(/mismatched/)
    expect(() => parseXml('<a x=1/>')).toThrow(/attribute/)
  })
})
