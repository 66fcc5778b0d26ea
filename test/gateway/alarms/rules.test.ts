import { describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import type { KindName, Point } from '../../../devices/common/point.ts'
import { AlarmRulesConfig } from '../../../gateway/alarms/config.ts'
import { createAlarmProcessor } from '../../../gateway/alarms/processor.ts'
import { createAlarmStore } from '../../../gateway/alarms/store.ts'
import type { ProcessedBatch } from '../../../gateway/core/types.ts'

const S = 1000

function rig(rules: unknown[]) {
  let now = 0
  const published: { topic: string; msg: Record<string, unknown> }[] = []
  const store = createAlarmStore()
  const proc = createAlarmProcessor(
    { rules: rules as never },
    {
      now: () => now,
      store,
      publish: async (topic, payload) => {
        published.push({ topic, msg: JSON.parse(String(payload)) })
      },
    },
  )
  const points: Point[] = []
  const send = (t: number, measurement: string, fields: Point['fields'], opts: { device?: string; kind?: KindName; tags?: Record<string, string> } = {}) => {
    now = t
    const b: ProcessedBatch = {
      source: 'test',
      device: opts.device ?? 'dev-1',
      kind: opts.kind ?? 'water_quality',
      protocol: 'mqtt',
      district: 'xian-gaoxin',
      points: [{ measurement, tags: opts.tags ?? {}, fields, time: t }],
    }
    points.push(...(proc.process(b) ?? []))
  }
  const tick = (t: number) => {
    now = t
    points.push(...(proc.tick!(t) ?? []))
  }
  const changes = () => points.map((p) => `${p.fields['active'] ? '+' : '-'}${p.tags['rule']}@${p.time / S}`)
  return { proc, store, published, points, send, tick, changes }
}

const PH = { name: 'ph_out_of_range', measurement: 'water_quality', field: 'ph', outside: [6, 9], forSec: 300, hysteresis: 0.1 }

describe('alarm rules: duration', () => {
  it('pH outside 6-9 starts only after 5 minutes of continuous violation', () => {
    const r = rig([PH])
    for (let t = 0; t <= 299 * S; t += 30 * S) r.send(t, 'water_quality', { ph: 5.5 })
    expect(r.changes()).toEqual([])
    r.tick(299 * S)
    expect(r.changes()).toEqual([])
    r.tick(300 * S)
    expect(r.changes()).toEqual(['+ph_out_of_range@300'])
  })
  it('one reading back in range restarts the 5 minutes', () => {
    const r = rig([PH])
    r.send(0, 'water_quality', { ph: 9.5 })
    r.send(200 * S, 'water_quality', { ph: 7 })
    r.send(201 * S, 'water_quality', { ph: 9.5 })
    r.tick(450 * S)
    expect(r.changes()).toEqual([])
    r.tick(501 * S)
    expect(r.changes()).toEqual(['+ph_out_of_range@501'])
  })
  it('writes the alarm point, publishes the MQTT alarm and lists it until cleared; acknowledge keeps it listed', () => {
    const r = rig([{ ...PH, forSec: 0, severity: 'critical' }])
    r.send(0, 'water_quality', { ph: 4.2 })
    expect(r.points).toEqual([
      {
        measurement: 'alarm',
        // device, kind, district and site come from the pipeline (the batch's device tags)
        tags: { rule: 'ph_out_of_range', severity: 'critical' },
        fields: { active: true, value: 4.2, message: 'ph_out_of_range: dev-1 ph = 4.2 (outside 6..9)', action: 'raise', state: 'active' },
        time: 0,
      },
    ])
    expect(r.published).toMatchObject([{ topic: 'city/xian-gaoxin/alarms/ph_out_of_range', msg: { rule: 'ph_out_of_range', active: true, value: 4.2, device: 'dev-1' } }])
    const [a] = r.store.listActive()
    expect(a).toMatchObject({ id: 'ph_out_of_range/dev-1', acknowledged: false, severity: 'critical' })
    expect(r.store.acknowledge('ph_out_of_range/dev-1', { by: 'operator-7', note: 'crew sent' }, 5 * S)).toMatchObject({ ok: true, alarm: { acknowledged: true, ackBy: 'operator-7', ackAt: 5 * S } })
    expect(r.store.acknowledge('nope/dev-1', {}, 5 * S)).toMatchObject({ ok: false, code: 'ALARM_NOT_FOUND' })
    expect(r.store.listActive()).toHaveLength(1)
    r.send(10 * S, 'water_quality', { ph: 7 })
    expect(r.changes()).toEqual(['+ph_out_of_range@0', '-ph_out_of_range@10'])
    expect(r.store.listActive()).toEqual([])
  })
})

describe('alarm rules: hysteresis (no flapping on a noisy signal at the threshold)', () => {
  // A deterministic noisy signal: 9 +- 0.08, one reading every 5 s for two hours.
  const noisy = (i: number) => 9 + 0.08 * Math.sin(i * 1.7) * Math.cos(i * 0.37)
  const run = (rule: Record<string, unknown>) => {
    const r = rig([rule])
    r.send(0, 'water_quality', { ph: 9.5 })
    r.tick(400 * S)
    for (let i = 0; i < 1440; i++) r.send(400 * S + i * 5 * S, 'water_quality', { ph: noisy(i) })
    return r
  }
  it('without hysteresis or duration the same signal flaps (the test can fail)', () => {
    const r = run({ ...PH, forSec: 0, hysteresis: 0 })
    expect(r.changes().length).toBeGreaterThan(50)
  })
  it('with hysteresis an active alarm stays active through the noise, and clears once when the value really returns', () => {
    const r = run(PH)
    expect(r.changes()).toEqual(['+ph_out_of_range@400'])
    r.send(8000 * S, 'water_quality', { ph: 8.95 })
    expect(r.changes()).toHaveLength(1)
    r.send(8005 * S, 'water_quality', { ph: 8.85 })
    expect(r.changes()).toEqual(['+ph_out_of_range@400', '-ph_out_of_range@8005'])
  })
  it('with a duration a noisy signal that was never active does not start', () => {
    const r = rig([PH])
    for (let i = 0; i < 1440; i++) r.send(i * 5 * S, 'water_quality', { ph: noisy(i) })
    expect(r.changes()).toEqual([])
  })
  it('clearForSec holds a clear until the value stays back', () => {
    const r = rig([{ ...PH, forSec: 0, clearForSec: 60 }])
    r.send(0, 'water_quality', { ph: 10 })
    r.send(10 * S, 'water_quality', { ph: 7 })
    r.send(40 * S, 'water_quality', { ph: 9.05 })
    r.send(50 * S, 'water_quality', { ph: 7 })
    r.tick(109 * S)
    expect(r.changes()).toEqual(['+ph_out_of_range@0'])
    r.tick(110 * S)
    expect(r.changes()).toEqual(['+ph_out_of_range@0', '-ph_out_of_range@110'])
  })
})

describe('alarm rules: the issue examples', () => {
  it('water class worse than III', () => {
    const r = rig([{ name: 'water_worse_than_iii', measurement: 'water_quality', field: 'gb3838_class', above: 3 }])
    r.send(0, 'water_quality', { gb3838_class: 3 })
    r.send(S, 'water_quality', { gb3838_class: 4 })
    r.send(2 * S, 'water_quality', { gb3838_class: 6 })
    r.send(3 * S, 'water_quality', { gb3838_class: 2 })
    expect(r.changes()).toEqual(['+water_worse_than_iii@1', '-water_worse_than_iii@3'])
  })
  it('phase voltage off nominal by more than 10 %: any phase trips, all phases clear', () => {
    const r = rig([
      { name: 'phase_voltage', measurement: 'energy_meter', fields: ['voltage_a_v', 'voltage_b_v', 'voltage_c_v'], deviation: { nominal: 220, pct: 10 }, hysteresis: 2 },
    ])
    const v = (a: number, b: number, c: number) => ({ voltage_a_v: a, voltage_b_v: b, voltage_c_v: c })
    r.send(0, 'energy_meter', v(220, 230, 241), { kind: 'energy_meter' }) // 9.5 %: not yet
    r.send(S, 'energy_meter', v(220, 196, 221), { kind: 'energy_meter' }) // b 10.9 % low
    r.send(2 * S, 'energy_meter', v(220, 200, 221), { kind: 'energy_meter' }) // b 9.1 %: inside the 2-point band
    r.send(3 * S, 'energy_meter', v(220, 221, 236), { kind: 'energy_meter' }) // c 7.3 %: clear
    expect(r.changes()).toEqual(['+phase_voltage@1', '-phase_voltage@3'])
    expect(r.points[0]!.fields['value']).toBe(196)
  })
  it('ETC failure rate above 5 % over 10 minutes; slides out of the window', () => {
    const r = rig([{ name: 'etc_failure_rate', type: 'rate', measurement: 'etc_transaction', where: { tag: 'result', notIn: ['ok'] }, windowSec: 600, above: 0.05, minCount: 20 }])
    const pass = (t: number, result: string) => r.send(t, 'etc_transaction', { fee_fen: 500 }, { kind: 'etc', device: 'rsu-1', tags: { lane: 'l1', result } })
    // 100 passages, one failure in every 20: never above 5 %.
    for (let i = 0; i < 100; i++) pass(i * S, i % 20 === 19 ? 'insufficient_balance' : 'ok')
    expect(r.changes()).toEqual([])
    pass(100 * S, 'blacklist') // 6 / 101
    expect(r.changes()).toEqual(['+etc_failure_rate@100'])
    r.tick(650 * S) // passages 51..100 in the window: 4 failures in 50, still above
    expect(r.changes()).toEqual(['+etc_failure_rate@100'])
    r.tick(690 * S) // 10 passages left: too few to call a rate
    expect(r.changes()).toEqual(['+etc_failure_rate@100', '-etc_failure_rate@690'])
  })
  it('vehicle overspeed with duration', () => {
    const r = rig([{ name: 'vehicle_overspeed', measurement: 'position', field: 'speed_kmh', above: 120, forSec: 10, hysteresis: 5, severity: 'critical' }])
    const at = (t: number, v: number) => r.send(t * S, 'position', { speed_kmh: v }, { kind: 'position', device: '013912345678' })
    at(0, 125)
    at(5, 130)
    at(9, 126)
    expect(r.changes()).toEqual([])
    at(10, 124)
    at(20, 118)
    at(30, 114)
    expect(r.changes()).toEqual(['+vehicle_overspeed@10', '-vehicle_overspeed@30'])
  })
  it('device offline after the silence, online again with the next batch; inventory devices never heard from count too', () => {
    let now = 0
    const proc = createAlarmProcessor(
      { rules: [{ name: 'device_offline', type: 'offline', afterSec: 300, kind: 'water_quality' }] },
      {
        now: () => now,
        devices: {
          list: () => [
            { id: 'wq-never', kind: 'water_quality', district: 'd', options: {}, configured: true, online: false, lastSeenMs: null, framesOk: 0, framesRejected: 0 },
            { id: 'em-1', kind: 'energy_meter', district: 'd', options: {}, configured: true, online: false, lastSeenMs: null, framesOk: 0, framesRejected: 0 },
          ],
        },
      },
    )
    const b = { source: 't', device: 'wq-1', kind: 'water_quality' as const, protocol: 'mqtt' as const, district: 'd', points: [] }
    expect(proc.process(b)).toBeUndefined()
    now = 299 * S
    expect(proc.tick!(now)).toBeUndefined()
    now = 301 * S
    const start = proc.tick!(now) ?? []
    expect(start.map((p) => `${p.tags['device']}:${p.fields['active']}`).sort()).toEqual(['wq-1:true', 'wq-never:true'])
    now = 302 * S
    expect(proc.process(b)?.map((p) => `${p.tags['rule']}:${p.fields['active']}`)).toEqual(['device_offline:false'])
  })
})

describe('alarm rules config', () => {
  it('parses the documented example', () => {
    const yaml = `
rules:
  - name: ph_out_of_range
    measurement: water_quality
    field: ph
    outside: [6, 9]
    forSec: 300
    hysteresis: 0.1
  - name: etc_failure_rate
    type: rate
    measurement: etc_transaction
    where: { tag: result, notIn: [ok] }
    above: 0.05
  - name: device_offline
    type: offline
`
    const c = AlarmRulesConfig.parse(parseYaml(yaml))
    expect(c.rules.map((r) => `${r.name}:${r.type}:${r.severity}`)).toEqual(['ph_out_of_range:threshold:warning', 'etc_failure_rate:rate:warning', 'device_offline:offline:warning'])
  })
  it('names the key path of a bad rule', () => {
    const r = AlarmRulesConfig.safeParse({ rules: [{ name: 'x', measurement: 'm', field: 'f', above: 1, below: 2 }, { name: 'x', type: 'offline' }, { name: 'Bad Name', type: 'offline' }] })
    expect(r.success).toBe(false)
    const paths = r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
    expect(paths).toContain('rules.0: give exactly one of above, below, outside, deviation')
    expect(paths.some((p) => p.startsWith('rules.2.name'))).toBe(true)
  })
})

describe('alarm rules: a rate over every device', () => {
  it('writes its alarm on the tick with device "*", not tagged with whichever device tipped it', () => {
    const r = rig([{ name: 'all_lanes', type: 'rate', measurement: 'etc_transaction', where: { tag: 'result', in: ['timeout'] }, groupBy: 'all', above: 0.5, minCount: 2 }])
    r.send(0, 'etc_transaction', { fee_fen: 1 }, { kind: 'etc', device: 'rsu-1', tags: { result: 'timeout' } })
    r.send(S, 'etc_transaction', { fee_fen: 1 }, { kind: 'etc', device: 'rsu-2', tags: { result: 'timeout' } })
    expect(r.points).toEqual([])
    r.tick(2 * S)
    expect(r.points).toMatchObject([{ measurement: 'alarm', tags: { rule: 'all_lanes', device: '*', district: 'xian-gaoxin' }, fields: { active: true, value: 1 }, time: S }])
    expect(r.store.listActive().map((a) => a.id)).toEqual(['all_lanes/*'])
  })
})
