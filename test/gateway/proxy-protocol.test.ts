/**
 * PROXY protocol on the TCP device servers (issue 15 item 5): the header a load balancer sends first
 * (haproxy doc/proxy-protocol.txt, https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt), parsed on its
 * own and then on a real jt808/hj212 server: the device's address from the header is what `allow`,
 * the audit, dead letters and the log see; an untrusted peer and a malformed header are refused, counted and
 * audited. Clients connect from other loopback addresses (127.0.0.2: on Linux all of 127/8 is loopback) to
 * be an untrusted peer.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { encodeJt808, type Jt808Header, } from '../../devices/position/jt808/index.ts'
import { dataCp, encodeHj212, formatHj212Time, } from '../../devices/water-quality/hj212/index.ts'
import type { AuditRecord } from '../../gateway/core/audit.ts'
import type { Gateway } from '../../gateway/gateway.ts'
import { encodeProxyV2, parseProxyHeader, V1_MAX } from '../../gateway/transports/proxy-protocol.ts'
import { tempDir } from '../helpers/env.ts'
import { gatewayFrom, metricValue } from '../helpers/gateway.ts'
import { captureLog } from '../helpers/logs.ts'
import { freePort, sleep, waitFor } from '../helpers/net.ts'
import { closedWithin, dialPlatform, type PlatformPeer } from '../helpers/platform-peer.ts'

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex')

describe('PROXY protocol header parser', () => {
  it('v1: the spec examples (section 2.1), UNKNOWN, split reads, and what it refuses', () => {
    // Spec 2.1: "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n" followed by the proxied bytes.
    const v1 = Buffer.from('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n', 'latin1')
    const r = parseProxyHeader(v1, 'v1')
    expect(r).toEqual({ status: 'ok', header: { command: 'proxy', source: { address: '192.168.0.1', port: 56324 }, destination: { address: '192.168.0.11', port: 443 }, length: 47 } })
    expect(v1.subarray(47).toString('latin1')).toBe('GET / HTTP/1.1\r\n')
    // Spec 2.1, the worst case line: "PROXY TCP6 ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n" (104 bytes).
    const f = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'
    const worst = Buffer.from(`PROXY TCP6 ${f} ${f} 65535 65535\r\n`, 'latin1')
    expect(worst.length).toBe(104)
    expect(parseProxyHeader(worst, 'v1')).toMatchObject({ status: 'ok', header: { command: 'proxy', source: { address: f, port: 65535 } } })
    // "PROXY UNKNOWN\r\n" and the worst case UNKNOWN line: the connection's own address is used.
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'), 'v1')).toEqual({ status: 'ok', header: { command: 'local', length: 15 } })
    expect(parseProxyHeader(Buffer.from(`PROXY UNKNOWN ${f} ${f} 65535 65535\r\n`), 'v1')).toMatchObject({ status: 'ok', header: { command: 'local' } })
    // Split across reads: more is needed until the CRLF.
    expect(parseProxyHeader(v1.subarray(0, 3), 'v1')).toEqual({ status: 'more' })
    expect(parseProxyHeader(v1.subarray(0, 30), 'v1')).toEqual({ status: 'more' })
    // Refused: not a header, no CRLF within 107 bytes, bad protocol, addresses, ports, and a v2 header.
    expect(parseProxyHeader(Buffer.from('~\x01\x00'), 'v1').status).toBe('bad')
    expect(parseProxyHeader(Buffer.from(`PROXY TCP4 ${'1'.repeat(V1_MAX)}`), 'v1').status).toBe('bad')
    expect(parseProxyHeader(Buffer.from('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'), 'v1').status).toBe('bad')
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n'), 'v1').status).toBe('bad')
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 ::1 ::1 1 2\r\n'), 'v1').status).toBe('bad')
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n'), 'v1').status).toBe('bad')
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'), 'v1').status).toBe('bad')
    expect(parseProxyHeader(encodeProxyV2({ address: '1.2.3.4', port: 1 }, { address: '5.6.7.8', port: 2 }), 'v1').status).toBe('bad')
  })

  it('v2: a header HAProxy sent (captured), LOCAL, IPv6, TLVs after the addresses, and what it refuses', () => {
    // HAProxy's send-proxy-v2 in front of a netcat, as captured in seriousben/experiment-proxy-protocol
    // README.md ("netcat of haproxy writing a version 2 of the PROXY protocol header"): 172.19.0.1:42578 ->
    // 172.19.0.3:80, then "GET / ...".
    const captured = hex('0d0a0d0a000d0a515549540a 2111000c ac130001 ac130003 a652 0050 474554202f')
    const r = parseProxyHeader(captured, 'v2')
    expect(r).toEqual({ status: 'ok', header: { command: 'proxy', source: { address: '172.19.0.1', port: 42578 }, destination: { address: '172.19.0.3', port: 80 }, length: 28 } })
    expect(captured.subarray(28).toString('latin1')).toBe('GET /')
    // Every prefix is "more", never a verdict on half a header.
    for (let n = 0; n < 28; n++) expect(parseProxyHeader(captured.subarray(0, n), 'v2')).toEqual({ status: 'more' })
    // LOCAL (HAProxy's health checks): the connection's own address.
    expect(parseProxyHeader(encodeProxyV2({ address: '0.0.0.0', port: 0 }, { address: '0.0.0.0', port: 0 }, 'local'), 'v2')).toEqual({ status: 'ok', header: { command: 'local', length: 16 } })
    // IPv6, and an address block with TLVs after it (PP2_TYPE_NOOP 0x04, spec 2.2.5): skipped by length.
    const six = encodeProxyV2({ address: '2001:db8::7', port: 40_000 }, { address: 'fd00::1', port: 7808 })
    expect(parseProxyHeader(six, 'v2')).toMatchObject({ status: 'ok', header: { command: 'proxy', source: { address: '2001:db8::7', port: 40_000 }, destination: { address: 'fd00::1', port: 7808 }, length: 52 } })
    const tlv = Buffer.from(captured.subarray(0, 28))
    tlv.writeUInt16BE(12 + 4, 14)
    const withTlv = Buffer.concat([tlv, hex('04 0001 00'), Buffer.from('~')])
    expect(parseProxyHeader(withTlv, 'v2')).toMatchObject({ status: 'ok', header: { command: 'proxy', length: 32 } })
    // UNSPEC family with PROXY: the connection's own address (spec: the receiver falls back to it).
    expect(parseProxyHeader(hex('0d0a0d0a000d0a515549540a 2100 0000'), 'v2')).toMatchObject({ status: 'ok', header: { command: 'local' } })
    // Refused: version 1 nibble, command 2, an undefined family, a TCP4 block too short, over 2 KB, a v1 line.
    for (const bad of ['0d0a0d0a000d0a515549540a 1111000c', '0d0a0d0a000d0a515549540a 2211000c', '0d0a0d0a000d0a515549540a 2141000c', '0d0a0d0a000d0a515549540a 21110008 0102030405060708', '0d0a0d0a000d0a515549540a 2111ffff']) {
      expect(parseProxyHeader(Buffer.concat([hex(bad), Buffer.alloc(12)]), 'v2').status, bad).toBe('bad')
    }
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), 'v2').status).toBe('bad')
    expect(parseProxyHeader(Buffer.from([0x7e, 0x01, 0x02]), 'v2').status).toBe('bad')
  })
})

// ------------------------------------------------------------------------------------------------------

type Peer = PlatformPeer
const dial = dialPlatform

let serial = 0
const header = (phone: string, msgId: number): Jt808Header => ({ msgId, version: 2013, protocolVersion: 0, phone, serial: ++serial & 0xffff, encryption: 0 })

/** Register, authenticate, one location: resolves with the result of the location's 0x8001. */
async function terminalFlow(p: Peer, phone: string, first?: Buffer): Promise<number> {
  const reg = encodeJt808({ header: header(phone, 0x0100), body: { type: 'register', province: 61, city: 100, makerId: 'TEST', model: 'T1', terminalId: '0000001', plateColor: 1, plate: '陕A00001' } })
  p.socket.write(first ? Buffer.concat([first, reg]) : reg)
  const r = await waitFor(() => p.jt.find((m) => m.body.type === 'register_response'), 10_000, 'register response')
  if (r.body.type !== 'register_response') throw new Error('not a register response')
  p.socket.write(encodeJt808({ header: header(phone, 0x0102), body: { type: 'auth', authCode: r.body.authCode ?? '' } }))
  await waitFor(() => p.jt.find((m) => m.body.type === 'platform_response' && m.body.ackMsgId === 0x0102), 10_000, 'auth answer')
  const h = header(phone, 0x0200)
  p.socket.write(
    encodeJt808({ header: h, body: { type: 'location', alarm: 0, status: 2 | (1 << 19), latE6: 34_200_000, lonE6: 108_900_000, altitudeM: 400, speed01: 300, courseDeg: 90, time: Math.floor(Date.now() / 1000) * 1000, items: [] } }),
  )
  const ack = await waitFor(() => p.jt.find((m) => m.body.type === 'platform_response' && m.body.ackMsgId === 0x0200 && m.body.ackSerial === h.serial), 10_000, 'location answer')
  return ack.body.type === 'platform_response' ? ack.body.result : -1
}

