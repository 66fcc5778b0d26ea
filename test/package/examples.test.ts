// examples/: one sample configuration per device kind (issue 15 item 1), each valid as `smartcity
// check-config` sees it (the configuration, then the Modbus profile and broker files it names).
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { KINDS } from '../../devices/common/point.ts'
import { checkBrokerFiles } from '../../gateway/broker/security.ts'
import { loadConfig } from '../../gateway/config.ts'
import { checkModbusProfiles } from '../../gateway/sources/modbus/profiles.ts'

const DIR = join(import.meta.dirname, '..', '..', 'examples')
const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml'))

describe('examples/', () => {
  it('has a sample for every device kind, named after it', () => {
    expect(files.sort()).toEqual(KINDS.map((k) => `${k.replaceAll('_', '-')}.yaml`).sort())
  })

  for (const f of files) {
    it(`${f} passes check-config, with the package's data directory and its kind's devices`, async () => {
      const r = await loadConfig(join(DIR, f))
      expect(r.ok ? [] : r.problems).toEqual([])
      if (!r.ok) return
      expect([...(await checkModbusProfiles(r.config.sources)), ...(await checkBrokerFiles(r.config.broker))]).toEqual([])
      expect(r.config.dataDir).toBe('/var/lib/smartcity')
      expect(r.config.sinks.length).toBeGreaterThan(0)
      const kind = f.replace(/\.yaml$/, '').replaceAll('-', '_')
      const devices = r.config.devices.filter((d) => d.kind === kind)
      expect(devices.length).toBeGreaterThan(0)
      // Every source polling or naming a device has it in the inventory (else its points lack site/district).
      const inventory = new Set(r.config.devices.map((d) => d.id))
      for (const s of r.config.sources) {
        const named = [
          ...('devices' in s && Array.isArray(s.devices) ? s.devices.map((d: { device: string }) => d.device) : []),
          ...('meters' in s ? s.meters.flatMap((m) => (m.device ? [m.device] : [])) : []),
          ...('device' in s && typeof s.device === 'string' ? [s.device] : []),
        ]
        for (const id of named) expect(inventory.has(id), `${s.id}: ${id} in devices:`).toBe(true)
      }
    })
  }
})
