/**
 * Demo part: Modbus devices of the pilot district. Energy meters (Eastron SDM630 and Chint DTSU666) behind a
 * Modbus TCP gateway, and water sondes on an RS-485 bus simulated on a socat pseudo-terminal pair (or behind
 * a transparent serial server when socat is missing). One sonde on the bus is dead, to show a bus that keeps
 * polling the others and a device that shows offline.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { BUILTIN_PROFILES } from '../../devices/modbus-profiles.ts'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ModbusProfile } from '../../devices/common/modbus/profile.ts'
import { type AnswerEvent, type PtyPair, type SimDevice, type Slave, simulateRtu, simulateRtuOverTcp, simulateTcp, startPtyPair } from '../../simulators/modbus/index.ts'
import type { ModelOptions } from '../../simulators/modbus/model.ts'
import { createPtyPair } from '../../simulators/serial/pty.ts'
import type { DemoPart, DemoPartHandle } from './types.ts'

const METERS = [
  { id: 'em-0001', unit: 1, profile: 'eastron-sdm630', site: 'Gaoxin No.1 Middle School, main board' },
  { id: 'em-0002', unit: 2, profile: 'eastron-sdm630', site: 'Tangyan Rd pumping station' },
  { id: 'em-0003', unit: 3, profile: 'chint-dtsu666', site: 'Keji 8th Rd street lighting cabinet' },
  { id: 'em-0004', unit: 4, profile: 'chint-dtsu666', site: 'Zhangba community heat exchanger' },
] as const

const SONDES = [
  { id: 'wq-rtu-01', unit: 1, site: 'Zaohe River, Fengcheng Rd bridge (RS-485)' },
  { id: 'wq-rtu-02', unit: 2, site: 'Zaohe River, Keji 8th Rd outfall (RS-485)' },
  { id: 'wq-rtu-03', unit: 3, site: 'Yuhe Lake inlet (RS-485)', waterBody: 'lake' },
  // Wired on the bus but not answering: shows as offline, and the others keep their interval.
  { id: 'wq-rtu-04', unit: 4, site: 'Yuhe Lake outlet (RS-485, dead probe)', dead: true },
] as const

function profile(name: string) {
  const p = BUILTIN_PROFILES.get(name)
  if (!p) throw new Error(`no built-in profile ${name}`)
  return p
}

export const modbusPart: DemoPart = {
  id: 'modbus',
  name: 'Modbus energy meters (TCP) and water sondes (RTU)',
  async prepare(ctx) {
    const tcpPort = await ctx.freePort()
    const meters = await simulateTcp({ port: tcpPort, devices: METERS.map((m) => ({ unit: m.unit, profile: profile(m.profile) })) })
    const sondeDevices: SimDevice[] = SONDES.map((s) => ({ unit: s.unit, profile: profile('generic-sonde'), ...('dead' in s ? { fault: { kind: 'silent' as const } } : {}) }))
    let pty: PtyPair | undefined
    let bus: { close(): Promise<void> }
    let busSource: DemoPartHandle['sources'][number]
    let busWhere: string
    const busCommon = {
      id: 'river-rs485',
      timeoutMs: 300,
      retries: 1,
      pauseMs: 20,
      devices: SONDES.map((s) => ({ device: s.id, unit: s.unit, profile: 'generic-sonde', intervalMs: 5_000 })),
    }
    try {
      const dir = join(ctx.dataDir, 'pty')
      mkdirSync(dir, { recursive: true })
      pty = await startPtyPair(dir, 'rs485')
      bus = await simulateRtu({ path: pty.b, devices: sondeDevices })
      busSource = { type: 'modbus-rtu', path: pty.a, ...busCommon }
      busWhere = `an RS-485 bus on the pseudo-terminal ${pty.a} (socat; the sondes answer on ${pty.b})`
    } catch (err) {
      await pty?.stop()
      pty = undefined
      ctx.log.warn({ err }, 'socat unavailable: the RS-485 bus is simulated behind a serial server on TCP instead')
      const port = await ctx.freePort()
      bus = await simulateRtuOverTcp({ port, devices: sondeDevices })
      busSource = { type: 'modbus-rtu-over-tcp', host: '127.0.0.1', port, ...busCommon }
      busWhere = `RTU over TCP at 127.0.0.1:${port} (a transparent serial server)`
    }
    return {
      sources: [
        {
          type: 'modbus-tcp',
          id: 'meters-tcp',
          host: '127.0.0.1',
          port: tcpPort,
          devices: METERS.map((m) => ({ device: m.id, unit: m.unit, profile: m.profile, intervalMs: 2_000 })),
        },
        busSource,
      ],
      devices: [
        ...METERS.map((m) => ({ id: m.id, kind: 'energy_meter' as const, district: ctx.district, site: m.site, protocol: 'modbus-tcp' as const })),
        ...SONDES.map((s) => ({
          id: s.id,
          kind: 'water_quality' as const,
          district: ctx.district,
          site: s.site,
          protocol: 'modbus-rtu' as const,
          options: 'waterBody' in s ? { waterBody: s.waterBody } : {},
        })),
      ],
      async start() {},
      describe: (gateway) => [
        `${METERS.length} energy meters (SDM630, DTSU666) on a Modbus TCP gateway at 127.0.0.1:${tcpPort}, polled every 2 s`,
        `${SONDES.length} water sondes on ${busWhere}, polled every 5 s; ${SONDES.filter((s) => 'dead' in s).map((s) => s.id).join(', ')} does not answer`,
        ...(gateway?.http
          ? [`write a sonde setting: curl -XPOST -H 'content-type: application/json' -d '{"field":"averaging_s","value":30}' ${gateway.http}/api/devices/wq-rtu-01/write`]
          : []),
      ],
      async stop() {
        await meters.close()
        await bus.close()
        await pty?.stop()
      },
    }
  },
}

// --- simdev: one Modbus bus as a scenario device entry (`smartcity simulate`) ---
export interface ModbusBusOptions {
  /** `tcp`: a Modbus TCP gateway; `rtu`: an RS-485 bus on a socat pseudo-terminal; `rtu-over-tcp`: a transparent serial server. */
  transport: 'tcp' | 'rtu' | 'rtu-over-tcp'
  /** Source id of the gateway configuration made for the scenario. */
  sourceId: string
  devices: readonly { id: string; unit: number; profile: string; intervalMs: number; model?: ModelOptions }[]
  /** TCP: the port to listen on (0/absent: a free one). RTU: the gateway end's path (absent: in the run directory). */
  port?: number
  path?: string
  /** The devices' model clock (cli/simulate/clock.ts `now`). */
  now?: () => number
  /** Each answer sent (simulate's ground truth), by device id. */
  onAnswer?: (device: string, profile: ModbusProfile, a: AnswerEvent) => void
}

