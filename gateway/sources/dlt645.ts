/**
 * DL/T 645 master on an RS-485 bus: polls the configured data identifiers of each meter in turn and stores
 * one `energy_meter` point per meter per cycle. Half duplex: one request in flight at a time.
 * - A silent meter costs one `responseTimeoutMs` per cycle (the rest of its DIs are skipped), so it never
 *   holds the others; after `offlineAfterMisses` silent cycles it is marked offline.
 * - Abnormal replies (0xD1 / 0xC1) are dead-lettered with the error word as the reason
 *   (`meter_error_no_data`, ...); the meter is online (it answered).
 * - A reply with a data identifier the table does not know is a good frame: it counts for the meter's
 *   presence and frame counters, gives no field, and is not dead-lettered.
 * - Optional: address discovery of a lone meter (0x13 to AAAAAAAAAAAA) and broadcast time sync (0x08).
 */
import {
  BROADCAST_ADDRESS,
  createDlt645Framer,
  type Dlt645Message,
  decodeDataValue,
  decodeMessage,
  diToString,
  encodeMessage,
  errorReason,
  errorWordNames,
  parseDi,
  WILDCARD_ADDRESS,
} from '../../devices/energy-meter/dlt645.ts'
import { EnergyMeterReading } from '../../devices/energy-meter/schema.ts'
import { utcMsToBeijing } from '../../devices/common/time.ts'
import type { ComponentHealth, Logger, Source, SourceContext } from '../core/types.ts'
import { createSerialLink, type SerialLink, type SerialLinkOptions } from '../transports/serial.ts'
import { DEFAULT_DIS, type Dlt645SourceConfig } from './dlt645-config.ts'
import { createNap } from '../transports/timers.ts'
import { type Reason, zodReason } from '../../devices/common/reasons.ts'

interface MeterState {
  address: string
  device: string
  dis: number[]
  misses: number
  online: boolean | undefined
}

export interface Dlt645SourceStats {
  cycles: number
  requests: number
  replies: number
  timeouts: number
  errorReplies: number
  rejected: number
  points: number
  timeSyncs: number
}

export type Dlt645Source = Source & { stats(): Readonly<Dlt645SourceStats>; meters(): readonly { address: string; device: string; online: boolean | undefined }[] }

type Outcome = { kind: 'reply'; message: Dlt645Message; raw: Buffer } | { kind: 'timeout' } | { kind: 'closed' }

