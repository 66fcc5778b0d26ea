import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { tcpPlatformsPart } from '../../cli/demo-parts/tcp-platforms.ts'
import { tempDir } from '../helpers/env.ts'
import { gatewayFrom, metricValue } from '../helpers/gateway.ts'
import { freePort, waitFor } from '../helpers/net.ts'

describe('demo part: JT/T 808 vehicles and HJ 212 stations', () => {
  it('its sources and devices are a valid gateway config; vehicles and stations come online and report', async () => {
    const tmp = tempDir('tcp-demo-')
    const h = await tcpPlatformsPart.prepare({ district: 'xian-gaoxin', dataDir: tmp.dir, log: pino({ level: 'silent' }), freePort, mqttUrl: 'mqtt://127.0.0.1:1' })
    const gw = gatewayFrom({ dataDir: `${tmp.dir}/gw`, http: { enabled: true, port: await freePort() }, sources: h.sources, devices: h.devices }, { mqttPort: await freePort() })
    try {
      await gw.start()
      await h.start()
      expect(h.describe().join('\n')).toMatch(/JT\/T 808 to 127\.0\.0\.1:\d+.*\n.*HJ 212/)
      const http = gw.endpoints().http!
      const online = await waitFor(async () => {
        const body = (await (await fetch(`${http}/api/devices`)).json()) as { devices: { id: string; online: boolean; protocol?: string }[] }
        const on = body.devices.filter((d) => d.online)
        // Every terminal reports within its first 10 s; every station uploads within 3 s of connecting.
        return on.filter((d) => d.protocol === 'jt808').length === 8 && on.filter((d) => d.protocol === 'hj212').length === 3 ? on : undefined
      }, 20_000, '8 vehicles and 3 stations online')
      expect(online).toHaveLength(11)
      expect(await metricValue(gw, 'smartcity_readings_rejected_total')).toBe(0)
    } finally {
      await h.stop()
      await gw.stop()
      tmp.cleanup()
    }
  })
})
