/**
 * The point-by-point check of `smartcity simulate` against a real InfluxDB: a point stored as sent holds,
 * a missing one and one with another value are named; two readings of one second (one point in InfluxDB)
 * hold when the stored one is either of them.
 */
import { describe, expect, it } from 'vitest'
import { compare, countPoints, createCycleCounter, createTruth, type ExpectedPoint, fromDlt645Reply, fromEtcPassage, fromNmeaEpoch } from '../../cli/simulate/truth.ts'
import { lossWindows } from '../../cli/simulate/expect.ts'
import { have } from '../helpers/env.ts'
import { useInflux } from '../helpers/influx.ts'

describe.skipIf(!have('influxd'))('simulate ground truth against InfluxDB', () => {
  const influx = useInflux()

  it('names missing points and points with other values; accepts any reading of a shared second', { timeout: 30_000 }, async () => {
    const db = 'truth'
    await fetch(`${influx.url}/query`, { method: 'POST', body: new URLSearchParams({ q: `CREATE DATABASE ${db}` }) })
    const t = Date.UTC(2026, 11, 1, 10, 0, 0)
    const lines = [
      `water_quality,device=wq-1 ph=7.41,cod_mg_l=14.2 ${t}`,
      `water_quality,device=wq-2 ph=7.5 ${t}`,
      `position,device=139,system=BDS lat=34.2,speed_kmh=31.5 ${t + 1000}`,
    ]
    const w = await fetch(`${influx.url}/write?db=${db}&precision=ms`, { method: 'POST', body: lines.join('\n') })
    expect(w.status).toBe(204)
    const truth = createTruth()
    const p = (device: string, time: number, fields: ExpectedPoint['fields'], measurement = 'water_quality', tags: Record<string, string> = {}): ExpectedPoint => ({ measurement, device, tags, time, fields })
    truth.add(p('wq-1', t, { ph: 7.41, cod_mg_l: 14.2 }))
    truth.add(p('wq-2', t, { ph: 7.4 }))
    truth.add(p('wq-3', t, { ph: 7.0 }))
    // Two locations in one second: InfluxDB keeps one; the first one sent is the one stored here.
    truth.add(p('139', t + 1000, { lat: 34.2, speed_kmh: 31.5 }, 'position', { system: 'BDS' }))
    truth.add(p('139', t + 1000, { lat: 34.3, speed_kmh: 12 }, 'position', { system: 'BDS' }))
    const target = { url: influx.url, database: db }
    const r = await compare(target, truth.points(), t - 1000, truth.candidates)
    expect(r.checked).toBe(4)
    expect(r.differences.map((d) => `${d.point.device}: ${d.what}`).sort()).toEqual(['wq-2: ph sent 7.4 stored 7.5', 'wq-3: missing'])
    // Without the candidates the shared second would be a difference: the check is not blind.
    const strict = await compare(target, truth.points(), t - 1000)
    expect(strict.differences.map((d) => d.point.device)).toContain('139')
    expect(await countPoints(target, 'water_quality', 'wq-1', t - 1000)).toBe(1)
    expect(await countPoints(target, 'water_quality', undefined, t - 1000)).toBe(2)
  })
})

