import { describe, expect, it } from 'vitest'
import { sharedFilter } from '../../gateway/broker/index.ts'
import { parseConfig } from '../../gateway/config.ts'

describe('broker.sharedGroup (MQTT 5 shared subscriptions)', () => {
  it('subscribes $share/<group>/<filter> (MQTT 5.0 section 4.8.2), the plain filter without a group', () => {
    expect(sharedFilter('city/+/+/+/telemetry', 'city')).toBe('$share/city/city/+/+/+/telemetry')
    expect(sharedFilter('city/#', undefined)).toBe('city/#')
  })

  it('is refused with MQTT 3.1.1 and with a group name holding / + or #', () => {
    const bad = parseConfig({ broker: { type: 'external', url: 'mqtt://127.0.0.1:1883', sharedGroup: 'city', protocolVersion: 4 } })
    expect(bad.ok).toBe(false)
    if (!bad.ok) expect(bad.problems.join('\n')).toMatch(/broker\.protocolVersion.*MQTT 5/)
    const slash = parseConfig({ broker: { type: 'external', url: 'mqtt://127.0.0.1:1883', sharedGroup: 'a/b' } })
    expect(slash.ok).toBe(false)
    if (!slash.ok) expect(slash.problems.join('\n')).toMatch(/broker\.sharedGroup/)
    const ok = parseConfig({ broker: { type: 'external', url: 'mqtt://127.0.0.1:1883', clientId: 'gw-a', sharedGroup: 'city', sessionExpirySec: 600 } })
    expect(ok.ok).toBe(true)
  })
})
