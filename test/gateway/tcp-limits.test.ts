/**
 * Who may connect to the TCP device servers (issue 13 item 3): an allowlist of CIDR ranges, caps on
 * connections in total and per address, idle time-outs, each refusal counted by its catalogued reason and
 * audited (`tcp.connect` denied). Clients connect to 127.0.0.1 from other loopback addresses (127.0.0.2,
 * 127.0.0.3: on Linux the whole of 127/8 is the loopback interface) to be two different peers.
 */
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { AuditRecord } from '../../gateway/core/audit.ts'
import type { Gateway } from '../../gateway/gateway.ts'
import { createAdmission, parseCidr } from '../../gateway/transports/tcp-server.ts'
import { tempDir } from '../helpers/env.ts'
import { gatewayFrom, metricValue } from '../helpers/gateway.ts'
import { freePort, waitFor } from '../helpers/net.ts'
import { closedWithin, dialPlatform as dial } from '../helpers/platform-peer.ts'

describe('TCP device servers: allowlist, connection caps, idle time-out', () => {
  const tmp = tempDir()
  const gateways: Gateway[] = []
  let n = 0
  afterAll(async () => {
    for (const g of gateways) await g.stop()
    tmp.cleanup()
  })

  async function start(sources: Record<string, unknown>[]): Promise<{ gw: Gateway; audit: AuditRecord[] }> {
    const audit: AuditRecord[] = []
    const gw = gatewayFrom({ dataDir: join(tmp.dir, `gw-${n++}`), http: { enabled: false }, broker: { type: 'embedded', port: 0 }, sources: sources as never }, {}, { audit: { record: (r) => audit.push(r) } })
    gateways.push(gw)
    await gw.start()
    return { gw, audit }
  }

  it('CIDR parsing: addresses, ranges, IPv6; nonsense is refused', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual(['10.0.0.0', 8, 'ipv4'])
    expect(parseCidr('192.168.1.7')).toEqual(['192.168.1.7', 32, 'ipv4'])
    expect(parseCidr('fd00::/8')).toEqual(['fd00::', 8, 'ipv6'])
    for (const bad of ['10.0.0.0/33', 'fd00::/129', 'example.com', '10.0.0/8', '10.0.0.0/8/1', '10.0.0.0/x', '']) expect(parseCidr(bad), bad).toBeUndefined()
    const a = createAdmission({ allow: ['127.0.0.2', '10.0.0.0/8'], maxConnections: 3, maxConnectionsPerAddress: 2 })
    expect(a.admit('127.0.0.1')).toBe('address_not_allowed')
    expect(a.admit('::ffff:10.1.2.3')).toBeUndefined()
    expect(a.admit('10.1.2.3')).toBeUndefined()
    expect(a.admit('10.1.2.3')).toBe('too_many_connections_from_address')
    expect(a.admit('127.0.0.2')).toBeUndefined()
    expect(a.admit('10.9.9.9')).toBe('too_many_connections')
    a.release('10.1.2.3')
    expect(a.admit('10.9.9.9')).toBeUndefined()
    expect(a.admit(undefined)).toBe('address_not_allowed')
  })

  it('the config refuses a bad CIDR with its key path', async () => {
    const { parseConfig } = await import('../../gateway/config.ts')
    const r = parseConfig({ sources: [{ type: 'jt808', allow: ['10.0.0.0/8', '300.1.1.1'] }] })
    expect(r.ok).toBe(false)
    expect(!r.ok && r.problems.join('\n')).toContain('sources[0].allow[1]')
  })

  it('jt808: a peer outside `allow` is closed before a byte is read, counted and audited once a minute; one inside is served', { timeout: 20_000 }, async () => {
    const port = await freePort()
    const { gw, audit } = await start([{ type: 'jt808', id: 'jt', port, allow: ['127.0.0.2/32'] }])
    // Refused: its garbage is never read (nothing received, nothing dead-lettered).
    for (let i = 0; i < 3; i++) {
      const c = await dial(port, '127.0.0.1')
      c.socket.write(Buffer.from('7e0000ffff7e', 'hex'))
      expect(await closedWithin(c, 2_000)).toBe(true)
    }
    expect(await metricValue(gw, 'smartcity_tcp_connections_refused_total', { source: 'jt', reason: 'address_not_allowed' })).toBe(3)
    expect(await metricValue(gw, 'smartcity_readings_received_total', { source: 'jt' })).toBe(0)
    // One audit record for the three (same address and reason within a minute).
    expect(audit).toHaveLength(1)
    expect(audit[0]).toMatchObject({ actor: 'anonymous', actorType: 'anonymous', action: 'tcp.connect', outcome: 'denied', reason: 'address_not_allowed', target: `jt808:jt 127.0.0.1:${port}` })
    expect(audit[0]!.address).toMatch(/^127\.0\.0\.1:\d+$/)
    // Allowed: the connection stays, and what it sends is read (garbage is refused as garbage).
    const ok = await dial(port, '127.0.0.2')
    ok.socket.write(Buffer.from('0102037e', 'hex'))
    expect(await closedWithin(ok, 500)).toBe(false)
    await waitFor(async () => (await metricValue(gw, 'smartcity_readings_rejected_total', { source: 'jt' })) >= 1, 5_000, 'the allowed peer read')
    ok.socket.destroy()
  })

  it('hj212: maxConnections and maxConnectionsPerAddress refuse with their own reasons; a freed slot is taken again', { timeout: 20_000 }, async () => {
    const port = await freePort()
    const { gw, audit } = await start([{ type: 'hj212', id: 'hj', port, maxConnections: 3, maxConnectionsPerAddress: 2 }])
    const a1 = await dial(port, '127.0.0.2')
    const a2 = await dial(port, '127.0.0.2')
    const a3 = await dial(port, '127.0.0.2')
    expect(await closedWithin(a3, 2_000)).toBe(true)
    expect(await closedWithin(a1, 200)).toBe(false)
    expect(await closedWithin(a2, 10)).toBe(false)
    const b1 = await dial(port, '127.0.0.3')
    expect(await closedWithin(b1, 300)).toBe(false)
    const b2 = await dial(port, '127.0.0.3')
    expect(await closedWithin(b2, 2_000)).toBe(true)
    expect(await metricValue(gw, 'smartcity_tcp_connections_refused_total', { source: 'hj', reason: 'too_many_connections_from_address' })).toBe(1)
    expect(await metricValue(gw, 'smartcity_tcp_connections_refused_total', { source: 'hj', reason: 'too_many_connections' })).toBe(1)
    expect(audit.map((r) => r.reason).sort()).toEqual(['too_many_connections', 'too_many_connections_from_address'])
    // One leaves: a newcomer gets its slot.
    a1.socket.destroy()
    await waitFor(async () => (await metricValue(gw, 'smartcity_tcp_connections_closed_total', { source: 'hj' })) >= 1, 5_000, 'the close seen')
    const c1 = await dial(port, '127.0.0.3')
    expect(await closedWithin(c1, 300)).toBe(false)
    for (const c of [a2, b1, c1]) c.socket.destroy()
  })

  it('idle time-out: a silent connection is closed and counted as idle_timeout', { timeout: 20_000 }, async () => {
    const port = await freePort()
    const { gw } = await start([{ type: 'jt808', id: 'idle', port, idleTimeoutSec: 1 }])
    const c = await dial(port)
    expect(await closedWithin(c, 5_000)).toBe(true)
    await waitFor(async () => (await metricValue(gw, 'smartcity_tcp_connections_closed_total', { source: 'idle', reason: 'idle_timeout' })) === 1, 5_000, 'idle_timeout counted')
  })

  it('etc-rsu in server mode: an RSU outside `allow` is refused, counted and audited; the allowed one is the lane', { timeout: 20_000 }, async () => {
    const port = await freePort()
    const { gw, audit } = await start([{ type: 'etc-rsu', id: 'lane', device: 'rsu-1', mode: 'server', port, allow: ['127.0.0.2'] }])
    const bad = await dial(port, '127.0.0.1')
    expect(await closedWithin(bad, 2_000)).toBe(true)
    expect(await metricValue(gw, 'smartcity_tcp_connections_refused_total', { source: 'lane', reason: 'address_not_allowed' })).toBe(1)
    expect(audit[0]).toMatchObject({ action: 'tcp.connect', outcome: 'denied', reason: 'address_not_allowed', target: `etc-rsu:lane 127.0.0.1:${port}` })
    const good = await dial(port, '127.0.0.2')
    await waitFor(async () => (await gw.health())['source:lane']?.status === 'ok', 5_000, 'the lane connected')
    expect(await closedWithin(good, 10)).toBe(false)
    good.socket.destroy()
  })
})
