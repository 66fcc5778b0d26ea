/**
 * The hot path after decoding: enrich points with the inventory's tags, run processors, format line
 * protocol, append to the spool. `ingest` resolves once the points are on disk; that is when a reading counts
 * as accepted and when a QoS 1 message may be acknowledged.
 */
import type { Point } from '../../devices/common/point.ts'
import type { DeadLetterLog } from './deadletter.ts'
import type { Registry } from './devices.ts'
import { escapeKey, escapeMeasurement, formatFields, formatTags } from './line-protocol.ts'
import type { Metrics } from './metrics.ts'
import type { Spool } from './spool.ts'
import type { IngestBatch, Logger, Processor, RejectInput } from './types.ts'

export interface Pipeline {
  ingest(batch: IngestBatch): Promise<void>
  /** Like ingest, without waiting for the disk (QoS 0): the write still happens with the next group. */
  ingestNoWait(batch: IngestBatch): void
  reject(input: RejectInput): Promise<void>
  /** Points the gateway makes itself (device_status, alarms): spooled with tags as given. */
  writeInternal(points: readonly Point[]): Promise<void>
  /** Count a received frame or message. */
  received(source: string): void
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
  const spooled = metrics.hot.pointsSpooled.cell({})
  const dropped = { n: 0 }

  const received = (source: string) => {
    metrics.hot.received.cell({ source }).n++
  }

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

  /** Stage a batch; returns false when nothing was staged (the batch was refused). */
  function stageBatch(b: IngestBatch): boolean {
    const e = devices.resolve(b.device, b.kind, b.protocol, b.district, b.site)
    if (e.kind !== b.kind) {
      void reject({ source: b.source, address: b.device, raw: JSON.stringify(b.points), reason: 'kind_mismatch', detail: `device ${b.device} is a ${e.kind} in the inventory, got ${b.kind}`, device: b.device })
      return false
    }
    let base = e.tagCache.get(b.protocol)
    if (base === undefined) {
      base = formatTags({ device: e.id, kind: e.kind, district: e.district, protocol: b.protocol, ...(e.site ? { site: e.site } : {}) })
      e.tagCache.set(b.protocol, base)
    }
    let n = 0
    for (const p of b.points) if (stagePoint(p, base)) n++
    if (processors.length > 0) {
      // Processors see the batch with the inventory's district and site: completed in place (the batch is
      // the source's fresh object for this frame) rather than copied for every reading.
      const enriched = b as IngestBatch & { district: string; site?: string }
      enriched.district = e.district
      if (e.site) enriched.site = e.site
      for (const proc of processors) {
        let extra: Point[] | undefined
        try {
          extra = proc.process(enriched)
        } catch (err) {
          opts.log.error({ err, processor: proc.id }, 'processor failed on a batch')
        }
        if (extra) for (const p of extra) if (stagePoint(p, base)) n++
      }
    }
    const now = opts.now()
    devices.seen(e, now, b.frames ?? 1)
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
    c.n += b.frames ?? 1
    return true
  }

  const noteRefusal = refusalLog(opts.log, opts.now)

  async function reject(input: RejectInput): Promise<void> {
    metrics.rejected.labels(input.source, input.reason).inc()
    noteRefusal(input)
    if (input.device) devices.rejected(input.device)
    const entry: Parameters<DeadLetterLog['write']>[0] = { source: input.source, address: input.address, reason: input.reason, raw: input.raw }
    if (input.detail !== undefined) entry.detail = input.detail
    if (input.device !== undefined) entry.device = input.device
    await deadLetter.write(entry)
  }

  return {
    received,
    ingest(b) {
      return stageBatch(b) ? spool.committed() : Promise.resolve()
    },
    ingestNoWait(b) {
      stageBatch(b)
    },
    reject,
    writeInternal(points) {
      stageInternal(points)
      return spool.committed()
    },
  }
}

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
