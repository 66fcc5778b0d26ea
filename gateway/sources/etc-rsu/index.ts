/**
 * ETC roadside unit source: the gateway plays the lane controller (PC) of one RSU (devices/etc/rsu/ for the
 * codec, docs/protocols.md section 5 for the protocol), over one link from the transports' address table
 * (gateway/transports/address.ts): `tcp://` in client mode (redialled with the back-off), `tcp-listen://`
 * in server mode (one RSU at a time; a newer connection replaces the older), `serial://` in serial mode.
 *   config.ts   the zod schema and a commented example
 *   results.ts  the `result` values of a passage
 *   lane.ts     the lane state machine (B2 -> C1 -> B3/B4 -> C6 -> B5, with the tariff)
 *   session.ts  one link's streams -> the lane, readings -> the pipeline in order, the RSU's link state
 */
import { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { z } from 'zod'
import type { ComponentHealth, Source } from '../../core/types.ts'
import { type Address, createLink, type Link } from '../../transports/address.ts'
import { connectionRefusals } from '../tcp-source.ts'
import { type EtcRsuSourceConfig as Config, EtcRsuSourceConfig, reconnectOf } from './config.ts'
import { createEtcSession } from './session.ts'

export { EtcRsuSourceConfig, EtcSerialConfig } from './config.ts'
export { ETC_RESULTS, type EtcResult } from './results.ts'
export { createLaneController, type LaneControllerDeps } from './lane.ts'

export interface EtcRsuSourceOptions {
  /** An injected opener for the serial mode (in-memory streams in tests). */
  open?: (a: Address, signal: AbortSignal) => Promise<Duplex>
}

function linkAddress(cfg: Config): Address {
  if (cfg.mode === 'serial') {
    const { path, baudRate, dataBits, parity, stopBits } = cfg.serial!
    return { scheme: 'serial', serial: { path, baudRate, dataBits, parity, stopBits } }
  }
  return { scheme: cfg.mode === 'server' ? 'tcp-listen' : 'tcp', host: cfg.host, port: cfg.port ?? 0 }
}

export function createEtcRsuSource(input: z.input<typeof EtcRsuSourceConfig>, opts: EtcRsuSourceOptions = {}): Source {
  const cfg = EtcRsuSourceConfig.parse(input)
  const address = cfg.mode === 'serial' ? (cfg.serial?.path ?? '') : `${cfg.host}:${cfg.port}`
  const session = createEtcSession(cfg, address)
  let link: Link | undefined
  let timer: NodeJS.Timeout | undefined

  return {
    id: cfg.id,
    type: 'etc-rsu',
    async start(c) {
      session.begin(c)
      const backoff = cfg.mode === 'serial' ? { reconnectMinMs: cfg.serial!.reconnectMinMs, reconnectMaxMs: cfg.serial!.reconnectMaxMs } : reconnectOf(cfg)
      const admission = cfg.mode === 'server' && cfg.allow ? { admission: { allow: cfg.allow }, onRefused: connectionRefusals(c, cfg.id, 'etc-rsu', () => address) } : {}
      const l = createLink(linkAddress(cfg), { ...backoff, record: c.record, ...admission, ...(opts.open ? { open: opts.open } : {}) })
      link = l
      l.on('open', (s) => {
        if (s instanceof Socket) s.setNoDelay(true)
        session.attach(s)
      })
      l.on('close', () => session.detach(cfg.mode === 'serial' ? 'port_closed' : 'connection_closed'))
      l.on('open_failed', (reason) => c.log.warn({ address: l.address, reason }, 'etc-rsu: cannot open the RSU link'))
      timer = setInterval(() => session.tick(), 1000)
      timer.unref()
      try {
        await l.ready()
      } catch (err) {
        clearInterval(timer)
        await l.close()
        link = undefined
        throw err
      }
    },
    async stop() {
      if (timer) clearInterval(timer)
      const l = link
      link = undefined
      await l?.close()
      await session.end()
    },
    health(): ComponentHealth {
      if (!link?.isOpen) return { status: 'degraded', detail: `no RSU connection (${cfg.mode} ${address})` }
      const layout = session.profile() ?? 'not yet told'
      return { status: 'ok', detail: `${cfg.mode} ${address}, layout ${layout}, ${session.transactions()} passages, ${session.inFlight()} in flight` }
    },
    owns: (device) => device === cfg.device,
  }
}