export function createDlt645Source(cfg: Dlt645SourceConfig, opts: SerialLinkOptions = {}): Dlt645Source {
  const version = cfg.version
  const defaultDis = (cfg.dis ?? DEFAULT_DIS[version]).map((d) => parseDi(version, d)!)
  const meters: MeterState[] = cfg.meters.map((m) => ({
    address: m.address,
    device: m.device ?? `dlt645-${m.address}`,
    dis: m.dis ? m.dis.map((d) => parseDi(version, d)!) : defaultDis,
    misses: 0,
    online: undefined,
  }))
  const stats: Dlt645SourceStats = { cycles: 0, requests: 0, replies: 0, timeouts: 0, errorReplies: 0, rejected: 0, points: 0, timeSyncs: 0 }
  const framer = createDlt645Framer()
  let link: SerialLink | undefined
  let ctx: SourceContext | undefined
  let log: Logger | undefined
  let running = false
  let loop: Promise<void> | undefined
  const sleeper = createNap()
  let pending: { match: (m: Dlt645Message) => boolean; resolve: (o: Outcome) => void } | undefined
  let chain: Promise<unknown> = Promise.resolve()
  const enqueue = (f: () => Promise<unknown>) => {
    chain = chain.then(f).catch((err: unknown) => log?.error({ err }, 'ingest failed'))
  }

  const reject = (raw: Uint8Array | string, reason: Reason, detail?: string, device?: string) => {
    stats.rejected++
    const c = ctx!
    enqueue(() => c.reject({ source: cfg.id, address: cfg.serial.path, raw, reason, ...(detail ? { detail } : {}), ...(device ? { device } : {}) }))
  }

  const deviceOf = (address: string) => meters.find((m) => m.address === address)?.device

  const onData = (chunk: Buffer) => {
    for (const ev of framer.push(chunk)) {
      if (!ev.ok) {
        reject(ev.raw, ev.reason, ev.detail)
        continue
      }
      const r = decodeMessage(ev.frame)
      if (!r.ok) {
        reject(ev.frame, r.reason, r.detail)
        continue
      }
      const m = r.value.message
      if ((r.value.frame.control & 0x80) === 0) continue // a request: our own echo on a two-wire bus
      if (pending?.match(m)) {
        const p = pending
        pending = undefined
        p.resolve({ kind: 'reply', message: m, raw: ev.frame })
      } else {
        reject(ev.frame, 'unexpected_reply', `a reply from ${r.value.frame.address} nobody waited for (late or foreign)`, deviceOf(r.value.frame.address))
      }
    }
  }

  const sleep = sleeper.sleep

  const transact = async (req: Dlt645Message, match: (m: Dlt645Message) => boolean): Promise<Outcome> => {
    const l = link!
    if (!l.isOpen) return { kind: 'closed' }
    stats.requests++
    const outcome = new Promise<Outcome>((resolve) => {
      const t = setTimeout(() => {
        if (pending?.resolve === done) pending = undefined
        resolve({ kind: 'timeout' })
      }, cfg.responseTimeoutMs)
      const done = (o: Outcome) => {
        clearTimeout(t)
        resolve(o)
      }
      pending = { match, resolve: done }
    })
    try {
      await l.write(encodeMessage(req, cfg.preamble))
    } catch {
      pending?.resolve({ kind: 'closed' })
      pending = undefined
    }
    return outcome
  }

  const pollMeter = async (m: MeterState): Promise<'ok' | 'silent' | 'closed'> => {
    const fields: Record<string, number> = {}
    let answered = false
    let good = 0 // decoded replies: the meter's frame counter
    for (const di of m.dis) {
      if (!running) return 'closed'
      const o = await transact({ kind: 'read_request', version, address: m.address, di }, (x) =>
        (x.kind === 'read_reply' && x.address === m.address && x.di === di) || (x.kind === 'error_reply' && x.address === m.address),
      )
      if (o.kind === 'closed') return 'closed'
      if (o.kind === 'timeout') {
        stats.timeouts++
        if (!answered) return 'silent' // do not spend a time-out on each DI of a silent meter
        continue
      }
      answered = true
      stats.replies++
      const msg = o.message
      if (msg.kind === 'error_reply') {
        stats.errorReplies++
        reject(o.raw, errorReason(msg.errorWord), `DI ${diToString(version, di)}: error word 0x${msg.errorWord.toString(16).padStart(2, '0')} (${errorWordNames(msg.errorWord).join(', ') || 'none'})`, m.device)
        continue
      }
      if (msg.kind !== 'read_reply') continue
      const v = decodeDataValue(version, di, msg.data)
      if (!v.ok) {
        reject(o.raw, v.reason, `DI ${diToString(version, di)}: ${v.detail ?? ''}`, m.device)
        continue
      }
      good++
      Object.assign(fields, v.value.fields)
    }
    const c = ctx!
    if (Object.keys(fields).length > 0) {
      const reading = EnergyMeterReading.safeParse(fields)
      if (!reading.success) {
        const v = zodReason(reading.error)
        reject(JSON.stringify(fields), v.reason, v.detail, m.device)
      } else {
        stats.points++
        const point = { measurement: 'energy_meter', tags: {}, fields: reading.data as Record<string, number>, time: c.now() }
        enqueue(() => c.ingest({ source: cfg.id, device: m.device, kind: 'energy_meter', protocol: 'dlt645', points: [point], frames: good }))
      }
    } else if (good > 0) {
      // good replies without a stored field (unknown or decoded-only DIs): presence and counters, no point
      enqueue(() => c.ingest({ source: cfg.id, device: m.device, kind: 'energy_meter', protocol: 'dlt645', points: [], frames: good }))
    }
    return answered ? 'ok' : 'silent'
  }

  const setOnline = (m: MeterState, online: boolean, reason?: string) => {
    if (m.online === online) return
    m.online = online
    ctx!.devices.setOnline(m.device, online, reason)
  }

  const discover = async () => {
    const o = await transact({ kind: 'read_address_request', address: WILDCARD_ADDRESS }, (x) => x.kind === 'read_address_reply')
    if (o.kind !== 'reply' || o.message.kind !== 'read_address_reply') {
      log?.warn('address discovery: no meter answered the wildcard read')
      return
    }
    const address = o.message.address
    if (!meters.some((m) => m.address === address)) {
      meters.push({ address, device: `dlt645-${address}`, dis: defaultDis, misses: 0, online: undefined })
      log?.info({ address }, 'meter discovered')
    }
  }

  let lastSync = -Infinity
  const timeSync = async () => {
    const now = ctx!.now()
    if (cfg.timeSyncIntervalSec <= 0 || now - lastSync < cfg.timeSyncIntervalSec * 1000) return
    lastSync = now
    const b = utcMsToBeijing(now) // meters keep Beijing time
    const msg: Dlt645Message = { kind: 'broadcast_time', address: BROADCAST_ADDRESS, time: { year: b.y, month: b.mo, day: b.d, hour: b.h, minute: b.mi, second: b.s } }
    try {
      await link!.write(encodeMessage(msg, cfg.preamble))
      stats.timeSyncs++
    } catch {
      lastSync = -Infinity
    }
  }

  const run = async () => {
    let discovered = !cfg.discover
    while (running) {
      if (!(await link!.waitOpen(1000))) continue
      const start = Date.now()
      if (!discovered) {
        await discover()
        discovered = true
      }
      await timeSync()
      for (const m of [...meters]) {
        if (!running) break
        const r = await pollMeter(m)
        if (r === 'closed') break
        if (r === 'ok') {
          m.misses = 0
          setOnline(m, true)
        } else if (++m.misses >= cfg.offlineAfterMisses) setOnline(m, false, 'timeout')
      }
      stats.cycles++
      const left = cfg.pollIntervalMs - (Date.now() - start)
      if (running && left > 0) await sleep(left)
    }
  }

  return {
    id: cfg.id,
    type: 'dlt645',
    async start(c) {
      ctx = c
      // The gateway's context logger already carries component and id.
      log = c.log
      running = true
      link = createSerialLink(cfg.serial, {
        onData,
        onOpen: () => {
          framer.reset()
          log?.info({ path: cfg.serial.path }, 'serial port open')
        },
        onClose: (reason) => {
          pending?.resolve({ kind: 'closed' })
          pending = undefined
          for (const m of meters) setOnline(m, false, 'port_closed')
          log?.warn({ path: cfg.serial.path, reason }, 'serial port closed; reopening when it comes back')
        },
      }, opts)
      link.start()
      loop = run().catch((err: unknown) => log?.error({ err }, 'poll loop failed'))
    },
    async stop() {
      running = false
      sleeper.wake()
      pending?.resolve({ kind: 'closed' })
      pending = undefined
      await loop
      await link?.stop()
      await chain
    },
    health(): ComponentHealth {
      if (!link) return { status: 'down', detail: 'not started' }
      if (!link.isOpen) return { status: 'down', detail: `${cfg.serial.path}: ${link.lastError ?? 'closed'}` }
      const off = meters.filter((m) => m.online === false).map((m) => m.device)
      return off.length > 0 ? { status: 'degraded', detail: `offline: ${off.join(', ')}` } : { status: 'ok', detail: `${meters.length} meters` }
    },
    owns: (device) => meters.some((m) => m.device === device),
    stats: () => stats,
    meters: () => meters.map((m) => ({ address: m.address, device: m.device, online: m.online })),
  }
}