describe.skipIf(!have('influxd'))('simulate ground truth of unacknowledged answers (DL/T 645 cycles, NMEA fixes) against InfluxDB', () => {
  const influx = useInflux()

  it('an ETC passage matches the stored point with its OBU, even stamped later than its window on a busy machine', { timeout: 30_000 }, async () => {
    const db = 'truth_etc'
    await fetch(`${influx.url}/query`, { method: 'POST', body: new URLSearchParams({ q: `CREATE DATABASE ${db}` }) })
    const t = Date.UTC(2026, 11, 1, 11, 0, 0)
    // Passage A started at t, stamped 2.5 s later (past its 2 s window); passage B started at t + 1 s, stamped at t + 1.8 s.
    const lines = [`etc_transaction,device=lane-1,result=success obu_id="OBU-A" ${t + 2500}`, `etc_transaction,device=lane-1,result=success obu_id="OBU-B" ${t + 1800}`]
    expect((await fetch(`${influx.url}/write?db=${db}&precision=ms`, { method: 'POST', body: lines.join('\n') })).status).toBe(204)
    const target = { url: influx.url, database: db }
    const a = fromEtcPassage('lane-1', { vehicle: { obuId: 'OBU-A' }, result: 'success', startedAt: t }, 2000)
    const b = fromEtcPassage('lane-1', { vehicle: { obuId: 'OBU-B' }, result: 'success', startedAt: t + 1000 }, 2000)
    const ok = await compare(target, [a, b], t - 1000)
    expect(ok.differences).toEqual([])
    // A third passage whose OBU was never stored is named, with the nearest point's OBU.
    const c = fromEtcPassage('lane-1', { vehicle: { obuId: 'OBU-C' }, result: 'success', startedAt: t + 1200 }, 2000)
    const r = await compare(target, [a, b, c], t - 1000)
    expect(r.differences.map((d) => d.point.fields['obu_id'])).toEqual(['OBU-C'])
    expect(r.differences[0]!.what).toMatch(/obu_id sent "OBU-C" stored "OBU-B"/)
  })

  it('matches each poll cycle with the point the gateway stamped for it, in order, one point per cycle; a refused answer or one lost to a fault is accounted, any other is missing', { timeout: 30_000 }, async () => {
    const db = 'answers'
    await fetch(`${influx.url}/query`, { method: 'POST', body: new URLSearchParams({ q: `CREATE DATABASE ${db}` }) })
    const t = Date.UTC(2026, 11, 1, 10, 0, 0)
    const lines = [
      // cycle 1: stamped 3 s after its answers (a busy machine; the old 1.5 s nearest-time window missed this)
      `energy_meter,device=dl-1 import_energy_kwh=100,active_power_kw=1.5 ${t + 3000}`,
      // cycle 2: the power reply came late and was refused (unexpected_reply): the point has the energy only
      `energy_meter,device=dl-1 import_energy_kwh=100.01 ${t + 4900}`,
      // cycle 3: none (the gateway was killed)
      // cycle 4: another power than the meter said
      `energy_meter,device=dl-1 import_energy_kwh=100.03,active_power_kw=1.8 ${t + 12050}`,
      // cycle 5: none, nothing explains it
      // cycles 6 and 7 said the same; one point: the latest cycle's (begun before the stamp), cycle 6 is missing
      `energy_meter,device=dl-1 import_energy_kwh=100.05,active_power_kw=2 ${t + 21000}`,
      // cycle 8: stamped 100 ms before the simulator noted its answer (it notes after writing; a busy machine)
      `energy_meter,device=dl-1 import_energy_kwh=100.06 ${t + 29900}`,
      // NMEA: the fix at t; one at t+2000 is not stored, a point 1 ms later is no match
      `position,device=gnss-1,system=BDS lat=34.2337,lon=108.8842 ${t}`,
      `position,device=gnss-1,system=BDS lat=34.3,lon=108.9 ${t + 2001}`,
    ]
    expect((await fetch(`${influx.url}/write?db=${db}&precision=ms`, { method: 'POST', body: lines.join('\n') })).status).toBe(204)
    const truth = createTruth()
    const hex = (n: number) => `fefefefe68${n.toString(16).padStart(12, '0')}6891`
    let seq = 0
    const answer = (cycle: number, sent: number, fields: Record<string, number>) => truth.add(fromDlt645Reply('dl-1', fields, t + sent, cycle, hex(++seq)))
    answer(1, 0, { import_energy_kwh: 100 })
    answer(1, 20, { active_power_kw: 1.5 })
    answer(2, 4000, { import_energy_kwh: 100.01 })
    answer(2, 4020, { active_power_kw: 1.6 }) // seq 4: refused below
    answer(3, 8000, { import_energy_kwh: 100.02 })
    answer(4, 12000, { import_energy_kwh: 100.03 })
    answer(4, 12020, { active_power_kw: 1.7 })
    answer(5, 16000, { import_energy_kwh: 100.04 })
    answer(6, 20000, { import_energy_kwh: 100.05, active_power_kw: 2 })
    answer(7, 20500, { import_energy_kwh: 100.05, active_power_kw: 2 })
    answer(8, 30000, { import_energy_kwh: 100.06 })
    truth.add(fromNmeaEpoch('gnss-1', { time: t, fix: true, lat: 34.2337, lon: 108.8842 }, t + 5, ['$GNRMC,100000.00,A*00'])!)
    truth.add(fromNmeaEpoch('gnss-1', { time: t + 1000, fix: true, lat: 34.2338, lon: 108.8843 }, t + 1005, ['$GNRMC,100001.00,A*01'])!)
    truth.add(fromNmeaEpoch('gnss-1', { time: t + 2000, fix: true, lat: 34.3, lon: 108.9 }, t + 2005, ['$GNRMC,100002.00,A*02'])!)
    const target = { url: influx.url, database: db }
    const opts = {
      // the gateway's dead letters: the framer's frame (without the FE preamble) and a sentence as text
      refused: [
        { reason: 'unexpected_reply', raw_hex: hex(4).slice(8) },
        { reason: 'crc_mismatch', raw: '$GNRMC,100001.00,A*01' },
      ],
      windows: [{ start: t + 7000, end: t + 9000, label: 'faults[3] gateway_kill at 7 s' }],
    }
    const r = await compare(target, truth.points(), t - 1000, truth.candidates, opts)
    expect(r.checked).toBe(14)
    expect(r.differences.map((d) => `${d.point.device} ${d.point.time - t}: ${d.what}`).sort()).toEqual([
      'dl-1 12020: active_power_kw sent 1.7 stored 1.8 (the point of its poll cycle, stamped 30 ms after the answer)',
      'dl-1 16000: missing (no energy_meter point of dl-1 for this poll cycle, and no dead letter or fault explains it)',
      'dl-1 20000: missing (no energy_meter point of dl-1 for this poll cycle, and no dead letter or fault explains it)',
      "gnss-1 2000: missing (no position point of gnss-1 at the fix's time)",
    ])
    expect(r.accounted).toEqual({ refused: { unexpected_reply: 1, crc_mismatch: 1 }, lost: { 'faults[3] gateway_kill at 7 s': 1 } })
    // Without the dead letters and the fault's window those answers are missing too: the accounting is not blind.
    const bare = await compare(target, truth.points(), t - 1000, truth.candidates)
    expect(bare.differences.map((d) => d.point.time - t).sort((a, b) => a - b)).toEqual([1000, 2000, 4020, 8000, 12020, 16000, 20000])
  })

  it('a Modbus read answered twice in a row (a retry after a time-out): the answer the gateway did not keep is accounted; a read answered again a poll later is not', { timeout: 30_000 }, async () => {
    const db = 'retries'
    await fetch(`${influx.url}/query`, { method: 'POST', body: new URLSearchParams({ q: `CREATE DATABASE ${db}` }) })
    const t = Date.UTC(2026, 11, 1, 11, 0, 0)
    expect((await fetch(`${influx.url}/write?db=${db}&precision=ms`, { method: 'POST', body: [`water_quality,device=rtu-1 ph=7.02 ${t + 320}`, `water_quality,device=rtu-1 ph=7.05 ${t + 5020}`].join('\n') })).status).toBe(204)
    const truth = createTruth()
    const a = (cycle: number, sent: number, ph: number): ExpectedPoint => ({ measurement: 'water_quality', device: 'rtu-1', tags: {}, time: t + sent, fields: { ph }, answer: { sent: t + sent, cycle, raw: [], request: '3:0:34' } })
    truth.add(a(1, 0, 7.01)) // answered late: the gateway had timed out and asked again
    truth.add(a(2, 310, 7.02))
    truth.add(a(3, 3000, 7.03)) // a poll later, never stored: missing
    truth.add(a(4, 5000, 7.05))
    const r = await compare({ url: influx.url, database: db }, truth.points(), t - 1000, truth.candidates)
    expect(r.differences.map((d) => `${d.point.time - t}: ${d.what}`)).toEqual(['3000: missing (no water_quality point of rtu-1 for this poll cycle, and no dead letter or fault explains it)'])
    expect(r.accounted.lost).toEqual({ 'a read asked again right after (a retry: the gateway kept the other answer)': 1 })
  })
})

