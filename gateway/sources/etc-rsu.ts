/**
 * ETC roadside unit source: the gateway plays the lane controller (PC) of one RSU, over TCP as client or
 * server (devices/etc/rsu.ts for the codec, protocols.md section 5 for the protocol).
 *
 * On connect it initialises the RSU (C0) and answers every RSU frame except B2 heartbeats. Each passage:
 *   B2 (OBU info)  -> C1 continue, or C2 stop when the OBU cannot pay (no card, card error, locked, expired)
 *   B3 (vehicle)   -> empty answer
 *   B4 (card)      -> C6 deduct with the fee of the vehicle class from the tariff table, or C2 stop
 *                     (card error, blacklisted card, balance below the fee)
 *   B5 (result)    -> empty answer; the passage ends `ok` or `deduct_failed`
 * A passage that makes no progress for `transactionTimeoutMs` ends as `timeout` (a lost frame either way:
 * the RSU waits for an answer that never comes, or the answer to it was lost). Every passage writes exactly
 * one `etc_transaction` with its `result` and `transaction_ms` (B2 to result). B0 writes `etc_rsu_status`;
 * so do a lost connection and a silent RSU (no frame, not even a heartbeat, for `silentAfterSec`).
 *
 * Example config (commented values are the defaults):
 * ```yaml
 * sources:
 *   - type: etc-rsu
 *     device: rsu-g1            # the RSU's device id
 *     host: 127.0.0.1
 *     port: 9527
 *     # mode: client            # client: dial the RSU; server: the RSU dials us; serial: see below
 *     # serial: { path: /dev/ttyUSB0, baudRate: 115200 }   # with mode: serial (8N1 by default)
 *     # lane: "1"
 *     # tariff: { "1": 500, "2": 1000, "3": 1500, "4": 2000, "11": 1000, "12": 1500, "13": 2500, "14": 3500, "15": 4500, "16": 5500 }
 *     # blacklist: []           # card ids (network + internal number, 20 hex digits)
 *     # transactionTimeoutMs: 3000
 *     # silentAfterSec: 60
 *     # reconnectMs: 2000
 *     # profile: auto           # frame layouts: classic | 2019 | auto (told from the frame lengths) | a vendor's RsuProfile
 *     # ef04: { offset: 0, length: 98 }   # 2019 layout: the EF04 range C0 asks for in every B4 (no default: not asked)
 *     # stationFile: "00...00"  # C6 station field, hex: 86 digits (classic 0019 file) or 80 (2019); default zeros
 * ```
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { z } from 'zod'
import { rsuStatusPoint } from '../../devices/etc/index.ts'
import { DEFAULT_TARIFF_FEN } from '../../devices/etc/tariff.ts'
import {
  answerRsctl,
  cardIdFromB2,
  cardIdFromIssuerFile,
  createRsuFramer,
  createRsuReader,
  encodeRsu,
  fieldsForLayout,
  isHeartbeat,
  msToBcdTime,
  obuStatusFlags,
  PROFILE_2019,
  RSU_PROFILE_CHOICES,
  type RsuFrame,
  RsuProfile,
  type RsuRawFrame,
  resolveRsuProfile,
} from '../../devices/etc/rsu/index.ts'
import type { Point } from '../../devices/common/point.ts'
import type { ComponentHealth, Source, SourceContext } from '../core/types.ts'
import { createSerialLink, type SerialLink, type SerialLinkOptions, serialPortConfig } from '../transports/serial.ts'
import type { Reason } from '../../devices/common/reasons.ts'


/** The RSU's serial line: 115200 8N1 in the public document (vendors differ). */
export const EtcSerialConfig = serialPortConfig({ baudRate: 115_200 })

