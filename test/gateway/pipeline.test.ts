import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { isReason } from '../../devices/common/reasons.ts'
import { createDeadLetterLog } from '../../gateway/core/deadletter.ts'
import { createDeviceRegistry } from '../../gateway/core/devices.ts'
import { createMetrics } from '../../gateway/core/metrics.ts'
import { createPipeline } from '../../gateway/core/pipeline.ts'
import { createSpool, splitLines } from '../../gateway/core/spool.ts'
import type { ProcessedBatch } from '../../gateway/core/types.ts'
import { tempDir } from '../helpers/env.ts'

/** A pipeline on a real spool, dead-letter log and registry, in a temporary directory. */
function rig() {
  const tmp = tempDir('pipeline-')
  const log = pino({ level: 'silent' })
  const metrics = createMetrics()
  const now = () => 1_795_000_000_000
  const spool = createSpool({ dir: join(tmp.dir, 'spool'), maxBytes: 1 << 26, segmentBytes: 1 << 20, fsync: false, sinks: ['s'], log })
  const deadLetter = createDeadLetterLog({ dir: join(tmp.dir, 'deadletter'), maxBytes: 1 << 24, log })
  spool.open()
  deadLetter.open()
  const devices = createDeviceRegistry({ inventory: [{ id: 'lift-1', kind: 'elevator', options: {} }], defaultDistrict: 'd1', offlineAfterSec: 300, statusIntervalSec: 60, metrics, now })
  const seen: ProcessedBatch[] = []
  const pipeline = createPipeline({ spool, deadLetter, devices, metrics, processors: [{ id: 'rec', process: (b) => void seen.push(b) }], log, now })
  const lines = () => {
    const b = spool.read('s', 1000)
    return b ? splitLines(b.body).filter((l) => !l.startsWith('device_status')) : []
  }
  const dead = () =>
    readFileSync(join(tmp.dir, 'deadletter', 'deadletter.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
  return { tmp, spool, deadLetter, pipeline, lines, dead, seen, metrics, devices }
}

describe('pipeline: readings in, points or dead letters out', () => {
  let r: ReturnType<typeof rig> | undefined
  afterEach(() => {
    r?.spool.close()
    r?.deadLetter.close()
    r?.tmp.cleanup()
    r = undefined
  })

  it('validates and normalizes value readings, stages the good ones and dead-letters each refused one', async () => {
    r = rig()
    const res = await r.pipeline.ingest({
      source: 'test',
      device: 'lift-1',
      kind: 'elevator',
      protocol: 'mqtt',
      address: 'here',
      readings: [
        { kind: 'elevator', type: 'telemetry', device: 'lift-1', value: { floor: 3, moving: true } },
        { kind: 'elevator', type: 'telemetry', device: 'lift-1', value: { floor: 2.5 } },
        { kind: 'elevator', type: 'event', device: 'lift-1', value: { event: 'door_fault', active: true, ts: 1_795_000_000_001 } },
        { kind: 'elevator', type: 'satellites', device: 'lift-1', value: {} },
      ],
    })
    expect(res).toEqual({ accepted: 2, refused: 2 })
    const stored = r.lines()
    expect(stored).toHaveLength(2)
    expect(stored[0]).toMatch(/^elevator_status,device=lift-1,district=d1,kind=elevator,protocol=mqtt floor=3i,moving=true 1795000000000$/)
    expect(stored[1]).toMatch(/^elevator_event_report,.*event=door_fault active=true 1795000000001$/)
    // The refusals of one batch are one dead letter (issue 13): the count by reason, the first items with
    // their own text (value readings have no payload to point into), one counter increment per reason.
    const dead = r.dead()
    expect(dead).toHaveLength(1)
    expect(dead[0]).toMatchObject({ source: 'test', address: 'here', device: 'lift-1', reason: 'wrong_type', count: 2, reasons: { wrong_type: 1, unknown_reading_type: 1 }, detail: '2 readings refused: wrong_type x1, unknown_reading_type x1' })
    const items = dead[0]!['items'] as Record<string, unknown>[]
    expect(items).toMatchObject([{ index: 1, reason: 'wrong_type', raw: '{"floor":2.5}', detail: expect.stringMatching(/^floor/) }, { index: 3, reason: 'unknown_reading_type', raw: '{}' }])
    for (const i of items) expect(isReason(i['reason'])).toBe(true)
    expect(dead[0]).not.toHaveProperty('raw')
    const rejected = (await r.metrics.registry.getSingleMetric('smartcity_readings_rejected_total')?.get())?.values.map((v) => [v.labels['reason'], v.value])
    expect(rejected).toEqual([['wrong_type', 1], ['unknown_reading_type', 1]])
    // Processors see the normalized points, with the inventory's district.
    expect(r.seen).toHaveLength(1)
    expect(r.seen[0]!.points.map((p) => p.measurement)).toEqual(['elevator_status', 'elevator_event_report'])
    expect(r.seen[0]!.district).toBe('d1')
    expect(r.devices.list().find((d) => d.id === 'lift-1')).toMatchObject({ framesOk: 2, framesRejected: 2, online: true })
  })

  it('a JSON reading: fast path, item by item, and whole-payload refusals keep the payload as raw', async () => {
    r = rig()
    const json = (text: string, type = 'telemetry') => r!.pipeline.ingest({ source: 'mqtt', device: 'wq-1', kind: 'water_quality', protocol: 'mqtt', address: 'city/d1/water_quality/wq-1/telemetry', readings: [{ kind: 'water_quality', type, device: 'wq-1', json: Buffer.from(text) }] })
    expect(await json('{"ph":7.12}')).toEqual({ accepted: 1, refused: 0 })
    expect(await json('[{"ph":7.2},{"ph":"x"},{"ph":7.3}]')).toEqual({ accepted: 2, refused: 1 })
    expect(await json('[{"ph":"y"},{"ph":7.4},{"ph":99}]')).toEqual({ accepted: 1, refused: 2 })
    expect(await json('{"ph":')).toEqual({ accepted: 0, refused: 1 })
    expect(await json(`${'['.repeat(6000)}${']'.repeat(6000)}`)).toEqual({ accepted: 0, refused: 1 })
    expect(await json('{"ph":"x"}')).toEqual({ accepted: 0, refused: 1 })
    expect(r.lines().map((l) => l.split(' ')[1])).toEqual(['ph=7.12', 'ph=7.2', 'ph=7.3', 'ph=7.4'])
    const dead = r.dead()
    expect(dead.map((d) => d['reason'])).toEqual(['wrong_type', 'wrong_type', 'malformed_json', 'json_too_deep', 'wrong_type'])
    expect(dead[0]).toMatchObject({ raw: '{"ph":"x"}', detail: expect.stringMatching(/^\[1\] /) })
    // Two refused items of one array: one record, the payload once, the items by index without their text.
    expect(dead[1]).toMatchObject({ raw: '[{"ph":"y"},{"ph":7.4},{"ph":99}]', count: 2, reasons: { wrong_type: 1, out_of_range: 1 }, items: [{ index: 0, reason: 'wrong_type' }, { index: 2, reason: 'out_of_range' }] })
    expect((dead[1]!['items'] as object[])[0]).not.toHaveProperty('raw')
    expect(dead[2]).toMatchObject({ raw: '{"ph":', address: 'city/d1/water_quality/wq-1/telemetry' })
    expect(String(dead[3]!['raw'])).toHaveLength(12_000)
    expect(dead[4]).toMatchObject({ raw: '{"ph":"x"}', detail: expect.not.stringMatching(/^\[/) })
    // Received counts every reading, accepted or refused: 1 + 3 + 3 + 1 + 1 + 1.
    const received = (await r.metrics.registry.getSingleMetric('smartcity_readings_received_total')?.get())?.values.find((v) => v.labels['source'] === 'mqtt')?.value
    expect(received).toBe(10)
  })

  it('the refusal path cannot throw: a failing counter still dead-letters, a failed dead letter rejects the ingest (issue 13)', async () => {
    r = rig()
    r.devices.rejected = () => {
      throw new Error('registry broke')
    }
    const json = (text: string) => r!.pipeline.ingest({ source: 'mqtt', device: 'wq-1', kind: 'water_quality', protocol: 'mqtt', address: 't', readings: [{ kind: 'water_quality', type: 'telemetry', device: 'wq-1', json: Buffer.from(text) }] })
    await expect(json('{"ph":"x"}')).resolves.toEqual({ accepted: 0, refused: 1 })
    await expect(json('[{"ph":"x"},{"ph":99}]')).resolves.toEqual({ accepted: 0, refused: 2 })
    await expect(r.pipeline.reject({ source: 'tcp', address: 'a', raw: Buffer.from([1, 2]), reason: 'garbage', device: 'wq-1' })).resolves.toBeUndefined()
    expect(r.dead().map((d) => d['reason'])).toEqual(['wrong_type', 'wrong_type', 'garbage'])
    // Not on disk: the promise rejects (a QoS 1 message is then not acknowledged), nothing throws.
    r.deadLetter.close()
    let p: Promise<unknown> | undefined
    expect(() => {
      p = json('{"ph":"x"}')
    }).not.toThrow()
    await expect(p).rejects.toThrow(/not open/)
  })

  it('refuses readings of a device the inventory has as another kind, as one kind_mismatch', async () => {
    r = rig()
    const res = await r.pipeline.ingest({ source: 't', device: 'lift-1', kind: 'water_quality', protocol: 'mqtt', readings: [{ kind: 'water_quality', type: 'telemetry', device: 'lift-1', value: { ph: 7 } }] })
    expect(res).toEqual({ accepted: 0, refused: 1 })
    expect(r.lines()).toEqual([])
    // A JSON reading keeps its payload as received (not the JSON of a Buffer object).
    const json = '{"ph":7.2}'
    expect(await r.pipeline.ingest({ source: 't', device: 'lift-1', kind: 'water_quality', protocol: 'mqtt', readings: [{ kind: 'water_quality', type: 'telemetry', device: 'lift-1', json: Buffer.from(json) }] })).toEqual({ accepted: 0, refused: 1 })
    await new Promise((ok) => setTimeout(ok, 50))
    expect(r.dead().map((d) => d['reason'])).toEqual(['kind_mismatch', 'kind_mismatch'])
    expect(r.dead()[0]).toMatchObject({ raw: '[{"kind":"water_quality","type":"telemetry","device":"lift-1","value":{"ph":7}}]' })
    expect(r.dead()[1]).toMatchObject({ raw: json })
  })
})
