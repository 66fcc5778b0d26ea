/**
 * Modbus sources: `modbus-tcp`, `modbus-rtu` (serial, via serialport) and `modbus-rtu-over-tcp`. The factory
 * validates and allocates; `start` loads the profiles (refusing a wrong one with its key path), makes one
 * link per bus (gateway/transports/address.ts: opened on the first request, reopened with back-off after a
 * drop) and starts one session per bus (session.ts); `stop` waits for the request in flight and for the
 * readings being ingested.
 *
 * A poll's answers become the profile's `telemetry` reading (canonical names, planner.ts `profileReading`),
 * handed to the pipeline in poll order per bus (the transports' ordered queue); the pipeline validates and
 * normalizes it (water quality's GB 3838 class comes from there).
 */
import type { Address } from '../../transports/address.ts'
import { createOrdered, type Ordered } from '../../transports/ordered.ts'
import { encodeValue, type Order, registerCount } from '../../../devices/common/modbus/registers.ts'
import { extractValues, planProfile, profileReading, toRaw } from '../../../devices/common/modbus/planner.ts'
import type { ProfilePoint } from '../../../devices/common/modbus/profile.ts'
import type { Request } from '../../../devices/common/modbus/pdu.ts'
import type { RegisterValue } from '../../../devices/common/modbus/registers.ts'
import type { Protocol } from '../../../devices/common/point.ts'
import type { ComponentHealth, Source, SourceContext, WriteOutcome, WriteRequest } from '../../core/types.ts'
import { type Bus, type BusDevice, createBus, type PollOutcome } from './session.ts'
import type { ModbusSourceConfig } from './config.ts'
import { createModbusLink, type Link } from './link.ts'
import { GatewayError } from '../../core/errors.ts'
import { loadProfile } from './profiles.ts'

export { ModbusRtuOverTcpSourceConfig, ModbusRtuSourceConfig, ModbusTcpSourceConfig } from './config.ts'

interface Owned {
  bus: Bus
  link: Link
  dev: BusDevice
}

export interface ModbusSourceStats {
  polls: number
  failedPolls: number
  requests: number
  maxLatenessMs: number
  /** Lateness of every poll since start (for the benchmark), when `recordLateness` is set. */
  lateness?: number[]
}

