import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { afterAll, describe, expect, it } from 'vitest'
import { runDecode } from '../../cli/decode.ts'
import { tempDir } from '../helpers/env.ts'

const tmp = tempDir()
afterAll(() => tmp.cleanup())

async function decode(lines: string[]): Promise<{ code: number; out: Record<string, unknown>[] }> {
  const file = join(tmp.dir, `mqtt-${Math.random()}.txt`)
  writeFileSync(file, lines.join('\n'))
  let text = ''
  const sink = new Writable({
    write(chunk, _enc, cb) {
      text += chunk.toString()
      cb()
    },
  })
  const code = await runDecode('mqtt', file, sink)
  return { code, out: text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) }
}

describe('smartcity decode mqtt: the gateway path, item by item', () => {
  it('an array with one bad item is ok with the good points and the refusal (the gateway answer), exit 1', async () => {
    const r = await decode(['city/d1/water_quality/wq-1/telemetry [{"ts":1795000000000,"ph":7.1},{"ph":"x"},{"ts":1795000000001,"ph":7.3}]'])
    expect(r.out).toHaveLength(1)
    expect(r.out[0]).toMatchObject({ ok: true, points: [{ fields: { ph: 7.1 }, time: 1795000000000 }, { fields: { ph: 7.3 }, time: 1795000000001 }] })
    expect(r.out[0]!['refused']).toEqual([{ index: 1, reason: 'wrong_type', detail: expect.stringContaining('ph') }])
    expect(r.code).toBe(1)
  })
  it('a good message exits 0 and prints points as the gateway stores them (fast path, no fieldsLine)', async () => {
    const r = await decode(['city/d1/water_quality/wq-1/telemetry {"ts":1795000000000,"ph":7.12}', 'city/d1/elevator/lift-1/event {"ts":1795000000000,"event":"door_fault","active":true}', 'city/d1/elevator/lift-1/status online'])
    expect(r.code).toBe(0)
    expect(r.out[0]).toEqual({
      ok: true,
      frame: { topic: 'city/d1/water_quality/wq-1/telemetry', district: 'd1', kind: 'water_quality', device: 'wq-1', channel: 'telemetry', payload: { ts: 1795000000000, ph: 7.12 } },
      points: [{ measurement: 'water_quality', tags: { device: 'wq-1', kind: 'water_quality', district: 'd1', protocol: 'mqtt' }, fields: { ph: 7.12 }, time: 1795000000000 }],
    })
    expect(r.out[1]).toMatchObject({ ok: true, points: [{ measurement: 'elevator_event_report', tags: { event: 'door_fault' } }] })
    expect(r.out[2]).toMatchObject({ ok: true, points: [] })
  })
  it('a refused payload is an error line with its catalogued reason, the deep one included', async () => {
    const r = await decode(['city/d1/water_quality/wq-1/telemetry {"ph":', `city/d1/water_quality/wq-1/telemetry ${'['.repeat(6000)}${']'.repeat(6000)}`, 'city/d1/water_quality/wq-1/event {}', 'city/d1/water_quality/wq-1/telemetry []'])
    expect(r.out.map((o) => String(o['error']).split(':')[0])).toEqual(['malformed_json', 'json_too_deep', 'bad_topic', 'empty_reading'])
    expect(r.code).toBe(1)
  })
})
