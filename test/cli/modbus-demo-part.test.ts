import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { modbusPart } from '../../cli/demo-parts/modbus.ts'
import { tempDir } from '../helpers/env.ts'
import { gatewayFrom } from '../helpers/gateway.ts'
import { freePort, waitFor } from '../helpers/net.ts'

describe('demo part: Modbus meters and sondes', () => {
  it('starts simulators whose sources and devices a gateway accepts and polls', async () => {
    const tmp = tempDir('modbus-demo-')
    const h = await modbusPart.prepare({ district: 'xian-gaoxin', dataDir: tmp.dir, log: pino({ level: 'silent' }), freePort, mqttUrl: 'mqtt://127.0.0.1:1' })
    const gw = gatewayFrom({ dataDir: `${tmp.dir}/gw`, http: { enabled: true, port: await freePort() }, sources: h.sources, devices: h.devices }, { mqttPort: await freePort() })
    try {
      await gw.start()
      await h.start()
      expect(h.describe().join('\n')).toMatch(/energy meters/)
      const http = gw.endpoints().http!
      // The banner prints the gateway's real URL, not a placeholder, and the command it prints works.
      const text = h.describe(gw.endpoints()).join('\n')
      expect(text).not.toContain('<http>')
      const writeUrl = text.match(/(http:\/\/127\.0\.0\.1:\d+\/api\/devices\/wq-rtu-01\/write)/)?.[1]
      expect(writeUrl).toBe(`${http}/api/devices/wq-rtu-01/write`)
      const online = await waitFor(async () => {
        const body = (await (await fetch(`${http}/api/devices`)).json()) as { devices: { id: string; online: boolean }[] }
        const on = new Set(body.devices.filter((d) => d.online).map((d) => d.id))
        return on.has('em-0001') && on.has('em-0003') && on.has('wq-rtu-01') ? on : undefined
      }, 15_000, 'meters and sondes online')
      expect(online.has('wq-rtu-04')).toBe(false)
      const res = await fetch(writeUrl!, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"field":"averaging_s","value":30}' })
      expect(res.status, await res.text()).toBe(200)
    } finally {
      await gw.stop()
      await h.stop()
      tmp.cleanup()
    }
  })
})