export const EtcRsuSourceConfig = z
  .strictObject({
  type: z.literal('etc-rsu'),
  id: z.string().min(1).default('etc-rsu'),
  /** The RSU's device id (tags `device`); its inventory entry gives district and site. */
  device: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/),
  lane: z.string().min(1).max(64).default('1'),
  /** client: dial the RSU over TCP; server: the RSU dials us; serial: the RSU's serial line (`serial:`). */
  mode: z.enum(['client', 'server', 'serial']).default('client'),
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65_535).optional(),
  serial: EtcSerialConfig.optional(),
  reconnectMs: z.number().int().min(50).default(2000),
  /** Fee in fen by vehicle class (devices/etc/tariff.ts). */
  tariff: z.record(z.string().regex(/^\d+$/), z.number().int().min(0)).default({ ...DEFAULT_TARIFF_FEN }),
  /** Fee for a class missing from the tariff (absent: such a passage ends `unknown_class`). */
  defaultFeeFen: z.number().int().min(0).optional(),
  blacklist: z.array(z.string().regex(/^[0-9A-Fa-f]{1,32}$/)).default([]),
  transactionTimeoutMs: z.number().int().min(50).default(3000),
  silentAfterSec: z.number().positive().default(60),
  /** C0 is sent again when no B0 answers it within this time. */
  initRetryMs: z.number().int().min(100).default(5000),
  /** C0 parameters. */
  init: z
    .strictObject({
      laneMode: z.number().int().min(0).max(255).default(3),
      bstInterval: z.number().int().min(0).max(255).default(10),
      txPower: z.number().int().min(0).max(255).default(10),
      pllChannel: z.number().int().min(0).max(255).default(0),
    })
    .prefault({}),
  /**
   * The station field written to the card with C6, hex: the 0019 file (43 bytes) in the classic layout, 40
   * bytes in the 2019 one; default zeros. With `auto`, a value of the other length is cut or zero-padded
   * at its end to fit the layout the RSU speaks.
   */
  stationFile: z
    .string()
    .regex(/^([0-9A-Fa-f]{80}|[0-9A-Fa-f]{86})$/, 'the station file as 80 hex digits (2019 layout) or 86 (classic)')
    .optional(),
  /**
   * Frame layouts: `classic`, `2019`, `auto` (told from each frame's length, devices/etc/README.md), or a
   * vendor's own profile as data (devices/etc/rsu/layout.ts `RsuProfile`).
   */
  profile: z
    .union([
      z.enum(RSU_PROFILE_CHOICES),
      // YAML reads `profile: 2019` as a number.
      z.literal(2019).transform(() => '2019' as const),
      RsuProfile,
    ])
    .default('auto'),
  /** 2019 layout: the EF04 range the C0 asks the RSU to read with every B4 (kept decoded-only). */
  ef04: z.strictObject({ offset: z.number().int().min(0).max(0xffff), length: z.number().int().min(1).max(0xffff) }).optional(),
})
  .superRefine((c, ctx) => {
    const fixed = c.profile === 'auto' ? undefined : resolveRsuProfile(c.profile)
    const station = fixed?.frames['C6']?.fields.find((f) => f.name === 'stationFile')?.length
    if (c.stationFile !== undefined && station !== undefined && c.stationFile.length !== station * 2) {
      ctx.addIssue({ code: 'custom', path: ['stationFile'], message: `profile ${fixed?.name} writes a ${station}-byte station file (${station * 2} hex digits)` })
    }
    if (c.ef04 !== undefined && fixed !== undefined && !fixed.frames['C0']?.fields.some((f) => f.name === 'ef04Option')) {
      ctx.addIssue({ code: 'custom', path: ['ef04'], message: `profile ${fixed.name} has no EF04 fields in its C0` })
    }
    if (c.mode === 'serial' && c.serial === undefined) ctx.addIssue({ code: 'custom', path: ['serial'], message: 'mode serial needs serial: { path, baudRate? }' })
    if (c.mode !== 'serial' && c.port === undefined) ctx.addIssue({ code: 'custom', path: ['port'], message: `mode ${c.mode} needs a port` })
  })
export type EtcRsuSourceConfig = z.infer<typeof EtcRsuSourceConfig>