export function createModbusSource(cfg: ModbusSourceConfig, opts: { recordLateness?: boolean } = {}): Source & { stats(): ModbusSourceStats } {
  const protocol: Protocol = cfg.type === 'modbus-tcp' ? 'modbus-tcp' : 'modbus-rtu'
  const owned = new Map<string, Owned>()
  const buses: { bus: Bus; link: Link; queue: Ordered }[] = []
  const offline = new Set<string>()
  const lateness: number[] = []
  let ctx: SourceContext | undefined
  let running = false

  const handle = (link: Link, queue: Ordered, o: PollOutcome) => {
    const c = ctx
    if (!c) return
    const d = o.device
    if (opts.recordLateness && !o.probe) lateness.push(o.latenessMs)
    for (const f of o.failures) {
      if (f.code === 'exception') {
        void c.reject({ source: cfg.id, address: link.address, device: d.device, raw: f.raw, reason: 'modbus_exception', detail: `unit ${d.unit}: ${f.name} (${f.exception})` })
      } else if (f.code === 'crc_mismatch' || f.code === 'bad_response') {
        void c.reject({ source: cfg.id, address: link.address, device: d.device, raw: f.raw, reason: f.code, detail: `unit ${d.unit}: ${f.detail}` })
      }
      // Time-outs carry no bytes to keep: they show as the device going offline.
    }
    const values = new Map<string, RegisterValue>()
    o.reads.forEach((read, i) => {
      const a = o.answers[i]
      if (!a) return
      const r = a.response
      const data = 'registers' in r ? { registers: r.registers } : 'bits' in r ? { bits: r.bits } : {}
      for (const [k, v] of extractValues(read, data, d.profile.order)) values.set(k, v)
    })
    const reading = profileReading(d.profile, d.device, values)
    if (!reading) return
    const frames = o.answers.filter(Boolean).length
    // Stamped when the poll was answered (docs/data-model.md: the moment the gateway received the frame), not
    // when the ordered queue reaches it: behind a slow spool commit that was later by the commit's latency.
    const stamped = { ...reading, receivedAt: c.now() }
    queue.push(async () => {
      await c.ingest({ source: cfg.id, device: d.device, kind: d.profile.kind, protocol, readings: [stamped], frames, address: link.address })
    })
  }

  const source: Source & { stats(): ModbusSourceStats } = {
    id: cfg.id,
    type: cfg.type,
    async start(c) {
      ctx = c
      // The gateway's context logger already carries component and id.
      const log = c.log
      const groups = new Map<string, { link: Link; devices: BusDevice[]; queue: Ordered }>()
      const cache = new Map<string, Awaited<ReturnType<typeof loadProfile>>>()
      const problems: string[] = []
      for (const [i, e] of cfg.devices.entries()) {
        let profile = cache.get(e.profile)
        if (!profile) {
          try {
            profile = await loadProfile(e.profile)
            cache.set(e.profile, profile)
          } catch (err) {
            problems.push(`sources.${cfg.id}.devices[${i}].profile: ${(err as Error).message}`)
            continue
          }
        }
        const inv = c.devices.get(e.device)
        if (inv && inv.kind !== profile.kind) {
          problems.push(`sources.${cfg.id}.devices[${i}]: device ${e.device} is ${inv.kind} in the inventory, profile ${profile.name} is ${profile.kind}`)
          continue
        }
        if (owned.has(e.device)) {
          problems.push(`sources.${cfg.id}.devices[${i}].device: ${e.device} listed twice`)
          continue
        }
        let key: string
        let address: Address
        if (cfg.type === 'modbus-rtu') {
          key = cfg.path
          address = { scheme: 'serial', serial: { path: cfg.path, baudRate: cfg.baudRate, dataBits: cfg.dataBits, parity: cfg.parity, stopBits: cfg.stopBits } }
        } else {
          const host = (cfg.type === 'modbus-tcp' ? e.host : undefined) ?? cfg.host
          const port = (cfg.type === 'modbus-tcp' ? e.port : undefined) ?? cfg.port
          key = `${host}:${port}`
          address = { scheme: cfg.type === 'modbus-tcp' ? 'tcp' : 'rtu-over-tcp', host, port }
        }
        let g = groups.get(key)
        if (!g) {
          const link = createModbusLink({ framing: cfg.type === 'modbus-tcp' ? 'tcp' : 'rtu', address, name: key, record: c.record, ...(cfg.type === 'modbus-rtu' ? {} : { connectTimeoutMs: cfg.connectTimeoutMs }) })
          // Readings of one bus reach the pipeline in poll order; a failed ingest is logged, the bus goes on.
          const queue = createOrdered({ onError: (err) => log.error({ err, bus: key }, 'ingest failed') })
          g = { link, devices: [], queue }
          groups.set(key, g)
        }
        const dev: BusDevice = {
          device: e.device,
          unit: e.unit,
          profile,
          reads: planProfile(profile, cfg.maxGap !== undefined ? { maxGap: cfg.maxGap } : {}),
          intervalMs: e.intervalMs,
          timeoutMs: e.timeoutMs ?? cfg.timeoutMs,
          retries: e.retries ?? cfg.retries,
        }
        g.devices.push(dev)
        owned.set(e.device, { bus: undefined as unknown as Bus, link: g.link, dev }) // bus set below
      }
      if (problems.length > 0) {
        owned.clear()
        throw new GatewayError('bad_modbus_config', problems.join('\n'))
      }
      const spread = Math.min(...cfg.devices.map((e) => e.intervalMs))
      for (const [i, g] of [...groups.values()].entries()) {
        const bus = createBus(
          g.link,
          g.devices,
          {
            pauseMs: cfg.pauseMs,
            failuresBeforeBackoff: cfg.failuresBeforeBackoff,
            backoffMs: cfg.backoffMs,
            maxBackoffMs: cfg.maxBackoffMs,
            // Many buses (Modbus TCP devices each on its own address) start spread over the shortest interval.
            startOffsetMs: Math.floor((spread * i) / groups.size),
          },
          {
            onPoll: (o) => handle(g.link, g.queue, o),
            onState: (device, online, reason) => {
              if (online) offline.delete(device)
              else offline.add(device)
              c.devices.setOnline(device, online, reason)
            },
          },
        )
        for (const d of g.devices) owned.get(d.device)!.bus = bus
        buses.push({ bus, link: g.link, queue: g.queue })
      }
      for (const b of buses) b.bus.start()
      running = true
      log.info({ buses: buses.length, devices: owned.size }, 'modbus source started')
    },
    async stop() {
      await Promise.all(buses.map((b) => b.bus.stop()))
      await Promise.all(buses.map((b) => b.queue.idle()))
      await Promise.all(buses.map((b) => b.link.close()))
      buses.length = 0
      running = false
    },
    health(): ComponentHealth {
      if (!running) return { status: 'down', detail: 'not running' }
      const st = source.stats()
      const counts = `${owned.size} devices on ${buses.length} buses, ${st.polls} polls (${st.failedPolls} unanswered)`
      if (offline.size === 0) return { status: 'ok', detail: counts }
      return { status: 'degraded', detail: `${counts}; offline: ${[...offline].sort().join(', ')}` }
    },
    owns: (device) => cfg.devices.some((e) => e.device === device),
    async write(device, req) {
      return writePoint(owned.get(device), req)
    },
    stats() {
      const s = { polls: 0, failedPolls: 0, requests: 0, maxLatenessMs: 0 }
      for (const b of buses) {
        const x = b.bus.stats()
        s.polls += x.polls
        s.failedPolls += x.failedPolls
        s.requests += x.requests
        s.maxLatenessMs = Math.max(s.maxLatenessMs, x.maxLatenessMs)
      }
      return opts.recordLateness ? { ...s, lateness } : s
    },
  }
  return source
}

