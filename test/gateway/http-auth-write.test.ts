/**
 * A device write end to end with tokens: a Modbus TCP sonde (our simulator, generic-sonde profile) written
 * through `POST /api/devices/:id/write`. Without `operate` nothing reaches the device; with it the write goes
 * through; each attempt is in the audit log with the token's name, the device, what was written and the outcome.
 */
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { readAuditRecords } from '../../gateway/core/audit-log.ts'
import { newToken } from '../../gateway/http/auth.ts'
import { simulateTcp } from '../../simulators/modbus/index.ts'
import { BUILTIN_PROFILES } from '../../devices/modbus-profiles.ts'
import { tempDir } from '../helpers/env.ts'
import { gatewayFrom } from '../helpers/gateway.ts'
import { freePort, waitFor } from '../helpers/net.ts'

describe('device writes with tokens (Modbus TCP sonde)', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('refuses a read token before the device is asked, writes with an operate token, audits every attempt', async () => {
    const sonde = BUILTIN_PROFILES.get('generic-sonde')!
    const sim = await simulateTcp({ port: await freePort(), devices: [{ unit: 1, profile: sonde }] })
    const reader = newToken()
    const ops = newToken()
    const gw = gatewayFrom(
      {
        dataDir: join(tmp.dir, 'gw'),
        http: {
          port: 0,
          tokens: [
            { name: 'wall-display', sha256: reader.sha256, scopes: ['read'] },
            { name: 'ops-desk', sha256: ops.sha256, scopes: ['read', 'operate'] },
          ],
        },
        sources: [{ type: 'modbus-tcp', port: sim.port, devices: [{ device: 'wq-1', unit: 1, profile: 'generic-sonde', intervalMs: 60_000 }] }],
        devices: [{ id: 'wq-1', kind: 'water_quality' }],
      },
      { mqttPort: 0 },
    )
    await gw.start()
    const slave = sim.slaves.get(1)!
    try {
      const url = `${gw.endpoints().http}/api/devices/wq-1/write`
      const post = (token: string, body: unknown) => fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
      // The first poll, so the link is up and the request count is settled.
      let last = -1
      await waitFor(
        () => {
          const settled = slave.requests > 0 && slave.requests === last
          last = slave.requests
          return settled
        },
        15_000,
        'the first poll done (no request for 500 ms)',
        500,
      )
      const before = slave.requests
      const denied = await post(reader.token, { field: 'averaging_s', value: 60 })
      expect(denied.status).toBe(403)
      expect(slave.requests).toBe(before)
      const ok = await post(ops.token, { field: 'averaging_s', value: 60 })
      expect(ok.status).toBe(200)
      expect(slave.requests).toBe(before + 1)
      const range = await post(ops.token, { field: 'averaging_s', value: 9999 })
      expect(range.status).toBe(422)
      expect(await range.json()).toMatchObject({ error: 'out_of_range' })
    } finally {
      await gw.stop()
      await sim.close()
    }
    const recs = readAuditRecords(join(tmp.dir, 'gw', 'audit'))
    expect(recs.filter((r) => r.action === 'device.write').map((r) => ({ actor: r.actor, target: r.target, outcome: r.outcome, reason: r.reason, detail: r.detail?.split(':')[0] }))).toEqual([
      { actor: 'ops-desk', target: 'wq-1', outcome: 'ok', reason: undefined, detail: 'field averaging_s = 60' },
      { actor: 'ops-desk', target: 'wq-1', outcome: 'failed', reason: 'out_of_range', detail: 'field averaging_s = 9999' },
    ])
    expect(recs.find((r) => r.action === 'http.auth')).toMatchObject({ actor: 'wall-display', target: 'POST /api/devices/wq-1/write', outcome: 'denied', reason: 'missing_scope' })
  })
})
