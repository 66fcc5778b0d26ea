/**
 * Serial devices of the demo district, each on a socat pseudo-terminal pair that the gateway opens as a real
 * serial port: a BeiDou/GNSS receiver on a bus driving a loop through Gaoxin (NMEA 0183 at 1 Hz, a tunnel
 * where the fix is lost), and an RS-485 bus of DL/T 645-2007 meters (2400 8E1) polled by the gateway.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { createNmeaFramer, decodeSentence } from '../../devices/position/nmea/index.ts'
import { createDlt645Framer, decodeMessage } from '../../devices/energy-meter/dlt645/index.ts'
import type { MeterBus } from '../../simulators/dlt645/bus.ts'
import { createGnssReceiver, type EpochTruth } from '../../simulators/gnss/receiver.ts'
import { breakNmea, refusalsOf } from './bad-frames.ts'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Dlt645Simulator, startDlt645Simulator } from '../../simulators/dlt645/index.ts'
import { type GnssSimulator, startGnssSimulator } from '../../simulators/gnss/index.ts'
import { createPtyPair, type PtyPair } from '../../simulators/serial/pty.ts'
import type { DemoPart } from './types.ts'

const GNSS_DEVICE = 'bus-101-gnss'
const METERS = [
  { address: '000000000161', device: 'meter-0161', site: 'Gaoxin No.1 substation, feeder 3', baseLoadKw: 42 },
  { address: '110101000002', device: 'meter-0002', site: 'Software Park building D', baseLoadKw: 18 },
  { address: '110101000003', device: 'meter-0003', site: 'Jinye Rd street lighting cabinet', baseLoadKw: 6 },
] as const

function haveSocat(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v socat'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

export const serialPart: DemoPart = {
  id: 'serial',
  name: 'serial devices (BeiDou NMEA receiver, DL/T 645 meter bus)',
  async prepare(ctx) {
    if (!haveSocat()) throw new Error('socat is not installed (apt-get install socat)')
    const dir = mkdtempSync(join(tmpdir(), 'smartcity-serial-'))
    const ptys: PtyPair[] = []
    let gnss: GnssSimulator | undefined
    let meters: Dlt645Simulator | undefined
    const stop = async () => {
      await gnss?.stop().catch(() => undefined)
      await meters?.stop().catch(() => undefined)
      for (const p of ptys) await p.stop()
      rmSync(dir, { recursive: true, force: true })
    }
    try {
      const gnssPty = await createPtyPair(join(dir, 'gnss-receiver'), join(dir, 'gnss-gateway'))
      ptys.push(gnssPty)
      const busPty = await createPtyPair(join(dir, 'rs485-meters'), join(dir, 'rs485-gateway'))
      ptys.push(busPty)
      gnss = await startGnssSimulator({ path: gnssPty.a, speedKmh: 35 })
      meters = await startDlt645Simulator({ path: busPty.a, meters: METERS.map((m) => ({ address: m.address, baseLoadKw: m.baseLoadKw })) })
      return {
        sources: [
          { type: 'nmea' as const, id: 'gnss-bus-101', device: GNSS_DEVICE, serial: { path: gnssPty.b, baudRate: 9600 } },
          {
            type: 'dlt645' as const,
            id: 'dlt645-bus-1',
            serial: { path: busPty.b },
            meters: METERS.map((m) => ({ address: m.address, device: m.device })),
            pollIntervalMs: 5_000,
            timeSyncIntervalSec: 3_600,
          },
        ],
        devices: [
          { id: GNSS_DEVICE, kind: 'position' as const, district: ctx.district, site: 'bus route 101 (Gaoxin loop)', protocol: 'nmea' as const, offlineAfterSec: 30 },
          ...METERS.map((m) => ({ id: m.device, kind: 'energy_meter' as const, district: ctx.district, site: m.site, protocol: 'dlt645' as const, offlineAfterSec: 60 })),
        ],
        async start() {},
        describe: () => [
          `GNSS receiver (BeiDou + GPS, NMEA 0183 at 1 Hz) on ${gnssPty.a} <-> gateway ${gnssPty.b}: bus 101 loops through Gaoxin, fix lost in a tunnel`,
          `DL/T 645-2007 bus (2400 8E1) on ${busPty.a} <-> gateway ${busPty.b}: meters ${METERS.map((m) => m.address).join(', ')} polled every 5 s`,
        ],
        stop,
      }
    } catch (err) {
      await stop()
      throw err
    }
  },
}

// --- simdev: serial devices as scenario device entries (`smartcity simulate`) ---
/** How long after the gateway opened (or re-opened) a port its first sentences may still be lost. */
const SETTLE_MS = 2_000

