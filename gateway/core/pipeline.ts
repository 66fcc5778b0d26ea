/**
 * The hot path after decoding (issue 11 decision 4): validate and normalize each reading of a batch
 * (devices/common/normalize.ts, the one place the gateway calls it), dead-letter the refused ones with their
 * catalogued reason, enrich points with the inventory's tags, run processors, format line protocol, append
 * to the spool. `ingest` resolves once the points are on disk, with how many readings were stored and
 * refused; that is when a reading counts as accepted and when a QoS 1 message may be acknowledged.
 */
import { isUtf8 } from 'node:buffer'
import { itemRaw, JSON_LIMITS } from '../../devices/common/json-readings.ts'
import type { DeviceKind, NormalizeContext } from '../../devices/common/kind.ts'
import { normalizeJson, normalizeReading, type Refusal } from '../../devices/common/normalize.ts'
import type { Point } from '../../devices/common/point.ts'
import { deviceKind } from '../../devices/index.ts'
import type { DeadLetterEntry, DeadLetterLog } from './deadletter.ts'
import type { Registry } from './devices.ts'
import { escapeKey, escapeMeasurement, formatFields, formatTags } from './line-protocol.ts'
import type { Metrics } from './metrics.ts'
import type { Spool } from './spool.ts'
import type { IngestBatch, IngestResult, Logger, ProcessedBatch, Processor, RejectInput } from './types.ts'

export interface Pipeline {
  ingest(batch: IngestBatch): Promise<IngestResult>
  /** Refuse a frame before it has readings (bad CRC, bad topic, ...): count, log and dead-letter it. */
  reject(input: RejectInput): Promise<void>
  /** Points the gateway makes itself (device_status, alarms): spooled with tags as given. */
  writeInternal(points: readonly Point[]): Promise<void>
}

/** JSON devices send text: keep it readable in the dead-letter log; anything else is kept as hex. */
function rawOf(payload: Buffer): string | Uint8Array {
  return payload.length <= 65_536 && isUtf8(payload) ? payload.toString('utf8') : payload
}

/** A batch as its dead letter keeps it: a JSON reading's payload as received, value readings as JSON text. */
function batchRaw(b: IngestBatch): string | Uint8Array {
  const first = b.readings[0]
  if (b.readings.length === 1 && first !== undefined && 'json' in first) return rawOf(first.json)
  return itemRaw(b.readings)
}

