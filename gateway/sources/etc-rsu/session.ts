/**
 * One RSU link as the source sees it: each stream the link opens (a TCP connection or the serial port) gets
 * the lane controller (lane.ts) reset and fed; readings go to the pipeline in the order the lane made them,
 * through the transports' ordered queue (gateway/transports/ordered.ts), which also pauses the stream when
 * the pipeline falls behind and lets `stop()` wait for work in flight.
 *
 * The RSU's link state is a reading, `rsu_status {online}` (the lane controller's view of its RSU, stored as
 * before issue 11): online when the first bytes arrive on a stream, offline when the stream is lost or the
 * RSU falls silent (no frame, not even a heartbeat, for `silentAfterSec`). `heard` is that state; the
 * registry's presence (`setOnline`, which deduplicates) follows the same changes.
 */
import type { Duplex } from 'node:stream'
import type { Reading } from '../../../devices/common/kind.ts'
import type { SourceContext } from '../../core/types.ts'
import { createOrdered } from '../../transports/ordered.ts'
import type { EtcRsuSourceConfig } from './config.ts'
import { createLaneController } from './lane.ts'

export function createEtcSession(cfg: EtcRsuSourceConfig, address: string) {
  let ctx: SourceContext | undefined
  let stream: Duplex | undefined
  let heard = false
  let lastFrameAt = 0
  let transactions = 0
  const queue = createOrdered({
    pause: () => stream?.pause(),
    resume: () => stream?.resume(),
    onError: (err) => ctx?.log.error({ err }, 'ingest failed'),
  })

  /** Started now (so ingest is called in the lane's order), awaited in order by the queue. */
  const track = (p: Promise<unknown>) => {
    const done = p.then(
      () => {},
      (err: unknown) => ctx?.log.error({ err }, 'ingest failed'),
    )
    queue.push(() => done)
  }
  const ingest = (readings: Reading[]) => {
    if (ctx) track(ctx.ingest({ source: cfg.id, device: cfg.device, kind: 'etc', protocol: 'etc-rsu', readings, address }))
  }
  const link = (online: boolean, reason?: string) => {
    if (!ctx || heard === online) return
    heard = online
    ctx.devices.setOnline(cfg.device, online, reason)
    ingest([{ kind: 'etc', type: 'rsu_status', device: cfg.device, value: { ts: ctx.now(), online } }])
  }

  const lane = createLaneController(cfg, {
    send: (b) => {
      const s = stream
      if (s && !s.destroyed && s.writable) s.write(b)
    },
    now: () => (ctx ? ctx.now() : Date.now()),
    transaction: (r) => {
      transactions++
      ingest([r])
    },
    status: (r) => ingest([r]),
    reject: (raw, reason, detail) => {
      if (ctx) track(ctx.reject({ source: cfg.id, address, raw, reason, ...(detail === undefined ? {} : { detail }), device: cfg.device }))
    },
  })

  return {
    begin(c: SourceContext): void {
      ctx = c
    },
    /** A new stream (the link's `open`): the lane starts over and sends C0. */
    attach(s: Duplex): void {
      stream = s
      lastFrameAt = Date.now()
      s.on('data', (chunk: Buffer) => {
        if (stream !== s) return
        lastFrameAt = Date.now()
        link(true)
        lane.push(chunk)
      })
      lane.init()
    },
    /** The stream is lost (the link's `close`): passages in flight end as timeouts, the RSU is offline. */
    detach(reason: string): void {
      stream = undefined
      lane.abort()
      link(false, reason)
    },
    /** Every second: a silent RSU is offline; a C0 without its B0 is sent again. */
    tick(): void {
      if (!stream) return
      if (Date.now() - lastFrameAt > cfg.silentAfterSec * 1000) link(false, 'silent')
      lane.maintain(ctx?.now() ?? Date.now())
    },
    /** Stopping: passages in flight end as timeouts; resolves once everything handed over is done. */
    async end(): Promise<void> {
      stream = undefined
      lane.abort()
      await queue.idle()
      ctx = undefined
      heard = false
    },
    transactions: () => transactions,
    inFlight: () => lane.inFlight(),
    profile: () => lane.profile(),
  }
}