export interface GnssReceiverPartOptions {
  device: string
  sourceId: string
  route?: readonly (readonly [number, number])[]
  /** Vehicle speed in model time (km/h; multiplied by `modelSpeed` on the wall clock). */
  speedKmh: number
  modelSpeed?: number
  tunnels?: readonly (readonly [number, number])[]
  /** The gateway end's path (absent: in the run directory). */
  path?: string
  /** Each epoch written while the gateway could hear it (simulate's ground truth). */
  onEpoch?: (device: string, e: { lines: string[]; truth: EpochTruth }) => void
}

/** A BeiDou/GNSS receiver (NMEA 0183 at 1 Hz) on a pseudo-terminal, with faults (bad sentences, clock skew, the port pulled). */
export function gnssReceiverPart(o: GnssReceiverPartOptions): DemoPart {
  return {
    id: `nmea-${o.device}`,
    name: `GNSS receiver ${o.device}`,
    async prepare(ctx) {
      if (!haveSocat()) throw new Error('socat is not installed (apt-get install socat)')
      const dir = join(ctx.dataDir, 'pty')
      mkdirSync(dir, { recursive: true })
      const gw = o.path ?? join(dir, `${o.sourceId}-gateway`)
      const simEnd = join(dir, `${o.sourceId}-receiver`)
      let pty = await createPtyPair(simEnd, gw)
      let offset = 0
      /** Epochs before this wall time are not ground truth (the gateway was not listening yet). */
      let hearFrom = Number.POSITIVE_INFINITY
      let last = ''
      const receiver = createGnssReceiver({ speedKmh: o.speedKmh * (o.modelSpeed ?? 1), ...(o.route ? { route: o.route } : {}), tunnels: o.tunnels ?? [] })
      const open = () =>
        startGnssSimulator({
          path: pty.a,
          receiver,
          now: () => Date.now() + offset,
          onEpoch: (e) => {
            last = e.lines[0] ?? last
            if (Date.now() >= hearFrom) o.onEpoch?.(o.device, e)
          },
        })
      let sim: GnssSimulator = await open()
      return {
        sources: [{ type: 'nmea' as const, id: o.sourceId, device: o.device, serial: { path: gw, baudRate: 9600, reconnectMinMs: 100, reconnectMaxMs: 1000 } }],
        devices: [{ id: o.device, kind: 'position' as const, district: ctx.district, site: `GNSS receiver ${o.device}`, protocol: 'nmea' as const }],
        async start() {
          hearFrom = Date.now() + SETTLE_MS
        },
        async badFrame(id, kind) {
          if (id !== o.device || !last) return undefined
          const bad = breakNmea(last, kind)
          if (!sim.write(bad)) return undefined
          return refusalsOf(createNmeaFramer(), decodeSentence, Buffer.from(bad), Buffer.from(last))
        },
        clockSkew(id, ms) {
          if (id !== o.device) return false
          offset = ms
          return true
        },
        async unplug(id, forMs) {
          if (id !== o.device) return false
          hearFrom = Number.POSITIVE_INFINITY
          await sim.stop()
          await pty.stop()
          await sleep(forMs)
          pty = await createPtyPair(simEnd, gw)
          sim = await open()
          hearFrom = Date.now() + SETTLE_MS
          return true
        },
        describe: () => [`GNSS receiver ${o.device} (NMEA 0183, 1 Hz) on ${simEnd} <-> gateway ${gw}`],
        async stop() {
          await sim.stop().catch(() => undefined)
          await pty.stop()
        },
      }
    },
  }
}

export interface Dlt645BusPartOptions {
  sourceId: string
  meters: readonly { device: string; address: string; baseLoadKw?: number }[]
  pollIntervalMs: number
  path?: string
  /** The meters' model clock (cli/simulate/clock.ts `now`). */
  now?: () => number
  /** Each good reply sent (simulate's ground truth): the meter's device, the fields it carried, its data identifier and bytes. */
  onReply?: (device: string, fields: Record<string, number>, reply: { di: number; raw: Buffer; delayMs: number }) => void
}