export function createPipeline(opts: {
  spool: Spool
  deadLetter: DeadLetterLog
  devices: Registry
  metrics: Metrics
  processors: readonly Processor[]
  log: Logger
  now(): number
}): Pipeline {
  const { spool, metrics, devices, deadLetter, processors } = opts
  const acceptedBy = new Map<string, Map<string, { n: number }>>()
  const receivedBy = new Map<string, { n: number }>()
  const spooled = metrics.hot.pointsSpooled.cell({})
  const dropped = { n: 0 }
  // The commonest answer, one reading stored, for every batch of a spool group: one promise per group, not
  // one closure and promise per message.
  const ONE: IngestResult = Object.freeze({ accepted: 1, refused: 0 })
  let oneGroup: Promise<void> | undefined
  let oneResult: Promise<IngestResult> = Promise.resolve(ONE)
  // Refusals of the batch being normalized: used and emptied synchronously, so one array serves them all.
  const refused: Refusal[] = []

  function stagePoint(p: Point, baseTags: string): boolean {
    let fields = p.fieldsLine
    if (fields === undefined) {
      const before = dropped.n
      fields = formatFields(p.measurement, p.fields, dropped)
      if (dropped.n !== before) metrics.fieldsDropped.inc(dropped.n - before)
      if (!fields) return false
    }
    let tags = baseTags
    for (const k in p.tags) {
      const v = p.tags[k]
      if (v) tags += ',' + escapeKey(k) + '=' + escapeKey(v)
    }
    spool.stage(escapeMeasurement(p.measurement) + tags + ' ' + fields + ' ' + Math.round(p.time))
    return true
  }

  function stageInternal(points: readonly Point[]): void {
    for (const p of points) {
      const fields = formatFields(p.measurement, p.fields)
      if (!fields) continue
      spool.stage(`${escapeMeasurement(p.measurement)}${formatTags(p.tags)} ${fields} ${Math.round(p.time)}`)
      spooled.n++
    }
  }

  /** Stage a batch's points; returns false when nothing was staged (the batch was refused). */
  function stageBatch(b: IngestBatch, points: Point[], frames: number): boolean {
    const e = devices.resolve(b.device, b.kind, b.protocol, b.district, b.site)
    if (e.kind !== b.kind) {
      // Nobody waits for this dead letter; a failed write is logged and counted by the dead-letter log.
      reject({ source: b.source, address: b.address ?? b.device, raw: batchRaw(b), reason: 'kind_mismatch', detail: `device ${b.device} is a ${e.kind} in the inventory, got ${b.kind}`, device: b.device }).catch(() => undefined)
      return false
    }
    let base = e.tagCache.get(b.protocol)
    if (base === undefined) {
      base = formatTags({ device: e.id, kind: e.kind, district: e.district, protocol: b.protocol, ...(e.site ? { site: e.site } : {}) })
      e.tagCache.set(b.protocol, base)
    }
    let n = 0
    for (const p of points) if (stagePoint(p, base)) n++
    if (processors.length > 0) {
      // Processors see the batch with its points and the inventory's district and site: completed in place
      // (the batch is the source's fresh object for this frame) rather than copied for every reading.
      const enriched = b as IngestBatch & { points: Point[]; district: string; site?: string }
      enriched.points = points
      enriched.district = e.district
      if (e.site) enriched.site = e.site
      for (const proc of processors) {
        let extra: Point[] | undefined
        try {
          extra = proc.process(enriched as ProcessedBatch)
        } catch (err) {
          opts.log.error({ err, processor: proc.id }, 'processor failed on a batch')
        }
        if (extra) for (const p of extra) if (stagePoint(p, base)) n++
      }
    }
    const now = opts.now()
    devices.seen(e, now, frames)
    const status = devices.drainStatusPoints()
    if (status.length > 0) stageInternal(status)
    spooled.n += n
    let bySource = acceptedBy.get(b.source)
    if (!bySource) {
      bySource = new Map()
      acceptedBy.set(b.source, bySource)
    }
    let c = bySource.get(b.kind)
    if (!c) {
      c = metrics.hot.accepted.cell({ source: b.source, kind: b.kind })
      bySource.set(b.kind, c)
    }
    c.n += frames
    return true
  }

  const noteRefusal = refusalLog(opts.log, opts.now)

  /**
   * Count, log and dead-letter one refused input. Cannot throw (issue 13: a refusal that throws is a silent
   * loss): whatever fails before the dead-letter write is logged and the write still happens; the promise
   * rejects only when the dead letter could not be written, so a QoS 1 message is then not acknowledged.
   */
  function reject(input: RejectInput): Promise<void> {
    try {
      metrics.rejected.labels(input.source, input.reason).inc()
      noteRefusal(input)
      if (input.device) devices.rejected(input.device)
    } catch (err) {
      opts.log.error({ err, source: input.source, reason: input.reason }, 'counting a refusal failed; it is still dead-lettered')
    }
    const entry: DeadLetterEntry = { source: input.source, address: input.address, reason: input.reason, raw: input.raw }
    if (input.detail !== undefined) entry.detail = input.detail
    if (input.device !== undefined) entry.device = input.device
    return deadLetter.write(entry)
  }

  /**
   * Dead-letter the refused readings of a batch; `whole` is the payload they came in ('' when the readings
   * were values, not JSON text). One refusal is one record as `reject` makes it. Several (an array of bad
   * readings in one message) are one record (issue 13: a message of 5,000 bad readings cost 5,000 records,
   * promises and log calls): `count`, the count per reason in `reasons`, the first `COALESCE.items` refused
   * items (`index`, `reason`, `detail`, and their own text when there is no payload to point into), the
   * payload once; the counter goes up once per reason, by its count; the log notes each reason once.
   */
  function rejectAll(b: IngestBatch, refused: readonly Refusal[], whole: string | Uint8Array): Promise<void> {
    const address = b.address ?? b.device
    const first = refused[0]!
    if (refused.length === 1) {
      const input: RejectInput = { source: b.source, address, raw: first.raw ?? whole, reason: first.reason, device: b.device }
      input.detail = first.raw !== undefined ? `[${first.index}] ${first.detail}` : first.detail
      return reject(input)
    }
    const reasons: Record<string, number> = {}
    const items: Record<string, unknown>[] = []
    let summary = ''
    try {
      for (const r of refused) {
        const n = reasons[r.reason]
        if (n === undefined) {
          reasons[r.reason] = 1
          noteRefusal({ source: b.source, address, raw: '', reason: r.reason, device: b.device, detail: r.index >= 0 ? `[${r.index}] ${r.detail}` : r.detail })
        } else reasons[r.reason] = n + 1
        if (items.length < COALESCE.items) {
          const item: Record<string, unknown> = { index: r.index, reason: r.reason, detail: r.detail }
          if (r.raw !== undefined && whole === '') item['raw'] = r.raw.length > COALESCE.itemChars ? `${r.raw.slice(0, COALESCE.itemChars)}...` : r.raw
          items.push(item)
        }
      }
      for (const reason in reasons) {
        metrics.rejected.labels(b.source, reason).inc(reasons[reason])
        summary += `${summary ? ', ' : ''}${reason} x${reasons[reason]}`
      }
      devices.rejected(b.device, refused.length)
    } catch (err) {
      opts.log.error({ err, source: b.source, refused: refused.length }, 'counting refusals failed; they are still dead-lettered')
    }
    const entry: DeadLetterEntry = { source: b.source, address, device: b.device, reason: first.reason, detail: `${refused.length} readings refused: ${summary}`, extra: { count: refused.length, reasons, items } }
    if (whole !== '') entry.raw = whole
    return deadLetter.write(entry)
  }

  function received(source: string, n: number): void {
    let c = receivedBy.get(source)
    if (!c) {
      c = metrics.hot.received.cell({ source })
      receivedBy.set(source, c)
    }
    c.n += n
  }

  /** The batch's readings -> points; refusals collected. Written without closures: it runs per message. */
  function ingestReadings(b: IngestBatch): Promise<IngestResult> {
    const readings = b.readings
    const info = devices.get(b.device)
    const receivedAt = opts.now()
    const nctx: NormalizeContext = info ? { receivedAt, options: info.options } : { receivedAt }
    let kind: DeviceKind | undefined = deviceKind(b.kind)
    const points: Point[] = []
    refused.length = 0
    let whole: string | Uint8Array = ''
    let accepted = 0
    for (let i = 0; i < readings.length; i++) {
      const r = readings[i]!
      if (kind === undefined || kind.kind !== r.kind) kind = deviceKind(r.kind)
      if (kind === undefined) {
        refused.push({ index: i, reason: 'unknown_kind', detail: `no device kind ${r.kind}` })
        continue
      }
      const ctx: NormalizeContext = r.receivedAt === undefined ? nctx : { ...nctx, receivedAt: r.receivedAt }
      if ('json' in r) {
        const before = refused.length
        accepted += normalizeJson(kind, r.type, r.json, ctx, points, refused, JSON_LIMITS, COALESCE.items)
        if (refused.length > before) whole = rawOf(r.json)
      } else {
        const n = normalizeReading(kind, r.type, r.value, ctx)
        if (n.ok) {
          accepted++
          for (const p of n.points) points.push(p)
        } else refused.push({ index: i, reason: n.reason, detail: n.detail, raw: itemRaw(r.value) })
      }
    }
    received(b.source, (b.frames ?? accepted) + refused.length)
    // A valid reading may give no points (nothing to store); the device then is not marked seen, as before.
    const staged = points.length > 0 && stageBatch(b, points, b.frames ?? accepted)
    // Not staged with points: the inventory says the device is another kind (dead-lettered by stageBatch).
    if (points.length > 0 && !staged) {
      accepted = 0
      refused.push({ index: -1, reason: 'kind_mismatch', detail: '' })
    }
    if (refused.length === 0) {
      if (!staged) return Promise.resolve({ accepted, refused: 0 })
      if (accepted === 1) return oneCommitted()
      const result: IngestResult = { accepted, refused: 0 }
      return spool.committed().then(() => result)
    }
    if (points.length > 0 && !staged) {
      const result: IngestResult = { accepted: 0, refused: refused.length }
      refused.length = 0
      return Promise.resolve(result)
    }
    const result: IngestResult = { accepted, refused: refused.length }
    const dead = rejectAll(b, refused, whole)
    refused.length = 0
    return (staged ? Promise.all([dead, spool.committed()]) : dead).then(() => result)
  }

  function oneCommitted(): Promise<IngestResult> {
    const group = spool.committed()
    if (group !== oneGroup) {
      oneGroup = group
      oneResult = group.then(() => ONE)
    }
    return oneResult
  }

  return {
    ingest: ingestReadings,
    reject,
    writeInternal(points) {
      stageInternal(points)
      return spool.committed()
    },
  }
}

