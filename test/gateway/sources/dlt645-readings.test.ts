/**
 * Issue 11: the DL/T 645 master hands the pipeline one energy-meter `telemetry` READING per meter per cycle
 * (validated and normalized by the pipeline alone), not points it built by hand. An in-memory meter answers
 * each read request (the 2007 import-energy reply of devices/energy-meter/README.md's worked example form).
 */
import { Duplex } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { decodeMessage, encodeDataValue, encodeMessage } from '../../../devices/energy-meter/dlt645/index.ts'
import type { IngestBatch } from '../../../gateway/core/types.ts'
import { createDlt645Source, Dlt645SourceConfig } from '../../../gateway/sources/dlt645/index.ts'
import { waitFor } from '../../helpers/net.ts'
import { recordingContext } from './record-context.ts'

function meter(): Duplex {
  const d: Duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      const r = decodeMessage(chunk)
      if (r.ok && r.value.message.kind === 'read_request') {
        const m = r.value.message
        const data = encodeDataValue('2007', m.di, { import_energy_kwh: 12.5, trip_count: 3 })
        if (data) setImmediate(() => d.push(encodeMessage({ kind: 'read_reply', version: '2007', address: m.address, di: m.di, data, more: false })))
      }
      cb()
    },
  })
  return d
}

describe('DL/T 645 master: readings, not points', () => {
  it('one telemetry reading per meter per cycle, with every field of the cycle (trip_count too)', async () => {
    const ctx = recordingContext()
    const raw: IngestBatch[] = []
    const record = ctx.ingest.bind(ctx)
    ctx.ingest = (b) => {
      raw.push(b)
      return record(b)
    }
    const src = createDlt645Source(
      Dlt645SourceConfig.parse({ type: 'dlt645', serial: { path: '/dev/mem-rs485' }, meters: [{ address: '000000000161' }], dis: ['00010000', '1D000001'], pollIntervalMs: 100, responseTimeoutMs: 200 }),
      { open: async () => meter() },
    )
    await src.start(ctx)
    try {
      await waitFor(() => raw.length >= 2, 5_000, 'two cycles')
    } finally {
      await src.stop()
    }
    const b = raw[0]!
    // Readings only: an IngestBatch has no points of its own any more (the pipeline makes them).
    expect('points' in b).toBe(false)
    expect(b).toMatchObject({ source: 'dlt645', device: 'dlt645-000000000161', kind: 'energy_meter', protocol: 'dlt645', frames: 2 })
    // Stamped when the cycle was read (test/gateway/sources/polled-stamp.test.ts).
    expect(b.readings).toEqual([{ kind: 'energy_meter', type: 'telemetry', device: 'dlt645-000000000161', value: { import_energy_kwh: 12.5, trip_count: 3 }, receivedAt: expect.any(Number) }])
    expect(ctx.batches[0]!.points).toMatchObject([{ measurement: 'energy_meter', fields: { import_energy_kwh: 12.5, trip_count: 3 } }])
    expect(ctx.state('dlt645-000000000161')).toBe(true)
    expect(ctx.rejects).toEqual([])
  })
})
