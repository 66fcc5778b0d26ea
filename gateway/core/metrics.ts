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

/** Upper bounds (seconds) of the reading-age histogram: from a loopback write to a long outage. */
export const READING_AGE_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60, 120, 300, 900, 3600]

/**
 * A histogram kept as plain numbers on the hot path (one observation per point written) and exposed in
 * Prometheus' histogram format at scrape time: prom-client's `observe` hashes the label set on every call,
 * as its counters do.
 */
export class HotHistogram {
  readonly series = new Map<string, { labels: Record<string, string>; counts: number[]; sum: number; count: number }>()
  constructor(
    readonly name: string,
    readonly help: string,
    readonly bounds: readonly number[],
  ) {}
  /** The cell of one label set: keep it for a run of observations with those labels. */
  cell(labels: Record<string, string>): { labels: Record<string, string>; counts: number[]; sum: number; count: number } {
    const key = Object.values(labels).join('\u0000')
    let c = this.series.get(key)
    if (!c) {
      c = { labels, counts: new Array<number>(this.bounds.length).fill(0), sum: 0, count: 0 }
      this.series.set(key, c)
    }
    return c
  }
  observe(c: { counts: number[]; sum: number; count: number }, v: number): void {
    c.sum += v
    c.count++
    const b = this.bounds
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]!) {
        c.counts[i]!++
        return
      }
    }
  }
  /** prom-client's metric interface (`registry.registerMetric`): cumulative buckets, +Inf, sum, count. */
  get() {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = []
    for (const c of this.series.values()) {
      let acc = 0
      for (const [i, le] of this.bounds.entries()) {
        acc += c.counts[i]!
        values.push({ labels: { ...c.labels, le }, value: acc, metricName: `${this.name}_bucket` })
      }
      values.push({ labels: { ...c.labels, le: '+Inf' }, value: c.count, metricName: `${this.name}_bucket` })
      values.push({ labels: c.labels, value: c.sum, metricName: `${this.name}_sum` })
      values.push({ labels: c.labels, value: c.count, metricName: `${this.name}_count` })
    }
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' }
  }
  reset(): void {
    this.series.clear()
  }
}

/**
 * A gauge whose series are read from cells the hot path keeps (`cells()`, `value(cell)`) at scrape time, in
 * prom-client's metric interface (`registry.registerMetric`), without prom-client hashing each label set.
 */
/** A device's series in /metrics: when it was last heard from, whether it is online (unset: none yet). */
export interface DeviceCell {
  labels: Record<string, string>
  ms: number | undefined
  on: number | undefined
}

export class HotGauge<C extends { labels: Record<string, string> }> {
  readonly type = 'gauge'
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly cells: () => Iterable<C>,
    /** A cell's value; undefined: no series for it. */
    private readonly value: (c: C) => number | undefined,
  ) {}
  get() {
    const values: { labels: Record<string, string>; value: number }[] = []
    for (const c of this.cells()) {
      const v = this.value(c)
      if (v !== undefined) values.push({ labels: c.labels, value: v })
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: 'max' }
  }
  reset(): void {}
}

export function createMetrics() {
  const registry = new Registry()
  const hot = { received: new HotCounter(), accepted: new HotCounter(), pointsSpooled: new HotCounter(), lastSeen: new Map<string, DeviceCell>() }
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
    // One series per device (10,000 on a big district): read straight from the devices' cells at scrape time
    // (a prom-client Gauge set from them hashed and sorted every label set at every scrape).
    lastSeen: new HotGauge('smartcity_device_last_seen_seconds', 'Unix time a device was last heard from', () => hot.lastSeen.values(), (c) => (c.ms === undefined ? undefined : c.ms / 1000)),
    // issue 13: whether one client can stall the gateway shows here (perf_hooks, 10 ms resolution).
    eventLoopDelay: eventLoopDelayGauge(registry),
    // --- Security (issue 13): HTTP authentication and the audit log ---
    httpAuthFailures: new Counter({ name: 'smartcity_http_auth_failures_total', help: 'HTTP requests refused by authentication or authorization, by reason (no_token, bad_token, missing_scope, too_many_auth_failures)', labelNames: ['reason'], registers: [registry] }),
    auditDropped: new Counter({ name: 'smartcity_audit_dropped_total', help: 'Audit records that could not be written (disk full, directory not writable)', registers: [registry] }),
    // Issue 13 (secmqtt): what the embedded broker refused.
    mqttRefused: new Counter({ name: 'smartcity_mqtt_refused_total', help: 'MQTT connections, publishes and subscriptions the embedded broker refused, by action and reason', labelNames: ['action', 'reason'], registers: [registry] }),
    // From the same cells (a prom-client Gauge kept a second copy of every device's labels, and a removed
    // device's series for ever).
    deviceOnline: new HotGauge('smartcity_device_online', '1 when a device is online', () => hot.lastSeen.values(), (c) => c.on),
    // Record and replay (gateway/core/recorder.ts), present whether or not the gateway records.
    recordBytes: new Counter({ name: 'smartcity_record_bytes_total', help: 'Bytes written to recording files (--record)', registers: [registry] }),
    recordFiles: new Counter({ name: 'smartcity_record_files_total', help: 'Recording files opened (one per connection and part)', registers: [registry] }),
    recordDropped: new Counter({
      name: 'smartcity_record_dropped_total',
      help: 'Records left out of the recording, by reason (total_cap: record.maxTotalBytes reached; backlog: the disk is behind; write_failed)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    /**
     * End-to-end latency: (write acknowledged by the sink - the point's time) for every point written, by
     * measurement and `interval` tag ('' for none: a reading; HJ 212 `minute`/`hour`/`day` statistics carry
     * the time of their interval). A device's reading time is its own clock: one off by a second shifts it.
     */
    readingAge: new HotHistogram('smartcity_reading_age_seconds', "Time from a point's timestamp (the reading time) to its write acknowledged by a sink, by measurement and interval tag (HJ 212 statistics carry their interval's time)", READING_AGE_BUCKETS),
    // --- issue 13 (seclife): TCP device servers' admission and idle time-outs; configuration reloads ---
    tcpRefused: new Counter({ name: 'smartcity_tcp_connections_refused_total', help: 'Connections a TCP device server refused before reading them, by source and reason (allowlist, connection caps)', labelNames: ['source', 'reason'], registers: [registry] }),
    tcpClosed: new Counter({ name: 'smartcity_tcp_connections_closed_total', help: 'Connections of a TCP device server that ended, by source and why (idle_timeout, closed_by_gateway, end, error, stopped)', labelNames: ['source', 'reason'], registers: [registry] }),
    reloads: new Counter({ name: 'smartcity_config_reloads_total', help: 'Configuration reloads (SIGHUP, POST /api/reload), by outcome (ok, failed)', labelNames: ['outcome'], registers: [registry] }),
  }
  // prom-client types registerMetric for its own classes; it reads name, help, type and get() of any object.
  registry.registerMetric(m.readingAge as unknown as Parameters<Registry['registerMetric']>[0])
  for (const g of [m.lastSeen, m.deviceOnline]) registry.registerMetric(g as unknown as Parameters<Registry['registerMetric']>[0])
  return m
}
export type Metrics = ReturnType<typeof createMetrics>