/** Energy meters or sondes on one Modbus bus, with device faults (bad CRC answers, slow answers, the port pulled). */
export function modbusBus(o: ModbusBusOptions): DemoPart {
  return {
    id: `modbus-${o.sourceId}`,
    name: `Modbus ${o.transport} bus ${o.sourceId}`,
    async prepare(ctx) {
      const byUnit = new Map(o.devices.map((d) => [d.unit, d]))
      const sim: SimDevice[] = o.devices.map((d) => ({ unit: d.unit, profile: profile(d.profile), ...(d.model ? { model: d.model } : {}) }))
      const server = {
        ...(o.now ? { now: o.now } : {}),
        onAnswer: (a: AnswerEvent) => {
          const d = byUnit.get(a.unit)
          if (d) o.onAnswer?.(d.id, profile(d.profile), a)
        },
      }
      let slaves: Map<number, Slave>
      let close: () => Promise<void>
      let source: DemoPartHandle['sources'][number]
      let replug: ((forMs: number) => Promise<void>) | undefined
      const devices = o.devices.map((d) => ({ device: d.id, unit: d.unit, profile: d.profile, intervalMs: d.intervalMs }))
      const common = { id: o.sourceId, timeoutMs: 300, retries: 1, pauseMs: 10, devices }
      if (o.transport === 'rtu') {
        const dir = join(ctx.dataDir, 'pty')
        mkdirSync(dir, { recursive: true })
        const gw = o.path ?? join(dir, `${o.sourceId}-gateway`)
        const simEnd = join(dir, `${o.sourceId}-devices`)
        let pty = await createPtyPair(simEnd, gw)
        let bus = await simulateRtu({ path: pty.a, devices: sim, ...server })
        slaves = bus.slaves
        close = async () => {
          await bus.close()
          await pty.stop()
        }
        replug = async (forMs) => {
          await bus.close()
          await pty.stop()
          await sleep(forMs)
          pty = await createPtyPair(simEnd, gw)
          bus = await simulateRtu({ path: pty.a, devices: sim, slaves, ...server })
        }
        source = { type: 'modbus-rtu', path: gw, ...common }
      } else {
        const port = o.port || (await ctx.freePort())
        const s = o.transport === 'tcp' ? await simulateTcp({ port, devices: sim, ...server }) : await simulateRtuOverTcp({ port, devices: sim, ...server })
        slaves = s.slaves
        close = () => s.close()
        source = o.transport === 'tcp' ? { type: 'modbus-tcp', host: '127.0.0.1', port, ...common } : { type: 'modbus-rtu-over-tcp', host: '127.0.0.1', port, ...common }
      }
      const slaveOf = (id: string) => {
        const d = o.devices.find((x) => x.id === id)
        return d ? slaves.get(d.unit) : undefined
      }
      return {
        sources: [source],
        devices: o.devices.map((d) => ({ id: d.id, kind: profile(d.profile).kind, district: ctx.district, site: `${d.profile} unit ${d.unit}`, protocol: o.transport === 'tcp' ? ('modbus-tcp' as const) : ('modbus-rtu' as const) })),
        async start() {},
        async badFrame(id, kind) {
          const s = slaveOf(id)
          if (!s || kind !== 'crc') return undefined
          s.corruptNext++
          // RTU: the CRC no longer matches; TCP has no CRC: the answer's MBAP header breaks the rules, which the
          // link reports as a reply that does not fit its request.
          const expected: Record<string, number> = o.transport === 'tcp' ? { bad_response: 1 } : { crc_mismatch: 1 }
          return expected
        },
        slowAnswers(id, delayMs, forMs) {
          const s = slaveOf(id)
          if (!s) return false
          const before = s.fault
          s.fault = { kind: 'slow', delayMs }
          setTimeout(() => {
            s.fault = before
          }, forMs).unref()
          return true
        },
        async unplug(id, forMs) {
          if (!replug || !slaveOf(id)) return false
          await replug(forMs)
          return true
        },
        describe: () => [`${o.devices.length} Modbus device(s) (${[...new Set(o.devices.map((d) => d.profile))].join(', ')}) on ${o.transport === 'rtu' ? `a pseudo-terminal (gateway end ${'path' in source ? source.path : ''})` : `127.0.0.1:${'port' in source ? source.port : ''} (${o.transport})`}`],
        stop: () => close(),
      }
    },
  }
}
