/**
 * DL/T 645 master on an RS-485 bus: polls the configured data identifiers of each meter in turn and hands one
 * energy-meter `telemetry` reading per meter per cycle to the pipeline. Half duplex: one request in flight.
 * `serial://` link (gateway/transports/address.ts: reopen with back-off) -> bus session (session.ts).
 * After `offlineAfterMisses` silent cycles a meter is offline; presence through the registry's setOnline,
 * which deduplicates. Optional: address discovery of a lone meter (0x13 to AAAAAAAAAAAA) and broadcast
 * time sync (0x08).
 */
import { utcMsToBeijing } from '../../../devices/common/time.ts'
import { BROADCAST_ADDRESS, type Dlt645Message, parseDi, WILDCARD_ADDRESS } from '../../../devices/energy-meter/dlt645/index.ts'
import type { ComponentHealth, Source, SourceContext } from '../../core/types.ts'
import { createLink, formatAddress, type Link, type LinkOptions } from '../../transports/address.ts'
import { createNap } from '../../transports/timers.ts'
import { DEFAULT_DIS, type Dlt645SourceConfig } from './config.ts'
import { createDlt645Bus, type Dlt645Bus, type Dlt645SourceStats, type MeterState } from './session.ts'

export { DEFAULT_DIS, Dlt645SourceConfig } from './config.ts'
export type { Dlt645SourceStats } from './session.ts'

export type Dlt645Source = Source & { stats(): Readonly<Dlt645SourceStats>; meters(): readonly { address: string; device: string; online: boolean | undefined }[] }

/** `opts.open` replaces the serial port (tests, in-memory pairs). */
export function createDlt645Source(cfg: Dlt645SourceConfig, opts: Pick<LinkOptions, 'open'> = {}): Dlt645Source {
  const version = cfg.version
  const defaultDis = (cfg.dis ?? DEFAULT_DIS[version]).map((d) => parseDi(version, d)!)
  const meters: MeterState[] = cfg.meters.map((m) => ({
    address: m.address,
    device: m.device ?? `dlt645-${m.address}`,
    dis: m.dis ? m.dis.map((d) => parseDi(version, d)!) : defaultDis,
    misses: 0,
    answering: undefined,
  }))
  const { path, baudRate, dataBits, parity, stopBits } = cfg.serial
  const address = formatAddress({ scheme: 'serial', serial: { path, baudRate, dataBits, parity, stopBits } })
  const empty: Dlt645SourceStats = { cycles: 0, requests: 0, replies: 0, timeouts: 0, errorReplies: 0, rejected: 0, points: 0, timeSyncs: 0 }
  let link: Link | undefined
  let bus: Dlt645Bus | undefined
  let running = false
  let loop: Promise<void> | undefined
  const nap = createNap()

  const setOnline = (c: SourceContext, m: MeterState, online: boolean, reason?: string) => {
    m.answering = online
    c.devices.setOnline(m.device, online, reason)
  }

  const discover = async (c: SourceContext, b: Dlt645Bus) => {
    const o = await b.transact({ kind: 'read_address_request', address: WILDCARD_ADDRESS }, (x) => x.kind === 'read_address_reply')
    if (o.kind !== 'reply' || o.message.kind !== 'read_address_reply') {
      c.log.warn('address discovery: no meter answered the wildcard read')
      return
    }
    const a = o.message.address
    if (!meters.some((m) => m.address === a)) {
      meters.push({ address: a, device: `dlt645-${a}`, dis: defaultDis, misses: 0, answering: undefined })
      c.log.info({ address: a }, 'meter discovered')
    }
  }

  let lastSync = -Infinity
  const timeSync = async (c: SourceContext, b: Dlt645Bus) => {
    const now = c.now()
    if (cfg.timeSyncIntervalSec <= 0 || now - lastSync < cfg.timeSyncIntervalSec * 1000) return
    lastSync = now
    const t = utcMsToBeijing(now) // meters keep Beijing time
    const msg: Dlt645Message = { kind: 'broadcast_time', address: BROADCAST_ADDRESS, time: { year: t.y, month: t.mo, day: t.d, hour: t.h, minute: t.mi, second: t.s } }
    if (await b.send(msg)) b.stats.timeSyncs++
    else lastSync = -Infinity
  }

  const run = async (c: SourceContext, l: Link, b: Dlt645Bus) => {
    let discovered = !cfg.discover
    while (running) {
      const open = await l.open({ waitMs: 1000 }).then(
        () => true,
        () => false,
      )
      if (!open) continue
      const start = Date.now()
      if (!discovered) {
        await discover(c, b)
        discovered = true
      }
      await timeSync(c, b)
      for (const m of [...meters]) {
        if (!running) break
        const r = await b.pollMeter(m, () => running)
        if (r === 'closed') break
        if (r === 'ok') {
          m.misses = 0
          setOnline(c, m, true)
        } else if (++m.misses >= cfg.offlineAfterMisses) setOnline(c, m, false, 'timeout')
      }
      b.stats.cycles++
      const left = cfg.pollIntervalMs - (Date.now() - start)
      if (running && left > 0) await nap.sleep(left)
    }
  }

  return {
    id: cfg.id,
    type: 'dlt645',
    async start(c) {
      const log = c.log
      running = true
      const b = createDlt645Bus(cfg, version, meters, c, log)
      bus = b
      const l = createLink(address, { reconnectMinMs: cfg.serial.reconnectMinMs, reconnectMaxMs: cfg.serial.reconnectMaxMs, record: c.record, ...opts })
      link = l
      const closed = (reason: string) => {
        b.detach()
        for (const m of meters) setOnline(c, m, false, 'port_closed')
        log.warn({ path, reason }, 'serial port closed; reopening when it comes back')
      }
      l.on('open', (s) => {
        b.attach(s)
        log.info({ path }, 'serial port open')
      })
      l.on('close', closed)
      l.on('open_failed', closed)
      l.start()
      loop = run(c, l, b).catch((err: unknown) => log.error({ err }, 'poll loop failed'))
    },
    async stop() {
      running = false
      nap.wake()
      bus?.detach()
      // Closing the link first ends a loop waiting for the port at once (open() rejects with link_closed).
      const closing = link?.close()
      await loop
      await closing
      await bus?.idle()
    },
    health(): ComponentHealth {
      if (!link) return { status: 'down', detail: 'not started' }
      if (!link.isOpen) return { status: 'down', detail: `${path}: ${link.lastError ?? 'closed'}` }
      const off = meters.filter((m) => m.answering === false).map((m) => m.device)
      return off.length > 0 ? { status: 'degraded', detail: `offline: ${off.join(', ')}` } : { status: 'ok', detail: `${meters.length} meters` }
    },
    owns: (device) => meters.some((m) => m.device === device),
    stats: () => bus?.stats ?? empty,
    meters: () => meters.map((m) => ({ address: m.address, device: m.device, online: m.answering })),
  }
}
