/**
 * NMEA 0183 receiver on a serial port -> `position` (and `satellites`) points.
 * serial link -> line framer -> sentence decoder -> epoch assembler -> points -> ctx.ingest.
 * Bad input (garbage, bad checksum, bad fields) is dead-lettered with its reason; proprietary `$P...` and
 * unused sentence types are skipped and counted.
 */
import { createEpochAssembler, createNmeaFramer, decodeSentence, epochToPoints, type PositionEpoch } from '../../devices/position/nmea.ts'
import type { ComponentHealth, Logger, Source, SourceContext } from '../core/types.ts'
import { createSerialLink, type SerialLink, type SerialLinkOptions } from '../transports/serial.ts'
import type { NmeaSourceConfig } from './nmea-config.ts'
import type { Reason } from '../../devices/common/reasons.ts'

export interface NmeaSourceStats {
  sentences: number
  epochs: number
  rejected: number
  proprietary: number
  skipped: number
}

export type NmeaSource = Source & { stats(): Readonly<NmeaSourceStats> }

export function createNmeaSource(cfg: NmeaSourceConfig, opts: SerialLinkOptions = {}): NmeaSource {
  const framer = createNmeaFramer()
  const asm = createEpochAssembler()
  const stats: NmeaSourceStats = { sentences: 0, epochs: 0, rejected: 0, proprietary: 0, skipped: 0 }
  let link: SerialLink | undefined
  let ctx: SourceContext | undefined
  let log: Logger | undefined
  let idle: NodeJS.Timeout | undefined
  // ingest and reject calls are chained so points reach the spool in order; stop() waits for the chain
  let chain: Promise<unknown> = Promise.resolve()
  const enqueue = (f: () => Promise<unknown>) => {
    chain = chain.then(f).catch((err: unknown) => log?.error({ err }, 'ingest failed'))
  }

  let online: boolean | undefined
  const setOnline = (on: boolean, reason?: string) => {
    if (online === on) return
    online = on
    ctx!.devices.setOnline(cfg.device, on, reason)
  }

  const reject = (raw: string | Uint8Array, reason: Reason, detail?: string) => {
    stats.rejected++
    const c = ctx!
    enqueue(() => c.reject({ source: cfg.id, address: cfg.serial.path, raw, reason, device: cfg.device, ...(detail ? { detail } : {}) }))
  }

  const emit = (epochs: PositionEpoch[]) => {
    const c = ctx!
    for (const e of epochs) {
      const pts = epochToPoints(e, { satellites: cfg.satellites })
      if (!pts.ok) {
        reject(JSON.stringify(e), pts.reason, pts.detail)
        continue
      }
      stats.epochs++
      setOnline(true)
      enqueue(() => c.ingest({ source: cfg.id, device: cfg.device, kind: 'position', protocol: 'nmea', points: pts.value, frames: e.sentences }))
    }
  }

  const onData = (chunk: Buffer) => {
    const now = ctx!.now()
    for (const ev of framer.push(chunk)) {
      if (!ev.ok) {
        reject(ev.raw.toString('latin1'), ev.reason, ev.detail)
        continue
      }
      const s = decodeSentence(ev.frame)
      if (!s.ok) {
        reject(ev.frame, s.reason, s.detail)
        continue
      }
      stats.sentences++
      if (s.value.type === 'proprietary') stats.proprietary++
      else if (s.value.type === 'other') stats.skipped++
      emit(asm.push(s.value, now))
    }
    if (idle) clearTimeout(idle)
    idle = setTimeout(() => emit(asm.flush()), cfg.idleFlushMs)
    idle.unref?.()
  }

  return {
    id: cfg.id,
    type: 'nmea',
    async start(c) {
      ctx = c
      // The gateway's context logger already carries component and id.
      log = c.log
      link = createSerialLink(cfg.serial, {
        onData,
        onOpen: () => {
          framer.reset()
          asm.reset()
          log?.info({ path: cfg.serial.path }, 'serial port open')
        },
        onClose: (reason) => {
          emit(asm.flush())
          setOnline(false, 'port_closed')
          log?.warn({ path: cfg.serial.path, reason }, 'serial port closed; reopening when it comes back')
        },
      }, opts)
      link.start()
    },
    async stop() {
      if (idle) clearTimeout(idle)
      idle = undefined
      await link?.stop()
      if (ctx) emit(asm.flush())
      await chain
    },
    health(): ComponentHealth {
      if (!link) return { status: 'down', detail: 'not started' }
      if (!link.isOpen) return { status: 'down', detail: `${cfg.serial.path}: ${link.lastError ?? 'closed'}` }
      return { status: 'ok', detail: `${stats.epochs} epochs, ${stats.rejected} rejected, ${stats.proprietary} proprietary skipped` }
    },
    owns: (device) => device === cfg.device,
    stats: () => stats,
  }
}
