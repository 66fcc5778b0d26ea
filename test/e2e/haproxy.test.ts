/**
 * Issue 15 item 5 (TCP part): Debian's HAProxy in front of two gateway instances for JT/T 808, with
 * `send-proxy-v2` (haproxy doc/proxy-protocol.txt; HAProxy 2.6 configuration manual, server keyword
 * `send-proxy-v2`). Simulated terminals dial HAProxy from their own loopback addresses (127.0.0.11...), so the
 * address the gateways log can be told from HAProxy's. One instance is SIGKILLed: its terminals reconnect through
 * HAProxy to the other and authenticate there with the code they already hold (derived from the shared
 * authSecret, never registered again), and keep reporting. Presence (`device_status`) in a real InfluxDB says
 * which instance saw the device (tag `instance` = gateway.id).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { jt808AuthCode } from '../../gateway/sources/jt808/index.ts'
import { DISTRICT_ROUTES } from '../../simulators/jt808/index.ts'
import { createTerminal, type Terminal } from '../../simulators/jt808/terminal.ts'
import { have, tempDir, which } from '../helpers/env.ts'
import { useInflux } from '../helpers/influx.ts'
import { freePort, sleep, waitFor } from '../helpers/net.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const SECRET = 'district-haproxy-shared-secret'
const TERMINALS = 6

interface Instance {
  id: string
  port: number
  proc: ChildProcess
  /** The JSON log lines (stdout) so far. */
  logs: Record<string, unknown>[]
  exited: Promise<void>
}

