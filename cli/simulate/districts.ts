/**
 * Districts in a scenario: the inventory the runner gives a configuration it makes for the scenario (each
 * entry's devices with their kind, protocol, `district` and `site`: the district tag of protocols that do
 * not carry one on the wire, JT/T 808 and HJ 212, comes from the inventory, docs/data-model.md), and the
 * `districts_apart` expectation: every point of a scenario device carries its entry's district and no other.
 */
import type { z } from 'zod'
import type { DeviceConfig } from '../../gateway/config.ts'
import { ELEVATOR_OPTIONS } from '../demo-parts/city-services.ts'
import type { Planned } from './devices.ts'
import type { Assertion } from './report.ts'
import type { DeviceEntry, Scenario } from './scenario.ts'
import { type InfluxTarget, influxQuery } from './truth.ts'

/** The district an entry's devices carry: their own `district`, else the scenario's. */
export const districtOf = (e: DeviceEntry, sc: Pick<Scenario, 'district'>): string => e.district ?? sc.district

/** Inventory lines for a scenario's devices (ids as cli/simulate/devices.ts idsOf numbers them). */
export function inventoryFor(sc: Scenario, idsOf: (e: DeviceEntry, i: number) => string[]): z.input<typeof DeviceConfig>[] {
  const seen = new Set<string>()
  const out: z.input<typeof DeviceConfig>[] = []
  sc.devices.forEach((e, i) => {
    for (const id of idsOf(e, i)) {
      if (seen.has(id)) continue
      seen.add(id)
      out.push({
        id,
        kind: e.kind,
        district: districtOf(e, sc),
        ...(e.site ? { site: e.site } : {}),
        protocol: e.protocol as z.input<typeof DeviceConfig>['protocol'],
        // The elevator simulators' building (cli/demo-parts/city-services.ts): the fault detection needs it.
        ...(e.kind === 'elevator' ? { options: { ...ELEVATOR_OPTIONS } } : {}),
      })
    }
  })
  return out
}

/**
 * Every series of every measurement since `since`, grouped by device and district: a device of the plan
 * seen with another district than its entry's, or never seen, fails the assertion.
 */
export async function checkDistricts(t: InfluxTarget, plan: readonly Planned[], sc: Scenario, since: number): Promise<Assertion> {
  const name = 'districts apart: each device tagged with its own district only'
  const want = new Map<string, string>()
  for (const p of plan) if (p.handle) for (const id of p.ids) want.set(id, districtOf(p.entry, sc))
  let series: Awaited<ReturnType<typeof influxQuery>>
  try {
    series = await influxQuery(t, `SELECT count(*) FROM /.*/ WHERE time >= ${since}ms GROUP BY "device", "district"`)
  } catch (err) {
    return { name, ok: false, message: `InfluxDB query failed: ${(err as Error).message}`, details: [] }
  }
  const seen = new Map<string, Set<string>>()
  for (const s of series) {
    const device = s.tags['device'] ?? ''
    if (!want.has(device)) continue
    const d = seen.get(device) ?? new Set<string>()
    d.add(s.tags['district'] ?? '')
    seen.set(device, d)
  }
  const details: string[] = []
  const byDistrict = new Map<string, number>()
  for (const [device, district] of want) {
    const got = seen.get(device)
    if (!got) {
      details.push(`${device} (district ${district}): no point stored`)
      continue
    }
    const other = [...got].filter((x) => x !== district)
    if (other.length > 0) details.push(`${device} (district ${district}): points tagged district=${other.map((x) => x || '(none)').join(', ')}`)
    else byDistrict.set(district, (byDistrict.get(district) ?? 0) + 1)
  }
  const districts = [...new Set(want.values())]
  return {
    name,
    ok: details.length === 0 && want.size > 0,
    message:
      details.length === 0
        ? `${want.size} device(s) in ${districts.length} district(s) (${[...byDistrict].map(([d, n]) => `${d}: ${n}`).join(', ')}), none tagged with another`
        : `${details.length} of ${want.size} device(s) not tagged with their own district only (MQTT devices name theirs in the topic; the others take it from the configuration's inventory, devices[].district)`,
    details,
  }
}
