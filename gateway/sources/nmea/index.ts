/**
 * NMEA 0183 receiver on a serial port -> position `telemetry` (and `satellites`) readings.
 * `serial://` link (gateway/transports/address.ts: reopen with back-off) -> session (framer, epoch assembler,
 * ordered ingest) -> ctx.ingest. Presence through the registry's deduplicating setOnline.
 */
import type { Duplex } from 'node:stream'
import type { ComponentHealth, Source } from '../../core/types.ts'
import { createLink, formatAddress, type Link, type LinkOptions } from '../../transports/address.ts'
import type { NmeaSourceConfig } from './config.ts'
import { createNmeaSession, type NmeaSession, type NmeaSourceStats } from './session.ts'

export { NmeaSourceConfig } from './config.ts'
export type { NmeaSourceStats } from './session.ts'

export type NmeaSource = Source & { stats(): Readonly<NmeaSourceStats> }

/** `opts.open` replaces the serial port (tests, in-memory pairs). */
export function createNmeaSource(cfg: NmeaSourceConfig, opts: Pick<LinkOptions, 'open'> = {}): NmeaSource {
  const { path, baudRate, dataBits, parity, stopBits } = cfg.serial
  const address = formatAddress({ scheme: 'serial', serial: { path, baudRate, dataBits, parity, stopBits } })
  let link: Link | undefined
  let session: NmeaSession | undefined
  let stream: Duplex | undefined
  let idle: NodeJS.Timeout | undefined
  const empty: NmeaSourceStats = { sentences: 0, epochs: 0, rejected: 0, proprietary: 0, skipped: 0 }

  return {
    id: cfg.id,
    type: 'nmea',
    async start(c) {
      const log = c.log
      const s = createNmeaSession(cfg, c, log, { pause: () => stream?.pause(), resume: () => stream?.resume() })
      session = s
      const closed = (reason: string) => {
        s.flush()
        c.devices.setOnline(cfg.device, false, 'port_closed')
        log.warn({ path, reason }, 'serial port closed; reopening when it comes back')
      }
      link = createLink(address, { reconnectMinMs: cfg.serial.reconnectMinMs, reconnectMaxMs: cfg.serial.reconnectMaxMs, record: c.record, ...opts })
      link.on('open', (st) => {
        stream = st
        s.reset()
        log.info({ path }, 'serial port open')
        st.on('data', (chunk: Buffer) => {
          s.data(chunk)
          if (idle) clearTimeout(idle)
          idle = setTimeout(() => s.flush(), cfg.idleFlushMs)
          idle.unref?.()
        })
      })
      link.on('close', closed)
      link.on('open_failed', closed)
      link.start()
    },
    async stop() {
      if (idle) clearTimeout(idle)
      idle = undefined
      await link?.close()
      session?.flush()
      await session?.idle()
    },
    health(): ComponentHealth {
      if (!link || !session) return { status: 'down', detail: 'not started' }
      if (!link.isOpen) return { status: 'down', detail: `${path}: ${link.lastError ?? 'closed'}` }
      const st = session.stats
      return { status: 'ok', detail: `${st.epochs} epochs, ${st.rejected} rejected, ${st.proprietary} proprietary skipped` }
    },
    owns: (device) => device === cfg.device,
    stats: () => session?.stats ?? empty,
  }
}
