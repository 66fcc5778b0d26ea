import { describe, expect, it } from 'vitest'
import { etc } from '../../../devices/etc/index.ts'

describe('etc transaction JSON', () => {
  it('puts lane and result in tags', () => {
    const r = etc.readings.telemetry.schema.parse({ lane: 'G30-K1021-L3', result: 'ok', plate: '陕A12345', fee_fen: 1500, vehicle_class: 1 })
    expect(etc.readings.telemetry.toPoints(r, { receivedAt: 1 })[0]).toMatchObject({ measurement: 'etc_transaction', tags: { lane: 'G30-K1021-L3', result: 'ok' }, fields: { plate: '陕A12345', fee_fen: 1500 } })
  })
  it('refuses a result that is not a reason code, and a fractional fee', () => {
    expect(etc.readings.telemetry.schema.safeParse({ lane: 'L1', result: 'Not OK!' }).success).toBe(false)
    expect(etc.readings.telemetry.schema.safeParse({ lane: 'L1', result: 'ok', fee_fen: 1.5 }).success).toBe(false)
  })
})
