/**
 * One NMEA port's session: bytes -> the codec's framer -> sentences -> the port's epoch assembler (the codec's
 * state) -> readings handed to the pipeline, one batch per epoch, in order through the transports' ordered
 * queue. Bad input (garbage, bad checksum, bad fields) is refused with its catalogued reason; proprietary
 * `$P...` and unused sentence types are skipped and counted.
 */
import type { Reading } from '../../../devices/common/kind.ts'
import type { Reason } from '../../../devices/common/reasons.ts'
import type { FrameEvent } from '../../../devices/common/result.ts'
import { epochReadings, type NmeaState, newNmeaState, nmeaCodec, type PositionEpoch } from '../../../devices/position/nmea/index.ts'
import type { Logger, SourceContext } from '../../core/types.ts'
import { createOrdered, type Ordered } from '../../transports/ordered.ts'
import type { NmeaSourceConfig } from './config.ts'

export interface NmeaSourceStats {
  sentences: number
  epochs: number
  rejected: number
  proprietary: number
  skipped: number
}

export interface NmeaSession {
  /** Chunks as the port delivers them. */
  data(chunk: Buffer): void
  /** A new stream: forget the partial sentence and epoch of the one before. */
  reset(): void
  /** Close the epoch being collected (the line went quiet, the port closed, the source stops). */
  flush(): void
  /** Resolves once everything handed to the pipeline so far is done. */
  idle(): Promise<void>
  readonly stats: Readonly<NmeaSourceStats>
}

export function createNmeaSession(cfg: NmeaSourceConfig, ctx: SourceContext, log: Logger, flow: { pause(): void; resume(): void }): NmeaSession {
  let framer = nmeaCodec.framer()
  const state: NmeaState = newNmeaState({ device: cfg.device, satellites: cfg.satellites })
  const stats: NmeaSourceStats = { sentences: 0, epochs: 0, rejected: 0, proprietary: 0, skipped: 0 }
  const queue: Ordered = createOrdered({ pause: flow.pause, resume: flow.resume, onError: (err) => log.error({ err }, 'ingest failed') })

  const reject = (raw: string | Uint8Array, reason: Reason, detail?: string) => {
    stats.rejected++
    queue.push(() => ctx.reject({ source: cfg.id, address: cfg.serial.path, raw, reason, device: cfg.device, ...(detail ? { detail } : {}) }))
  }

  const emit = (epochs: PositionEpoch[]) => {
    for (const e of epochs) {
      const readings: Reading[] = epochReadings(e, state)
      stats.epochs++
      // Presence: the registry deduplicates, so every epoch may say so.
      ctx.devices.setOnline(cfg.device, true)
      queue.push(async () => {
        await ctx.ingest({ source: cfg.id, device: cfg.device, kind: 'position', protocol: 'nmea', address: cfg.serial.path, readings, frames: e.sentences })
      })
    }
  }

  const frame = (ev: FrameEvent<string>, now: number) => {
    if (!ev.ok) return reject(ev.raw.toString('latin1'), ev.reason, ev.detail)
    const s = nmeaCodec.decode(ev.frame, state)
    if (!s.ok) return reject(ev.frame, s.reason, s.detail)
    stats.sentences++
    if (s.value.type === 'proprietary') stats.proprietary++
    else if (s.value.type === 'other') stats.skipped++
    // The codec's readings() is this push and epochReadings of what it closed; here each epoch is its own batch.
    emit(state.asm.push(s.value, now))
  }

  return {
    data(chunk) {
      const now = ctx.now()
      for (const ev of framer.push(chunk)) frame(ev, now)
    },
    reset() {
      framer = nmeaCodec.framer()
      state.asm.reset()
    },
    flush() {
      emit(state.asm.flush())
    },
    idle: () => queue.idle(),
    stats,
  }
}