/** The `result` tag values this source writes. */
export const ETC_RESULTS = [
  'ok',
  'no_card',
  'card_error',
  'obu_invalid',
  'obu_expired',
  'obu_error',
  'vehicle_info_error',
  'unknown_class',
  'blacklist',
  'insufficient_balance',
  'deduct_failed',
  'timeout',
] as const
export type EtcResult = (typeof ETC_RESULTS)[number]

interface Passage {
  obuId: string
  startedAt: number
  timer?: NodeJS.Timeout
  plate?: string
  plateColor?: number
  vehicleClass?: number
  cardId?: string
  balanceFen?: number
  feeFen?: number
}

export interface LaneControllerDeps {
  send(bytes: Buffer): void
  now(): number
  transaction(p: Point): void
  status(p: Point): void
  reject(raw: Buffer, reason: Reason, detail?: string): void
}

/** The lane-controller state machine over one connection; transport-free so tests can drive it. */
export function createLaneController(cfg: EtcRsuSourceConfig, deps: LaneControllerDeps) {
  // Frames are read with the configured layout, or with `auto` in the layout each one shows; the lane's
  // own frames are written in the layout detected so far (classic until the RSU has shown one).
  const reader = createRsuReader(cfg.profile)
  const framer = createRsuFramer()
  const passages = new Map<string, Passage>()
  const blacklist = new Set(cfg.blacklist.map((c) => c.toUpperCase()))
  let lastTime = 0
  /** C0 sent, B0 not yet seen: when. */
  let awaitingB0: number | undefined

  const send = (frame: RsuFrame, profile = reader.current()) => deps.send(encodeRsu(frame, profile))
  const ack = (rsctl: number) => send({ rsctl: answerRsctl(rsctl), type: 'ACK', fields: {} })
  const stop = (rsctl: number, obuId: string) => send({ rsctl: answerRsctl(rsctl), type: 'C2', fields: { obuId, stopType: 1 } })

  /** Point times are unique per lane: two passages ending in the same millisecond must not merge in InfluxDB. */
  const uniqueTime = () => {
    const t = Math.max(deps.now(), lastTime + 1)
    lastTime = t
    return t
  }

  function finish(p: Passage, result: EtcResult): void {
    clearTimeout(p.timer)
    passages.delete(p.obuId)
    const t = uniqueTime()
    const fields: Point['fields'] = { obu_id: p.obuId, transaction_ms: Math.max(0, deps.now() - p.startedAt) }
    if (p.plate !== undefined) fields['plate'] = p.plate
    if (p.plateColor !== undefined) fields['plate_color'] = p.plateColor
    if (p.vehicleClass !== undefined) fields['vehicle_class'] = p.vehicleClass
    if (p.feeFen !== undefined) fields['fee_fen'] = p.feeFen
    if (p.balanceFen !== undefined) fields['balance_fen'] = p.balanceFen
    if (p.cardId !== undefined) fields['card_id'] = p.cardId
    deps.transaction({ measurement: 'etc_transaction', tags: { lane: cfg.lane, result }, fields, time: t })
  }

  const arm = (p: Passage) => {
    clearTimeout(p.timer)
    p.timer = setTimeout(() => finish(p, 'timeout'), cfg.transactionTimeoutMs)
  }

  function onB2(f: RsuFrame): void {
    if (isHeartbeat(f)) return // heartbeats are never answered
    const obuId = String(f.fields['obuId'])
    const existing = passages.get(obuId)
    if (existing) {
      // The RSU reports an OBU already in a passage (it re-searched): answer, keep the passage.
      ack(f.rsctl)
      return
    }
    const p: Passage = { obuId, startedAt: deps.now() }
    const cpuCard = cardIdFromB2(f)
    if (cpuCard !== undefined) p.cardId = cpuCard
    passages.set(obuId, p)
    arm(p)
    const err = f.fields['errorCode']
    const status = f.fields['obuStatus']
    if (err !== 0 || typeof status !== 'number') {
      stop(f.rsctl, obuId)
      finish(p, 'obu_error')
      return
    }
    const flags = obuStatusFlags(status)
    const expired = typeof f.fields['expiredDate'] === 'string' && f.fields['expiredDate'] < msToBcdTime(deps.now()).slice(0, 8)
    const result: EtcResult | undefined = flags.cardAbsent
      ? 'no_card'
      : flags.cardError
        ? 'card_error'
        : flags.obuLocked || flags.obuTampered
          ? 'obu_invalid'
          : expired
            ? 'obu_expired'
            : undefined
    if (result) {
      stop(f.rsctl, obuId)
      finish(p, result)
      return
    }
    send({ rsctl: answerRsctl(f.rsctl), type: 'C1', fields: { obuId } })
  }

  function onB3(f: RsuFrame, p: Passage): void {
    arm(p)
    if (f.fields['errorCode'] !== 0 || f.fields['vehicleClass'] === undefined) {
      stop(f.rsctl, p.obuId)
      finish(p, 'vehicle_info_error')
      return
    }
    p.plate = String(f.fields['plate'] ?? '')
    p.plateColor = Number(f.fields['plateColor'])
    p.vehicleClass = Number(f.fields['vehicleClass'])
    ack(f.rsctl)
  }

  function onB4(f: RsuFrame, p: Passage): void {
    arm(p)
    if (f.fields['errorCode'] !== 0 || typeof f.fields['balanceFen'] !== 'number' || typeof f.fields['issuerFile'] !== 'string') {
      stop(f.rsctl, p.obuId)
      finish(p, 'card_error')
      return
    }
    p.balanceFen = f.fields['balanceFen']
    const cardId = cardIdFromIssuerFile(f.fields['issuerFile'])
    if (cardId !== undefined) p.cardId = cardId
    if (p.vehicleClass === undefined) {
      stop(f.rsctl, p.obuId)
      finish(p, 'vehicle_info_error')
      return
    }
    const fee = cfg.tariff[String(p.vehicleClass)] ?? cfg.defaultFeeFen
    if (fee === undefined) {
      stop(f.rsctl, p.obuId)
      finish(p, 'unknown_class')
      return
    }
    p.feeFen = fee
    if (cardId !== undefined && blacklist.has(cardId)) {
      stop(f.rsctl, p.obuId)
      finish(p, 'blacklist')
      return
    }
    if (p.balanceFen < fee) {
      stop(f.rsctl, p.obuId)
      finish(p, 'insufficient_balance')
      return
    }
    const profile = reader.current()
    const values = { obuId: p.obuId, tradeMode: 0, feeFen: fee, stationFile: stationFor(profile), transTime: msToBcdTime(deps.now()), extra: '' }
    send({ rsctl: answerRsctl(f.rsctl), type: 'C6', fields: fieldsForLayout(profile, 'C6', values) }, profile)
  }

  function onB5(f: RsuFrame, p: Passage): void {
    ack(f.rsctl)
    if (f.fields['errorCode'] !== 0) {
      finish(p, 'deduct_failed')
      return
    }
    if (typeof f.fields['balanceFen'] === 'number') p.balanceFen = f.fields['balanceFen']
    finish(p, 'ok')
  }

  /** The configured station file fitted to the layout's field (zeros when none is configured). */
  function stationFor(profile: RsuProfile): string {
    const bytes = profile.frames['C6']?.fields.find((s) => s.name === 'stationFile')?.length ?? 43
    return (cfg.stationFile ?? '').toUpperCase().padEnd(bytes * 2, '0').slice(0, bytes * 2)
  }

  function onFrame(raw: RsuRawFrame, bytes: Buffer): void {
    const d = reader.read(raw)
    if (!d.ok) {
      deps.reject(bytes, d.reason, d.detail)
      // A frame from the RSU we cannot read still gets its answer, so the RSU does not wait for ever.
      if ((raw.rsctl & 0x0f) === 0x08) ack(raw.rsctl)
      return
    }
    const f = d.value.frame
    switch (f.type) {
      case 'B0': {
        ack(f.rsctl)
        // A power-on B0 (RSCTL 9X) we did not ask for: the RSU restarted and needs its C0 again.
        const restarted = awaitingB0 === undefined && f.rsctl >> 4 === 9
        awaitingB0 = undefined
        if (restarted) init()
        const pt = rsuStatusPoint(f, deps.now())
        if (pt) deps.status(pt)
        return
      }
      case 'B2':
        onB2(f)
        return
      case 'B3':
      case 'B4':
      case 'B5': {
        const p = passages.get(String(f.fields['obuId']))
        if (!p) {
          deps.reject(bytes, 'unexpected_frame', `${f.type} for OBU ${String(f.fields['obuId'])} without a passage`)
          ack(f.rsctl)
          return
        }
        if (f.type === 'B3') {
          onB3(f, p)
          return
        }
        if (f.type === 'B4') {
          onB4(f, p)
          return
        }
        onB5(f, p)
        return
      }
      case 'ACK':
        return
      default:
        // A frame of another type from the RSU (a vendor's extra): answered, counted, not used.
        deps.reject(bytes, 'unexpected_frame', `frame ${f.type} is not handled by the lane controller`)
        if ((f.rsctl & 0x0f) === 0x08) ack(f.rsctl)
    }
  }

  /**
   * C0 in the layout known so far. Before the RSU has shown one (auto), the classic form without extra
   * bytes, which both layouts read the same; or the 2019 form when `ef04` is configured (a classic RSU
   * sees its EF04 fields as 5 extra bytes).
   */
  function init(): void {
    const t = deps.now()
    awaitingB0 = t
    const profile = reader.auto && reader.detected() === undefined && cfg.ef04 !== undefined ? PROFILE_2019 : reader.current()
    const values = {
      unixTime: Math.floor(t / 1000) >>> 0,
      dateTime: msToBcdTime(t),
      ...cfg.init,
      extra: '',
      ef04Option: cfg.ef04 ? 1 : 0,
      ef04Offset: cfg.ef04?.offset ?? 0,
      ef04Length: cfg.ef04?.length ?? 0,
    }
    send({ rsctl: 0x80 /* unsolicited: 8X with X = 0 */, type: 'C0', fields: fieldsForLayout(profile, 'C0', values) }, profile)
  }

  return {
    /** Send C0 (on every new connection or port open). */
    init(): void {
      framer.reset()
      reader.reset()
      init()
    },
    /** Called every second: a C0 that got no B0 within `initRetryMs` is sent again. */
    maintain(t: number): void {
      if (awaitingB0 !== undefined && t - awaitingB0 >= cfg.initRetryMs) init()
    },
    push(chunk: Buffer): void {
      for (const ev of framer.push(chunk)) {
        if (ev.ok) onFrame(ev.frame, ev.raw)
        else deps.reject(ev.raw, ev.reason, ev.detail)
      }
    },
    /** Connection lost: passages in flight end as timeouts now, not when their timers fire. */
    abort(): void {
      for (const p of [...passages.values()]) finish(p, 'timeout')
    },
    inFlight: () => passages.size,
    /** The layout frames are read and written in (auto: undefined until the RSU has shown one). */
    profile: () => reader.detected()?.name,
  }
}

