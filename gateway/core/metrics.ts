/**
 * Prometheus metrics (rates and counts are metrics, not log lines). One registry per gateway, so tests can
 * run several gateways in one process.
 *
 * Counters bumped for every reading are plain numbers (`hot`) copied into prom-client at scrape time:
 * prom-client hashes the label set on every `inc`, which cost more than the rest of a reading's pipeline.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'

/** A counter keyed by a label tuple, as plain numbers; read at scrape time. */
export class HotCounter {
  readonly values = new Map<string, { labels: Record<string, string>; n: number }>()
  /** The cell for one label set: keep it and `cell.n += k` on the hot path. */
  cell(labels: Record<string, string>): { labels: Record<string, string>; n: number } {
    const key = Object.values(labels).join('\u0000')
    let c = this.values.get(key)
    if (!c) {
      c = { labels, n: 0 }
      this.values.set(key, c)
    }
    return c
  }
}

function hotCounter(registry: Registry, name: string, help: string, labelNames: string[], hot: HotCounter): Counter {
  return new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset()
      for (const c of hot.values.values()) this.inc(c.labels, c.n)
    },
  })
}

/**
 * `smartcity_event_loop_delay_max_seconds`: the longest event-loop delay since the last scrape (perf_hooks'
 * histogram, reset at each scrape), so a stall between two scrapes is seen whatever its length.
 */
function eventLoopDelayGauge(registry: Registry): Gauge {
  const h = monitorEventLoopDelay({ resolution: 10 })
  h.enable()
  return new Gauge({
    name: 'smartcity_event_loop_delay_max_seconds',
    help: 'Longest event-loop delay since the last scrape',
    registers: [registry],
    collect() {
      this.set(h.max / 1e9)
      h.reset()
    },
  })
}

export function createMetrics() {
  const registry = new Registry()
  const hot = { received: new HotCounter(), accepted: new HotCounter(), pointsSpooled: new HotCounter(), lastSeen: new Map<string, { labels: Record<string, string>; ms: number }>() }
  const m = {
    registry,
    hot,
    received: hotCounter(registry, 'smartcity_readings_received_total', 'Frames and messages received, by source', ['source'], hot.received),
    accepted: hotCounter(registry, 'smartcity_readings_accepted_total', 'Readings accepted into the spool, by source and kind', ['source', 'kind'], hot.accepted),
    rejected: new Counter({ name: 'smartcity_readings_rejected_total', help: 'Input refused, by source and reason (each kept in the dead-letter log)', labelNames: ['source', 'reason'], registers: [registry] }),
    pointsSpooled: hotCounter(registry, 'smartcity_points_spooled_total', 'Points appended to the spool', [], hot.pointsSpooled),
    pointsWritten: new Counter({ name: 'smartcity_points_written_total', help: 'Points written to a sink', labelNames: ['sink'], registers: [registry] }),
    pointsDeadLettered: new Counter({ name: 'smartcity_points_deadlettered_total', help: 'Points moved to the dead-letter log, by reason (sink rejection, spool overflow)', labelNames: ['reason'], registers: [registry] }),
    fieldsDropped: new Counter({ name: 'smartcity_fields_dropped_total', help: 'Field values left out of a point because line protocol cannot carry them (NaN, Infinity)', registers: [registry] }),
    sinkLatency: new Histogram({
      name: 'smartcity_sink_write_seconds',
      help: 'Time of one write request to a sink',
      labelNames: ['sink'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    sinkErrors: new Counter({ name: 'smartcity_sink_errors_total', help: 'Failed sink writes, by sink and kind (retry, rejected, too_large)', labelNames: ['sink', 'kind'], registers: [registry] }),
    spoolDepth: new Gauge({ name: 'smartcity_spool_depth_points', help: 'Points in the spool not yet written to the slowest sink', registers: [registry] }),
    spoolBytes: new Gauge({ name: 'smartcity_spool_bytes', help: 'Bytes of spool segments on disk', registers: [registry] }),
    spoolOverflow: new Counter({ name: 'smartcity_spool_overflow_segments_total', help: 'Spool segments moved to the dead-letter directory because the spool was full', registers: [registry] }),
    deadLetterCoalesced: new Counter({ name: 'smartcity_deadletter_coalesced_total', help: 'Refusals kept only as counts in a deadletter_overflow record (the dead-letter staging was full), by reason', labelNames: ['reason'], registers: [registry] }),
    deadLetterDropped: new Counter({ name: 'smartcity_deadletter_dropped_bytes_total', help: 'Bytes of dead letters lost: files deleted because the dead-letter directory exceeded its cap, or a group whose write failed', registers: [registry] }),
    lastSeen: new Gauge({
      name: 'smartcity_device_last_seen_seconds',
      help: 'Unix time a device was last heard from',
      labelNames: ['device', 'kind'],
      registers: [registry],
      collect() {
        for (const v of hot.lastSeen.values()) this.set(v.labels, v.ms / 1000)
      },
    }),
    // issue 13: whether one client can stall the gateway shows here (perf_hooks, 10 ms resolution).
    eventLoopDelay: eventLoopDelayGauge(registry),
    deviceOnline: new Gauge({ name: 'smartcity_device_online', help: '1 when a device is online', labelNames: ['device', 'kind'], registers: [registry] }),
  }
  return m
}
export type Metrics = ReturnType<typeof createMetrics>
