/**
 * The lane controller of one RSU connection, transport-free so tests drive it with bytes and a clock: it
 * frames and reads the RSU's frames with the etc-rsu codec (devices/etc/rsu/codec.ts), answers every frame
 * except B2 heartbeats, and turns each passage into one `transaction` reading:
 *   B2 (OBU info)  -> C1 continue, or C2 stop when the OBU cannot pay (no card, card error, locked, expired)
 *   B3 (vehicle)   -> empty answer
 *   B4 (card)      -> C6 deduct with the fee of the vehicle class from the tariff table, or C2 stop
 *                     (card error, blacklisted card, balance below the fee)
 *   B5 (result)    -> empty answer; the passage ends `ok` or `deduct_failed`
 * A passage that makes no progress for `transactionTimeoutMs` ends as `timeout` (a lost frame either way:
 * the RSU waits for an answer that never comes, or the answer to it was lost). Every passage gives exactly
 * one `transaction` reading with its `result` (results.ts) and `transaction_ms` (B2 to result); a B0 gives
 * the codec's `rsu_status` reading. C0 initialises the RSU on every new connection and again until a B0
 * answers it, and after a power-on B0 nobody asked for.
 */
import type { Reading } from '../../../devices/common/kind.ts'
import type { Reason } from '../../../devices/common/reasons.ts'
import {
  answerRsctl,
  cardIdFromB2,
  cardIdFromIssuerFile,
  encodeRsu,
  etcRsuCodec,
  fieldsForLayout,
  isHeartbeat,
  msToBcdTime,
  obuStatusFlags,
  PROFILE_2019,
  type RsuFrame,
  type RsuProfile,
  type RsuRawFrame,
} from '../../../devices/etc/rsu/index.ts'
import type { EtcTransactionReading } from '../../../devices/etc/schema.ts'
import type { EtcRsuSourceConfig } from './config.ts'
import type { EtcResult } from './results.ts'

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
  /** A passage ended: its `transaction` reading. */
  transaction(r: Reading): void
  /** The RSU reported its status (B0): the `rsu_status` reading the codec made of it. */
  status(r: Reading): void
  reject(raw: Buffer, reason: Reason, detail?: string): void
}

/** The lane-controller state machine over one connection; transport-free so tests can drive it. */
export function createLaneController(cfg: EtcRsuSourceConfig, deps: LaneControllerDeps) {
  // Frames are read with the configured layout, or with `auto` in the layout each one shows (the codec's
  // per-connection state); the lane's own frames are written in the layout detected so far (classic until
  // the RSU has shown one).
  const codec = etcRsuCodec(cfg.profile)
  const reader = codec.newState()
  const framer = codec.framer()
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
    const value: EtcTransactionReading = { ts: uniqueTime(), lane: cfg.lane, result, obu_id: p.obuId, transaction_ms: Math.max(0, deps.now() - p.startedAt) }
    if (p.plate !== undefined) value.plate = p.plate
    // A B3 without a plate colour leaves NaN: the field is left out, as the point-building code stored it.
    if (p.plateColor !== undefined && Number.isFinite(p.plateColor)) value.plate_color = p.plateColor
    if (p.vehicleClass !== undefined) value.vehicle_class = p.vehicleClass
    if (p.feeFen !== undefined) value.fee_fen = p.feeFen
    if (p.balanceFen !== undefined) value.balance_fen = p.balanceFen
    if (p.cardId !== undefined) value.card_id = p.cardId
    deps.transaction({ kind: 'etc', type: 'transaction', device: cfg.device, value })
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
    const d = codec.decode(raw, reader)
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
        for (const r of codec.readings(d.value, reader, { receivedAt: deps.now() }).readings) deps.status({ ...r, device: cfg.device })
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