/** `opts.open`: an injected opener for the serial mode (in-memory streams in tests). */
export function createEtcRsuSource(input: z.input<typeof EtcRsuSourceConfig>, opts: SerialLinkOptions = {}): Source {
  const cfg = EtcRsuSourceConfig.parse(input)
  const address = cfg.mode === 'serial' ? (cfg.serial?.path ?? '') : `${cfg.host}:${cfg.port}`
  let ctx: SourceContext | undefined
  let socket: Socket | undefined
  let server: Server | undefined
  let serial: SerialLink | undefined
  let stopped = false
  let reconnect: NodeJS.Timeout | undefined
  let silence: NodeJS.Timeout | undefined
  let lastFrameAt = 0
  let online = false
  let transactions = 0
  const pending = new Set<Promise<unknown>>()

  const track = (p: Promise<unknown>) => {
    pending.add(p)
    p.catch((err: unknown) => ctx?.log.error({ err }, 'ingest failed')).finally(() => pending.delete(p))
  }
  const ingest = (points: Point[]) => {
    if (!ctx) return
    track(ctx.ingest({ source: cfg.id, device: cfg.device, kind: 'etc', protocol: 'etc-rsu', points }))
  }
  const setOnline = (on: boolean, reason?: string) => {
    if (!ctx || on === online) return
    online = on
    ctx.devices.setOnline(cfg.device, on, reason)
    ingest([{ measurement: 'etc_rsu_status', tags: {}, fields: { online: on }, time: ctx.now() }])
  }

  const lane = createLaneController(cfg, {
    send: (b) => {
      if (socket && !socket.destroyed) socket.write(b)
      else if (serial?.isOpen) serial.write(b).catch(() => {})
    },
    now: () => (ctx ? ctx.now() : Date.now()),
    transaction: (p) => {
      transactions++
      ingest([p])
    },
    status: (p) => ingest([p]),
    reject: (raw, reason, detail) => {
      if (!ctx) return
      track(ctx.reject({ source: cfg.id, address, raw, reason, ...(detail === undefined ? {} : { detail }), device: cfg.device }))
    },
  })

  function attach(s: Socket): void {
    if (socket && socket !== s) socket.destroy()
    socket = s
    s.setNoDelay(true)
    lastFrameAt = Date.now()
    s.on('data', (chunk: Buffer) => {
      lastFrameAt = Date.now()
      setOnline(true)
      lane.push(chunk)
    })
    s.on('error', () => {
      // 'close' follows; the reason is the offline status.
    })
    s.on('close', () => {
      if (socket !== s) return
      socket = undefined
      lane.abort()
      setOnline(false, 'connection_closed')
      if (!stopped && cfg.mode === 'client') reconnect = setTimeout(dial, cfg.reconnectMs)
    })
    lane.init()
  }

  function dial(): void {
    if (stopped) return
    const s = createConnection({ host: cfg.host, port: cfg.port ?? 0 })
    s.once('connect', () => attach(s))
    s.once('error', () => {
      if (socket !== s && !stopped) {
        s.destroy()
        reconnect = setTimeout(dial, cfg.reconnectMs)
      }
    })
  }

  return {
    id: cfg.id,
    type: 'etc-rsu',
    async start(c) {
      ctx = c
      stopped = false
      silence = setInterval(() => {
        const connected = socket !== undefined || serial?.isOpen === true
        if (connected && Date.now() - lastFrameAt > cfg.silentAfterSec * 1000) setOnline(false, 'silent')
        if (connected) lane.maintain(ctx?.now() ?? Date.now())
      }, 1000)
      silence.unref()
      if (cfg.mode === 'serial') {
        const link = createSerialLink(cfg.serial!, {
          onData: (chunk) => {
            lastFrameAt = Date.now()
            setOnline(true)
            lane.push(chunk)
          },
          onOpen: () => {
            lastFrameAt = Date.now()
            lane.init()
          },
          onClose: (reason) => {
            lane.abort()
            setOnline(false, reason)
          },
        }, opts)
        serial = link
        link.start()
        return
      }
      if (cfg.mode === 'client') {
        dial()
        return
      }
      const srv = createServer((s) => attach(s))
      server = srv
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject)
        srv.listen(cfg.port ?? 0, cfg.host, () => resolve())
      })
    },
    async stop() {
      stopped = true
      if (reconnect) clearTimeout(reconnect)
      if (silence) clearInterval(silence)
      const s = socket
      socket = undefined
      lane.abort()
      s?.destroy()
      await serial?.stop()
      serial = undefined
      if (server) await new Promise<void>((r) => server!.close(() => r()))
      await Promise.allSettled([...pending])
      ctx = undefined
    },
    health(): ComponentHealth {
      if (!socket && !serial?.isOpen) return { status: 'degraded', detail: `no RSU connection (${cfg.mode} ${address})` }
      const layout = lane.profile() ?? 'not yet told'
      return { status: 'ok', detail: `${cfg.mode} ${address}, layout ${layout}, ${transactions} passages, ${lane.inFlight()} in flight` }
    },
    owns: (device) => device === cfg.device,
  }
}
