import { describe, expect, it } from 'vitest'
import { position } from '../../../devices/position/index.ts'

describe('position JSON readings', () => {
  it('puts the system in a tag, GNSS when not given', () => {
    const r = position.readings.telemetry.schema.parse({ ts: 1795000000000, lat: 34.23, lon: 108.87, fix_quality: 1 })
    expect(position.readings.telemetry.toPoints(r, { receivedAt: 0 })[0]).toMatchObject({ measurement: 'position', tags: { system: 'GNSS' }, fields: { lat: 34.23, lon: 108.87, fix_quality: 1 } })
  })
  it('refuses a lone latitude and a latitude beyond the pole', () => {
    expect(position.readings.telemetry.schema.safeParse({ lat: 34.2 }).success).toBe(false)
    expect(position.readings.telemetry.schema.safeParse({ lat: 91, lon: 0 }).success).toBe(false)
  })
})
