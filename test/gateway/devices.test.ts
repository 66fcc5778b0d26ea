import { describe, expect, it } from 'vitest'
import { createDeviceRegistry } from '../../gateway/core/devices.ts'
import { createMetrics } from '../../gateway/core/metrics.ts'

function registry(n: number, statusIntervalSec: number, offlineAfterSec = 300) {
  let t = 1_000_000
  const reg = createDeviceRegistry({
    inventory: Array.from({ length: n }, (_, i) => ({ id: `d${i}`, kind: 'water_quality' as const, options: {} })),
    defaultDistrict: 'd1',
    offlineAfterSec,
    statusIntervalSec,
    metrics: createMetrics(),
    now: () => t,
  })
  return { reg, advance: (ms: number) => (t += ms), now: () => t }
}

describe('device registry', () => {
  it('spreads the periodic device_status over the interval: every device once per interval, a share each second', () => {
    const { reg, advance, now } = registry(1000, 10)
    const seen = new Map<string, number>()
    for (let s = 0; s < 10; s++) {
      const pts = reg.tick(now())
      expect(pts.length).toBe(100)
      for (const p of pts) seen.set(p.tags['device']!, (seen.get(p.tags['device']!) ?? 0) + 1)
      advance(1000)
    }
    expect(seen.size).toBe(1000)
    expect([...seen.values()].every((n) => n === 1)).toBe(true)
  })

  it('marks a silent device offline after its offline time and writes the change', () => {
    const { reg, advance, now } = registry(1, 3600, 5)
    const e = reg.resolve('d0', 'water_quality', 'mqtt', undefined, undefined)
    reg.seen(e, now(), 1)
    expect(reg.get('d0')).toBeDefined()
    expect(reg.list()[0]).toMatchObject({ online: true, framesOk: 1 })
    reg.tick(now())
    advance(6000)
    const pts = reg.tick(now())
    expect(reg.list()[0]).toMatchObject({ online: false, offlineReason: 'silent' })
    expect(pts.some((p) => p.measurement === 'device_status' && p.fields['online'] === false)).toBe(true)
  })

  it('deduplicates setOnline: the state a device already has writes no status point and no metric', async () => {
    const metrics = createMetrics()
    const reg = createDeviceRegistry({ inventory: [{ id: 'm1', kind: 'energy_meter', options: {} }], defaultDistrict: 'd1', offlineAfterSec: 300, statusIntervalSec: 3600, metrics, now: () => 1_000 })
    const series = async () => (await metrics.deviceOnline.get()).values.filter((v) => v.labels['device'] === 'm1').map((v) => v.value)
    // A configured device starts offline: saying so again changes nothing but the reason it shows.
    expect(reg.setOnline('m1', false, 'timeout')).toBe(false)
    expect(reg.drainStatusPoints()).toHaveLength(0)
    expect(await series()).toEqual([])
    expect(reg.list()[0]).toMatchObject({ online: false, offlineReason: 'timeout' })
    // The change is written once, however often a source reports it.
    expect(reg.setOnline('m1', true)).toBe(true)
    expect(reg.setOnline('m1', true)).toBe(false)
    expect(reg.setOnline('m1', true)).toBe(false)
    const on = reg.drainStatusPoints()
    expect(on.map((p) => p.fields['online'])).toEqual([true])
    expect(await series()).toEqual([1])
    expect(reg.setOnline('m1', false, 'port_closed')).toBe(true)
    expect(reg.setOnline('m1', false, 'port_closed')).toBe(false)
    expect(reg.drainStatusPoints().map((p) => p.fields['online'])).toEqual([false])
    expect(await series()).toEqual([0])
    expect(reg.list()[0]).toMatchObject({ online: false, offlineReason: 'port_closed' })
    // A device the registry does not know is left alone.
    expect(reg.setOnline('nobody', true)).toBe(false)
    expect(reg.drainStatusPoints()).toHaveLength(0)
    // Said online but never heard from: no last-seen series. Removed from the inventory: neither series.
    expect((await metrics.lastSeen.get()).values.filter((v) => v.labels['device'] === 'm1')).toEqual([])
    reg.setInventory([])
    expect(await series()).toEqual([])
    expect(await metrics.registry.getSingleMetricAsString('smartcity_device_online')).not.toContain('m1')
  })
})
