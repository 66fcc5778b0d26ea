import { describe, expect, it } from 'vitest'
import { normalizeJson, normalizeReading, type Refusal } from '../../../devices/common/normalize.ts'
import type { Point } from '../../../devices/common/point.ts'
import { elevator } from '../../../devices/elevator/index.ts'
import { waterQuality } from '../../../devices/water-quality/index.ts'

const ctx = { receivedAt: 1_795_000_000_000 }

describe('normalizeReading: the one step from a reading to points', () => {
  it('validates with the reading type schema, then its toPoints', () => {
    expect(normalizeReading(elevator, 'telemetry', { floor: 3, moving: false }, ctx)).toEqual({
      ok: true,
      points: [{ measurement: 'elevator_status', tags: {}, fields: { floor: 3, moving: false }, time: ctx.receivedAt }],
    })
    expect(normalizeReading(elevator, 'event', { event: 'door_fault', active: true, ts: 1795000000005 }, ctx)).toMatchObject({ ok: true, points: [{ measurement: 'elevator_event_report', tags: { event: 'door_fault' }, time: 1795000000005 }] })
  })
  it('refuses with a catalogued reason and a detail (zodReason)', () => {
    expect(normalizeReading(elevator, 'telemetry', { floor: 2.5 }, ctx)).toMatchObject({ ok: false, reason: 'wrong_type' })
    expect(normalizeReading(elevator, 'telemetry', { floor: 1, colour: 'red' }, ctx)).toMatchObject({ ok: false, reason: 'unknown_field', detail: expect.stringContaining('colour') })
    expect(normalizeReading(waterQuality, 'telemetry', {}, ctx)).toMatchObject({ ok: false, reason: 'empty_reading' })
    expect(normalizeReading(waterQuality, 'event', {}, ctx)).toEqual({ ok: false, reason: 'unknown_reading_type', detail: 'kind water_quality has no event readings' })
  })
  it('uses the device options (GB 3838 water body)', () => {
    const r = normalizeReading(waterQuality, 'telemetry', { total_phosphorus_mg_l: 0.04 }, { ...ctx, options: { waterBody: 'lake' } })
    expect(r.ok && r.points[0]!.fields).toMatchObject({ gb3838_class: 3 })
  })
})

describe('normalizeJson: a JSON payload, item by item', () => {
  const run = (kind: typeof waterQuality, type: string, text: string) => {
    const points: Point[] = []
    const refused: Refusal[] = []
    const accepted = normalizeJson(kind, type, Buffer.from(text), ctx, points, refused)
    return { accepted, points, refused }
  }
  it('the fast path gives the same point as the schema path', () => {
    const fast = run(waterQuality, 'telemetry', '{"ts":1795000000000,"ph":7.12,"water_temp_c":18.3}')
    const slow = normalizeReading(waterQuality, 'telemetry', { ts: 1795000000000, ph: 7.12, water_temp_c: 18.3 }, ctx)
    expect(fast.accepted).toBe(1)
    const { fieldsLine: _f, ...p } = fast.points[0]!
    expect(slow.ok && slow.points).toEqual([p])
  })
  it('refuses a bad item alone and keeps the others; the refused item keeps its own text', () => {
    const r = run(waterQuality, 'telemetry', '[{"ph":7.1},{"ph":"x"},{"ph":7.3}]')
    expect(r.accepted).toBe(2)
    expect(r.points.map((p) => p.fields['ph'])).toEqual([7.1, 7.3])
    expect(r.refused).toEqual([{ index: 1, reason: 'wrong_type', detail: expect.stringContaining('ph'), raw: '{"ph":"x"}' }])
  })
  it('a refused single object or payload has no item text (the payload is the raw)', () => {
    expect(run(waterQuality, 'telemetry', '{"ph":"x"}').refused).toEqual([{ index: 0, reason: 'wrong_type', detail: expect.any(String) }])
    expect(run(waterQuality, 'telemetry', '{"ph":').refused).toMatchObject([{ index: -1, reason: 'malformed_json' }])
    expect(run(waterQuality, 'telemetry', `${'['.repeat(6000)}${']'.repeat(6000)}`).refused).toMatchObject([{ index: -1, reason: 'json_too_deep' }])
    expect(run(waterQuality, 'event', '{}').refused).toMatchObject([{ index: -1, reason: 'unknown_reading_type' }])
  })
})