/** What a coalesced dead-letter record keeps of the refused items: how many, and characters of each one's text. */
export const COALESCE = { items: 5, itemChars: 4096 } as const

/** How often a device and reason may log a refusal, and how many pairs are remembered. */
export const REFUSAL_LOG = { everyMs: 60_000, maxKeys: 1_000, maxDetail: 300 } as const

/**
 * A wrong payload is visible in the log, not only in the dead-letter file: the first refusal of a device
 * and reason is logged at info; after that at most one line per `everyMs` for that pair, which says how
 * many were refused meanwhile without a line (`suppressed`). Input no device can be named for (a bad topic,
 * a garbled TCP frame) counts against its source instead: keyed by address, a terminal that reconnects
 * from a new port each time would get a line per connection.
 * Rates stay metrics (`smartcity_readings_rejected_total`): a device that sends nothing but bad frames costs
 * one line a minute. Memory is bounded: past `maxKeys` pairs the least recently logged one is forgotten.
 */
export function refusalLog(log: Logger, now: () => number, limits: { everyMs: number; maxKeys: number; maxDetail: number } = REFUSAL_LOG): (input: RejectInput) => void {
  const pairs = new Map<string, { at: number; suppressed: number }>()
  return (input) => {
    const who = input.device !== undefined ? `device\u0000${input.device}` : `source\u0000${input.source}`
    const key = `${who}\u0000${input.reason}`
    const t = now()
    const last = pairs.get(key)
    if (last && t - last.at < limits.everyMs) {
      last.suppressed++
      return
    }
    // Map order is insertion order: delete and set again keeps the least recently logged pair first.
    if (last) pairs.delete(key)
    else if (pairs.size >= limits.maxKeys) {
      const oldest = pairs.keys().next().value
      if (oldest !== undefined) pairs.delete(oldest)
    }
    pairs.set(key, { at: t, suppressed: 0 })
    const detail = input.detail !== undefined && input.detail.length > limits.maxDetail ? `${input.detail.slice(0, limits.maxDetail)}...` : input.detail
    log.info(
      {
        source: input.source,
        address: input.address,
        ...(input.device !== undefined ? { device: input.device } : {}),
        reason: input.reason,
        ...(detail !== undefined ? { detail } : {}),
        ...(last ? { suppressed: last.suppressed } : {}),
      },
      'input refused (counted and dead-lettered)',
    )
  }
}
