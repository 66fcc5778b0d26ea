/**
 * No input may throw out of a source: random bytes, truncated and corrupted frames pushed through the NMEA
 * source and the DL/T 645 master over an in-memory stream (the serial link's opener is injectable).
 * Everything refused is dead-lettered with a reason.
 */
import { PassThrough } from 'node:stream'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { encodeMessage } from '../../../devices/energy-meter/dlt645/index.ts'
import { withChecksum } from '../../../devices/position/nmea/index.ts'
import { createDlt645Source } from '../../../gateway/sources/dlt645/index.ts'
import { Dlt645SourceConfig } from '../../../gateway/sources/dlt645/config.ts'
import { createNmeaSource } from '../../../gateway/sources/nmea/index.ts'
import { NmeaSourceConfig } from '../../../gateway/sources/nmea/config.ts'
import { recordingContext } from './record-context.ts'

const GOOD_NMEA = Buffer.from(withChecksum('GNGGA,103000.00,3412.34567,N,10856.78901,E,1,12,0.9,410.5,M,-28.0,M,,') + withChecksum('GBGSV,1,1,01,08,60,010,44,1'), 'latin1')
const GOOD_DLT = encodeMessage({ kind: 'read_reply', version: '2007', address: '000000000161', di: 0x00010000, data: Buffer.from([0x26, 0, 0, 0]), more: false }, 4)

function chunks(good: Buffer) {
  const corrupt = fc.tuple(fc.nat(good.length - 1), fc.nat(255), fc.nat(good.length)).map(([i, b, cut]) => {
    const c = Buffer.from(good)
    c[i] = b
    return c.subarray(0, cut)
  })
  return fc.array(fc.oneof(fc.uint8Array({ maxLength: 120 }).map((a) => Buffer.from(a)), corrupt, fc.constant(good)), { minLength: 1, maxLength: 12 })
}

describe('serial sources never throw on bad input', () => {
  it('NMEA source', async () => {
    await fc.assert(
      fc.asyncProperty(chunks(GOOD_NMEA), async (input) => {
        const stream = new PassThrough()
        const src = createNmeaSource(NmeaSourceConfig.parse({ type: 'nmea', device: 'rx', serial: { path: '/mem' }, idleFlushMs: 10 }), { open: async () => stream })
        const ctx = recordingContext()
        await src.start(ctx)
        await new Promise((r) => setImmediate(r))
        for (const c of input) stream.write(c)
        await new Promise((r) => setTimeout(r, 20))
        await src.stop()
        for (const r of ctx.rejects) expect(r.reason).toMatch(/^[a-z_]+$/)
        for (const b of ctx.batches) expect(b.points[0]!.measurement).toBe('position')
      }),
      { numRuns: 60 },
    )
  })

  it('DL/T 645 master', async () => {
    await fc.assert(
      fc.asyncProperty(chunks(GOOD_DLT), async (input) => {
        const stream = new PassThrough()
        const src = createDlt645Source(
          Dlt645SourceConfig.parse({ type: 'dlt645', serial: { path: '/mem' }, meters: [{ address: '000000000161' }], dis: ['00010000'], pollIntervalMs: 100, responseTimeoutMs: 20 }),
          { open: async () => stream },
        )
        const ctx = recordingContext()
        await src.start(ctx)
        await new Promise((r) => setImmediate(r))
        for (const c of input) stream.write(c)
        await new Promise((r) => setTimeout(r, 30))
        await src.stop()
        for (const r of ctx.rejects) expect(r.reason).toMatch(/^[a-z_+]+$/)
      }),
      { numRuns: 40 },
    )
  })
})