describe('TCP device servers behind a load balancer (proxyProtocol)', () => {
  const tmp = tempDir()
  const gateways: Gateway[] = []
  let n = 0
  afterAll(async () => {
    for (const g of gateways) await g.stop()
    tmp.cleanup()
  })

  async function start(source: Record<string, unknown>): Promise<{ gw: Gateway; port: number; audit: AuditRecord[]; logs: ReturnType<typeof captureLog>; dataDir: string }> {
    const audit: AuditRecord[] = []
    const logs = captureLog('info')
    const port = await freePort()
    const dataDir = join(tmp.dir, `gw-${n++}`)
    const gw = gatewayFrom(
      { dataDir, http: { enabled: false }, broker: { type: 'embedded', port: 0 }, sinks: [], sources: [{ ...source, port }] as never },
      {},
      { audit: { record: (r) => audit.push(r) }, log: logs.log },
    )
    gateways.push(gw)
    await gw.start()
    return { gw, port, audit, logs, dataDir }
  }

  it('jt808 with v2: the terminal is served and known by the address in the header (log, allow, dead letters, audit)', async () => {
    const { gw, port, audit, logs, dataDir } = await start({ type: 'jt808', id: 'jt', proxyProtocol: 'v2', trustedProxies: ['127.0.0.1/32'], allow: ['10.20.0.0/16'] })
    const dest = { address: '127.0.0.1', port }
    // A device in the allowed range, relayed by the trusted proxy: served; the header may come in two reads.
    const p = await dial(port)
    const hdr = encodeProxyV2({ address: '10.20.30.40', port: 51_234 }, dest)
    p.socket.write(hdr.subarray(0, 5))
    await sleep(50)
    expect(await terminalFlow(p, '13900000001', hdr.subarray(5))).toBe(0)
    const authLine = logs.records().find((r) => r['msg'] === 'terminal authenticated' && r['device'] === '13900000001')
    expect(authLine).toMatchObject({ address: '10.20.30.40:51234' })
    expect(String(authLine?.['via'])).toMatch(/^127\.0\.0\.1:\d+$/)
    // A bad frame from that device is dead-lettered under its own address, not the proxy's.
    p.socket.write(Buffer.from([0x7e, 0x01, 0x02, 0x03, 0x7e]))
    const dead = await waitFor(
      () => {
        try {
          const recs = readFileSync(join(dataDir, 'deadletter', 'deadletter.jsonl'), 'utf8').split('\n').filter(Boolean)
          return recs.length > 0 ? recs.map((l) => JSON.parse(l) as Record<string, unknown>) : undefined
        } catch {
          return undefined
        }
      },
      10_000,
      'dead letter written',
    )
    expect(dead[0]).toMatchObject({ source: 'jt', address: '10.20.30.40:51234' })
    expect(await metricValue(gw, 'smartcity_readings_rejected_total', { source: 'jt' })).toBeGreaterThan(0)
    // A device outside `allow`, relayed by the same proxy: refused by its own address.
    const q = await dial(port)
    q.socket.write(encodeProxyV2({ address: '192.0.2.9', port: 4000 }, dest))
    expect(await closedWithin(q, 5000)).toBe(true)
    await waitFor(async () => (await metricValue(gw, 'smartcity_tcp_connections_refused_total', { source: 'jt', reason: 'address_not_allowed' })) === 1, 5000, 'address_not_allowed counted')
    expect(audit.find((a) => a.reason === 'address_not_allowed')).toMatchObject({ action: 'tcp.connect', outcome: 'denied', address: '192.0.2.9:4000' })
    // A LOCAL header (the balancer's health check) is the proxy's own connection: accepted, not held to `allow`.
    const hc = await dial(port)
    hc.socket.write(encodeProxyV2(dest, dest, 'local'))
    expect(await closedWithin(hc, 500)).toBe(false)
    hc.socket.destroy()
    p.socket.destroy()
  })

  it('refuses a peer that is not a trusted proxy before reading a byte, and a malformed or missing header', async () => {
    const { gw, port, audit } = await start({ type: 'jt808', id: 'jt', proxyProtocol: 'v2', trustedProxies: ['127.0.0.1'] })
    // 127.0.0.2 is not in trustedProxies: closed at once, even with a well-formed header.
    const u = await dial(port, '127.0.0.2')
    u.socket.write(encodeProxyV2({ address: '10.0.0.1', port: 1 }, { address: '127.0.0.1', port }))
    expect(await closedWithin(u, 5000)).toBe(true)
    await waitFor(async () => (await metricValue(gw, 'smartcity_tcp_connections_refused_total', { source: 'jt', reason: 'proxy_untrusted' })) === 1, 5000, 'proxy_untrusted counted')
    expect(audit.find((a) => a.reason === 'proxy_untrusted')).toMatchObject({ action: 'tcp.connect', outcome: 'denied' })
    expect(audit.find((a) => a.reason === 'proxy_untrusted')?.address).toMatch(/^127\.0\.0\.2:\d+$/)
    // A trusted peer whose first bytes are a terminal's frame, not a header: refused, nothing decoded.
    const m = await dial(port)
    m.socket.write(encodeJt808({ header: header('13900000002', 0x0100), body: { type: 'register', province: 61, city: 100, makerId: 'TEST', model: 'T1', terminalId: '0000002', plateColor: 1, plate: '陕A00002' } }))
    expect(await closedWithin(m, 5000)).toBe(true)
    expect(m.jt).toEqual([])
    // A v1 line where v2 is configured (the receiver does not guess: spec section 2).
    const v1 = await dial(port)
    v1.socket.write(`PROXY TCP4 10.0.0.1 127.0.0.1 1000 ${port}\r\n`)
    expect(await closedWithin(v1, 5000)).toBe(true)
    await waitFor(async () => (await metricValue(gw, 'smartcity_tcp_connections_refused_total', { source: 'jt', reason: 'proxy_header_invalid' })) === 2, 5000, 'two proxy_header_invalid counted')
    const invalid = audit.filter((a) => a.reason === 'proxy_header_invalid')
    expect(invalid[0]?.detail).toMatch(/signature/)
    // Nothing was accepted as a device.
    expect(await metricValue(gw, 'smartcity_readings_accepted_total', {})).toBe(0)
  })

  it('hj212 with v1: the station is served behind the proxy and the per-address cap counts the real addresses', async () => {
    const { gw, port } = await start({ type: 'hj212', id: 'hj', proxyProtocol: 'v1', defaultPassword: 'pw', maxConnectionsPerAddress: 1 })
    const upload = (mn: string) =>
      encodeHj212({ qn: formatHj212Time(Date.now(), true), st: '21', cn: '2011', pw: 'pw', mn, flag: 5, cp: dataCp(Math.floor(Date.now() / 1000) * 1000, { w01001: { Rtd: '7.31', Flag: 'N' } }) })
    const a = await dial(port)
    a.socket.write(Buffer.concat([Buffer.from(`PROXY TCP4 10.1.1.1 127.0.0.1 3000 ${port}\r\n`), upload('WQPROXY0000000001')]))
    await waitFor(() => a.hj.find((m) => m.cn === '9014'), 10_000, '9014 for the first station')
    // Another station behind the same proxy, another real address: admitted.
    const b = await dial(port)
    b.socket.write(Buffer.concat([Buffer.from(`PROXY TCP4 10.1.1.2 127.0.0.1 3001 ${port}\r\n`), upload('WQPROXY0000000002')]))
    await waitFor(() => b.hj.find((m) => m.cn === '9014'), 10_000, '9014 for the second station')
    // A second connection from 10.1.1.1: over maxConnectionsPerAddress (1), though the proxy's address is shared.
    const c = await dial(port)
    c.socket.write(`PROXY TCP4 10.1.1.1 127.0.0.1 3002 ${port}\r\n`)
    expect(await closedWithin(c, 5000)).toBe(true)
    await waitFor(async () => (await metricValue(gw, 'smartcity_tcp_connections_refused_total', { source: 'hj', reason: 'too_many_connections_from_address' })) === 1, 5000, 'per-address cap counted')
    expect(await metricValue(gw, 'smartcity_readings_accepted_total', {})).toBe(2)
    a.socket.destroy()
    b.socket.destroy()
  })

  it('a trusted proxy that sends no header is closed after the header time-out and counted', async () => {
    // The time-out is 10 s in the gateway; here the connection sends half a header and nothing more.
    const { gw, port } = await start({ type: 'jt808', id: 'jt', proxyProtocol: 'v2' })
    const p = await dial(port)
    p.socket.write(encodeProxyV2({ address: '10.0.0.1', port: 1 }, { address: '127.0.0.1', port }).subarray(0, 10))
    expect(await closedWithin(p, 15_000)).toBe(true)
    expect(await metricValue(gw, 'smartcity_tcp_connections_refused_total', { source: 'jt', reason: 'proxy_header_invalid' })).toBe(1)
  }, 30_000)
})