describe('loss windows of a simulated run', () => {
  it('a gateway kill from 3 s before it to 3 s after the gateway is back, and the second before the simulators stop', () => {
    const occ = [
      { index: 3, type: 'gateway_kill' as const, start: 19_000, end: 24_000 },
      { index: 4, type: 'influxdb_stop' as const, start: 25_000, end: 29_000 },
      { index: 5, type: 'gateway_kill' as const, start: 40_000, end: 41_000, failed: true },
    ]
    expect(lossWindows(occ, 0, 44_000)).toEqual([
      { start: 16_000, end: 27_000, label: 'faults[3] gateway_kill at 19 s' },
      { start: 43_000, end: Number.POSITIVE_INFINITY, label: 'the end of the run at 44 s (simulators stopped, ports closed)' },
    ])
  })
})

describe('poll cycles of the simulators answers', () => {
  it('a device begins a new cycle when it answers a request again; another device answering in between late (a slow one) does not end it', () => {
    const cycleOf = createCycleCounter()
    const seq: [string, string][] = [
      ['m1', 'DI1'],
      ['m1', 'DI2'],
      ['m2', 'DI1'], // meter-ci-2's late reply, in the middle of meter-ci-1's cycle
      ['m1', 'DI3'],
      ['m2', 'DI2'],
      ['m1', 'DI1'],
      ['m1', 'DI2'],
      ['m2', 'DI1'],
    ]
    expect(seq.map(([d, r]) => `${d}:${cycleOf(d, r)}`)).toEqual(['m1:1', 'm1:1', 'm2:1', 'm1:1', 'm2:1', 'm1:2', 'm1:2', 'm2:2'])
  })

  it('on a bus polled meter by meter, a meter whose first request got no counted answer still begins a new cycle after the other meter', () => {
    const bus = createCycleCounter({ bus: true })
    const seq: [string, string, boolean][] = [
      ['m1', 'DI1', false],
      ['m1', 'DI2', false],
      ['m2', 'DI1', false],
      ['m2', 'DI2', false],
      ['m1', 'DI1', false],
      ['m2', 'DI9', true], // a slow reply of m2 inside m1's cycle: not the bus moving on
      ['m1', 'DI2', false],
      ['m2', 'DI2', false], // m2's DI1 reply was broken (not counted): still m2's next cycle
      ['m1', 'DI1', false],
      ['m2', 'DI1', false], // and the one after
    ]
    expect(seq.map(([d, r, late]) => `${d}:${bus(d, r, late)}`)).toEqual(['m1:1', 'm1:1', 'm2:1', 'm2:1', 'm1:2', 'm2:1', 'm1:2', 'm2:2', 'm1:3', 'm2:3'])
    // Without the bus rule m2's DI2 and the next DI1 would be one cycle of two of the master's.
    const plain = createCycleCounter()
    expect(seq.map(([d, r, late]) => `${d}:${plain(d, r, late)}`).slice(7)).toEqual(['m2:2', 'm1:3', 'm2:2'])
  })
})