/** The point a write names: by canonical field, point name, or register/coil address. */
function findPoint(points: readonly ProfilePoint[], req: WriteRequest): ProfilePoint | undefined {
  if (req.field !== undefined) return points.find((p) => p.field === req.field || p.name === req.field)
  if (req.address !== undefined) {
    // An address may be shared by a coil and a register: prefer a writable point.
    const at = points.filter((p) => p.address === req.address)
    return at.find((p) => p.writable) ?? at[0]
  }
  return undefined
}

/** Build the write request of a point: FC 5/6 for one coil/register, FC 15/16 for `multiple` or wider values. */
export function buildWrite(p: ProfilePoint, value: number | boolean, defaultOrder: Order): { ok: true; req: Request } | { ok: false; code: string; message: string } {
  if (!p.writable) return { ok: false, code: 'not_writable', message: `${p.name} is read-only in the profile` }
  if (p.function === 'coil') {
    if (typeof value !== 'boolean' && value !== 0 && value !== 1) return { ok: false, code: 'wrong_type', message: `${p.name} is a coil: write true or false` }
    const on = value === true || value === 1
    return { ok: true, req: p.writeFunction === 'multiple' ? { fc: 15, address: p.address, values: [on] } : { fc: 5, address: p.address, value: on } }
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) return { ok: false, code: 'wrong_type', message: `${p.name} needs a number` }
  if ((p.min !== undefined && value < p.min) || (p.max !== undefined && value > p.max)) {
    return { ok: false, code: 'out_of_range', message: `${p.name}: ${value} outside ${p.min ?? '-inf'}..${p.max ?? 'inf'}${p.unit ? ` ${p.unit}` : ''}` }
  }
  const raw = toRaw(value, p)
  const enc = encodeValue(raw, { type: p.type, order: p.order ?? defaultOrder })
  if (!enc.ok) return { ok: false, code: enc.reason === 'out_of_range' ? 'out_of_range' : 'wrong_type', message: `${p.name}: ${enc.detail}` }
  const single = registerCount(p.type, p.length) === 1 && p.writeFunction !== 'multiple'
  return { ok: true, req: single ? { fc: 6, address: p.address, value: enc.registers[0]! } : { fc: 16, address: p.address, values: enc.registers } }
}
async function writePoint(o: Owned | undefined, req: WriteRequest): Promise<WriteOutcome> {
  if (!o) return { ok: false, code: 'unknown_device', message: 'this source does not poll that device' }
  const p = findPoint(o.dev.profile.points, req)
  if (!p) return { ok: false, code: 'unknown_point', message: `no point ${req.field ?? `at address ${req.address}`} in profile ${o.dev.profile.name}` }
  const w = buildWrite(p, req.value, o.dev.profile.order)
  if (!w.ok) return w
  const r = await o.bus.write(o.dev.unit, w.req, o.dev.timeoutMs)
  if (r.ok) return { ok: true, detail: `FC${w.req.fc} ${p.name} at ${p.address} = ${String(req.value)}` }
  if (r.code === 'exception') return { ok: false, code: 'modbus_exception', message: `device refused: ${r.name} (${r.exception})` }
  return { ok: false, code: r.code, message: r.detail }
}