/** An RS-485 bus of DL/T 645-2007 meters on a pseudo-terminal, with faults (bad checksums, slow answers, the port pulled). */
export function dlt645BusPart(o: Dlt645BusPartOptions): DemoPart {
  return {
    id: `dlt645-${o.sourceId}`,
    name: `DL/T 645 bus ${o.sourceId}`,
    async prepare(ctx) {
      if (!haveSocat()) throw new Error('socat is not installed (apt-get install socat)')
      const dir = join(ctx.dataDir, 'pty')
      mkdirSync(dir, { recursive: true })
      const gw = o.path ?? join(dir, `${o.sourceId}-gateway`)
      const simEnd = join(dir, `${o.sourceId}-meters`)
      let pty = await createPtyPair(simEnd, gw)
      const byAddress = new Map(o.meters.map((m) => [m.address.padStart(12, '0'), m.device]))
      let bus: MeterBus | undefined
      const faults = { corruptNext: new Map<string, number>(), slowMs: new Map<string, number>() }
      const addressOf = new Map(o.meters.map((m) => [m.device, m.address.padStart(12, '0')]))
      /** badFrame calls waiting for their broken reply to go out, by meter address. */
      const waiting = new Map<string, ((r: Record<string, number>) => void)[]>()
      const open = async () => {
        const s = await startDlt645Simulator({
          path: pty.a,
          meters: o.meters.map((m) => ({ address: m.address.padStart(12, '0'), loadCurve: true, ...(m.baseLoadKw !== undefined ? { baseLoadKw: m.baseLoadKw } : {}) })),
          ...(bus ? { bus } : {}),
          faults,
          ...(o.now ? { now: o.now } : {}),
          onReply: (reply, corrupt, delayMs, sent) => {
            if (corrupt) {
              // What the gateway's framer says of these very bytes (followed by a frame like them).
              const a = s.bus.replyFields(reply)?.address
              const w = a === undefined ? undefined : waiting.get(a)?.shift()
              w?.(refusalsOf(createDlt645Framer(), decodeMessage, sent, reply))
            }
            const r = corrupt ? undefined : s.bus.replyFields(reply)
            const device = r ? byAddress.get(r.address) : undefined
            if (r && device && Object.keys(r.fields).length > 0) o.onReply?.(device, r.fields, { di: r.di, raw: reply, delayMs })
          },
        })
        bus = s.bus
        return s
      }
      let sim: Dlt645Simulator = await open()
      const has = (id: string) => addressOf.has(id)
      return {
        sources: [
          {
            type: 'dlt645' as const,
            id: o.sourceId,
            serial: { path: gw, reconnectMinMs: 100, reconnectMaxMs: 1000 },
            meters: o.meters.map((m) => ({ address: m.address, device: m.device })),
            pollIntervalMs: o.pollIntervalMs,
            responseTimeoutMs: 800, // the default: a loaded machine answers a pty late, and a late answer is refused (unexpected_reply)
          },
        ],
        devices: o.meters.map((m) => ({ id: m.device, kind: 'energy_meter' as const, district: ctx.district, site: `DL/T 645 meter ${m.address}`, protocol: 'dlt645' as const })),
        async start() {},
        async badFrame(id, kind) {
          const address = addressOf.get(id)
          if (address === undefined || kind !== 'crc') return undefined
          faults.corruptNext.set(address, (faults.corruptNext.get(address) ?? 0) + 1)
          // Resolved when the broken reply went out (the gateway polls when it polls), or empty if it never asked.
          return new Promise<Record<string, number>>((resolve) => {
            const list = waiting.get(address) ?? []
            waiting.set(address, list)
            const timer = setTimeout(() => {
              list.splice(list.indexOf(done), 1)
              resolve({})
            }, 10 * o.pollIntervalMs + 2_000)
            const done = (r: Record<string, number>) => {
              clearTimeout(timer)
              resolve(r)
            }
            list.push(done)
          })
        },
        slowAnswers(id, delayMs, forMs) {
          const address = addressOf.get(id)
          if (address === undefined) return false
          faults.slowMs.set(address, delayMs)
          setTimeout(() => faults.slowMs.delete(address), forMs).unref()
          return true
        },
        async unplug(id, forMs) {
          if (!has(id)) return false
          await sim.stop()
          await pty.stop()
          await sleep(forMs)
          pty = await createPtyPair(simEnd, gw)
          sim = await open()
          return true
        },
        describe: () => [`DL/T 645-2007 bus ${o.sourceId}: meters ${o.meters.map((m) => m.address).join(', ')} on ${simEnd} <-> gateway ${gw}`],
        async stop() {
          await sim.stop().catch(() => undefined)
          await pty.stop()
        },
      }
    },
  }
}
