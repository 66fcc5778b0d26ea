/**
 * No input may throw out of the ETC source: random bytes, truncated and corrupted frames pushed through it
 * over an in-memory stream. Everything refused is dead-lettered with a reason code.
 */
import { Duplex } from 'node:stream'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { encodeRsu } from '../../../devices/etc/rsu/index.ts'
import { createEtcRsuSource } from '../../../gateway/sources/etc-rsu/index.ts'
import { recordingContext } from './record-context.ts'

const GOOD = [
  encodeRsu({ rsctl: 0x18, type: 'B2', fields: { obuId: 'A1B2C3D4', errorCode: 0, contractProvider: '00'.repeat(8), contractType: 1, contractVersion: 1, applicationSerial: '00'.repeat(8), signedDate: '20240101', expiredDate: '20991231', equipmentStatus: 0, obuStatus: 0x2000 } }),
  encodeRsu({ rsctl: 0x28, type: 'B3', fields: { obuId: 'A1B2C3D4', errorCode: 0, plate: '陕A12345', plateColor: 0, vehicleClass: 1, userType: 0 } }),
  encodeRsu({ rsctl: 0x38, type: 'B4', fields: { obuId: 'A1B2C3D4', errorCode: 0, cardType: 0x16, balanceFen: 5000, issuerFile: '00'.repeat(43), lastStationFile: '00'.repeat(43) } }),
  encodeRsu({ rsctl: 0x08, type: 'B2', fields: { obuId: '00000000', errorCode: 0x80 } }),
]

const input = fc.array(
  fc.oneof(
    fc.uint8Array({ maxLength: 120 }).map((a) => Buffer.from(a)),
    fc.tuple(fc.constantFrom(...GOOD), fc.nat(200), fc.nat(255), fc.nat(200)).map(([g, i, b, cut]) => {
      const c = Buffer.from(g)
      c[i % c.length] = b
      return c.subarray(0, cut % (c.length + 1))
    }),
    fc.constantFrom(...GOOD),
  ),
  { minLength: 1, maxLength: 12 },
)

describe('ETC source never throws on bad input', () => {
  it('random, truncated and corrupted frames over an in-memory serial line', async () => {
    await fc.assert(
      fc.asyncProperty(input, async (chunks) => {
        // The RSU's side of the line: what the test pushes is read by the source; what it writes is dropped.
        const stream = new Duplex({ read() {}, write: (_c, _e, cb) => cb() })
        const src = createEtcRsuSource({ type: 'etc-rsu', device: 'rsu-f', mode: 'serial', serial: { path: 'mem' }, transactionTimeoutMs: 50 }, { open: async () => stream })
        const ctx = recordingContext()
        await src.start(ctx)
        await new Promise((r) => setImmediate(r))
        for (const c of chunks) stream.push(c)
        await new Promise((r) => setTimeout(r, 80))
        await src.stop()
        for (const r of ctx.rejects) expect(r.reason).toMatch(/^[a-z_]+$/)
        for (const b of ctx.batches) for (const p of b.points) expect(['etc_transaction', 'etc_rsu_status']).toContain(p.measurement)
        // Whatever the lane makes of any input, the kind's reading schemas take it (issue 11: readings, not points).
        for (const b of ctx.batches) expect(b.refused).toEqual([])
      }),
      { numRuns: 60 },
    )
  })
})