describe.skipIf(!have('haproxy', 'influxd'))('HAProxy (send-proxy-v2) in front of two gateway instances for JT/T 808', () => {
  const influx = useInflux()
  const tmp = tempDir('haproxy-')
  const procs: ChildProcess[] = []
  const terminals: Terminal[] = []
  afterAll(async () => {
    for (const t of terminals) await t.stop().catch(() => undefined)
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
    await sleep(200)
    tmp.cleanup()
  })

  async function startGateway(id: string, db: string): Promise<Instance> {
    const port = await freePort()
    const cfgFile = join(tmp.dir, `${id}.yaml`)
    writeFileSync(
      cfgFile,
      [
        `gateway: { id: ${id}, statusIntervalSec: 2 }`,
        `dataDir: ${join(tmp.dir, id)}`,
        'log: { level: info }',
        `broker: { type: embedded, port: ${await freePort()} }`,
        'http: { enabled: false }',
        'sinks:',
        `  - { type: influx-v1, url: "${influx.url}", database: ${db}, flushIntervalMs: 200 }`,
        'sources:',
        '  - type: jt808',
        `    port: ${port}`,
        `    authSecret: ${SECRET}`,
        '    proxyProtocol: v2',
        '    trustedProxies: [127.0.0.1]',
        '',
      ].join('\n'),
    )
    const proc = spawn(process.execPath, [join(ROOT, 'bin', 'smartcity.js'), 'gateway', '--config', cfgFile], { stdio: ['ignore', 'pipe', 'pipe'] })
    procs.push(proc)
    const logs: Record<string, unknown>[] = []
    let buf = ''
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString()
      let nl = buf.indexOf('\n')
      while (nl >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        try {
          logs.push(JSON.parse(line) as Record<string, unknown>)
        } catch {
          // not a log line
        }
        nl = buf.indexOf('\n')
      }
    })
    const exited = new Promise<void>((r) => proc.once('exit', () => r()))
    await new Promise<void>((resolve, reject) => {
      let err = ''
      proc.stderr!.on('data', (d: Buffer) => {
        err += d.toString()
        if (err.includes('gateway ')) resolve()
      })
      proc.once('exit', (c) => reject(new Error(`gateway ${id} exited ${c}: ${err}`)))
    })
    return { id, port, proc, logs, exited }
  }

  async function startHaproxy(front: number, a: Instance, b: Instance): Promise<ChildProcess> {
    const cfg = join(tmp.dir, 'haproxy.cfg')
    writeFileSync(
      cfg,
      [
        'global',
        '  maxconn 1000',
        'defaults',
        '  mode tcp',
        '  timeout connect 1s',
        '  timeout client 60s',
        '  timeout server 60s',
        '  retries 3',
        '  option redispatch',
        'frontend jt808',
        `  bind 127.0.0.1:${front}`,
        '  default_backend gateways',
        'backend gateways',
        '  balance roundrobin',
        `  server ${a.id} 127.0.0.1:${a.port} send-proxy-v2 check inter 300ms fall 1 rise 2`,
        `  server ${b.id} 127.0.0.1:${b.port} send-proxy-v2 check inter 300ms fall 1 rise 2`,
        '',
      ].join('\n'),
    )
    const p = spawn(which('haproxy')!, ['-f', cfg, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] })
    procs.push(p)
    let err = ''
    p.stderr!.on('data', (d: Buffer) => {
      err += d.toString()
    })
    await waitFor(
      () =>
        new Promise<boolean>((resolve) => {
          if (p.exitCode !== null) throw new Error(`haproxy exited ${p.exitCode}: ${err}`)
          const s = connect({ host: '127.0.0.1', port: front })
          s.once('connect', () => {
            s.destroy()
            resolve(true)
          })
          s.once('error', () => resolve(false))
        }),
      10_000,
      'haproxy listening',
    )
    return p
  }

  const authLines = (i: Instance, device: string) => i.logs.filter((l) => l['msg'] === 'terminal authenticated' && l['device'] === device)

  it('terminals keep reporting when one instance dies, re-authenticating on the other with the same derived code; real addresses logged; presence tagged with the instance', { timeout: 120_000 }, async () => {
    const db = 'haproxy'
    const a = await startGateway('gw-a', db)
    const b = await startGateway('gw-b', db)
    const front = await freePort()
    await startHaproxy(front, a, b)
    // Let HAProxy's checks see both servers up (rise 2 x 300 ms).
    await sleep(1000)

    const phones = Array.from({ length: TERMINALS }, (_, i) => `1380000${String(100 + i).padStart(4, '0')}`)
    for (const [i, phone] of phones.entries()) {
      const t = createTerminal({ host: '127.0.0.1', port: front, localAddress: `127.0.0.${11 + i}`, phone, vehicle: 'bus', route: DISTRICT_ROUTES.bus, intervalSec: 1, alarmProbability: 0, reconnect: true, onError: () => undefined })
      terminals.push(t)
      await t.start()
    }
    await waitFor(() => terminals.every((t) => t.stats().acked >= 3), 30_000, 'three acknowledged reports from every terminal')

    // Where each terminal went (round robin: some on each), and the address each instance logged for it: the
    // terminal's own loopback alias, with HAProxy's address as `via`.
    const onA = phones.filter((p) => authLines(a, p).length > 0)
    const onB = phones.filter((p) => authLines(b, p).length > 0)
    expect(onA.length).toBeGreaterThan(0)
    expect(onB.length).toBeGreaterThan(0)
    expect(onA.length + onB.length).toBe(TERMINALS)
    for (const [i, phone] of phones.entries()) {
      const line = [...authLines(a, phone), ...authLines(b, phone)][0]!
      expect(String(line['address'])).toMatch(new RegExp(`^127\\.0\\.0\\.${11 + i}:\\d+$`))
      expect(String(line['via'])).toMatch(/^127\.0\.0\.1:\d+$/)
    }
    // The codes the terminals hold are derived from the shared secret (HMAC), so any instance accepts them.
    const codes = new Map(phones.map((p, i) => [p, terminals[i]!.stats().authCode]))
    for (const p of phones) expect(codes.get(p)).toBe(jt808AuthCode(SECRET, p))

    // Presence written by each instance carries its id (statusIntervalSec 2).
    await waitFor(async () => (await influx.query(db, `SELECT count("online") FROM device_status WHERE instance = 'gw-a'`)).length > 0, 20_000, 'device_status from gw-a')

    // Kill instance A; its terminals lose their connections and come back through HAProxy to B.
    const ackedAtKill = terminals.map((t) => t.stats().acked)
    const connectsAtKill = terminals.map((t) => t.stats().connects)
    a.proc.kill('SIGKILL')
    await a.exited
    await waitFor(() => terminals.every((t, i) => t.stats().acked >= ackedAtKill[i]! + 5), 45_000, 'five more acknowledged reports from every terminal after the kill')

    for (const phone of onA) {
      const i = phones.indexOf(phone)
      const t = terminals[i]!.stats()
      // Reconnected and authenticated on B with the code it already had: never registered again.
      expect(t.connects).toBeGreaterThan(connectsAtKill[i]!)
      expect(t.authCode).toBe(codes.get(phone))
      const onBNow = authLines(b, phone)
      expect(onBNow.length).toBeGreaterThan(0)
      expect(String(onBNow.at(-1)!['address'])).toMatch(new RegExp(`^127\\.0\\.0\\.${11 + i}:\\d+$`))
    }
    // B refused nothing: no wrong code, no registration needed.
    expect(b.logs.filter((l) => l['msg'] === 'connection refused' || l['reason'] === 'bad_auth_code')).toEqual([])

    // Presence of a moved terminal: online, written by gw-b.
    const moved = onA[0]!
    await waitFor(
      async () => {
        const rows = await influx.query(db, `SELECT last("online") FROM device_status WHERE device = '${moved}' AND instance = 'gw-b'`)
        return rows[0]?.['last'] === true
      },
      20_000,
      `device_status of ${moved} online from gw-b`,
    )
    const instances = await influx.query(db, `SHOW TAG VALUES FROM device_status WITH KEY = "instance"`)
    expect(instances.map((r) => r['value']).sort()).toEqual(['gw-a', 'gw-b'])
  })
})
