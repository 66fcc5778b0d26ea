/**
 * What the benchmark publishers (publisher.ts through MQTT.js, lean-publisher.ts from pre-encoded packets)
 * share: their arguments, the stations' topics and the 7-field reading of the ingest benchmark.
 *   <mqttUrl> <qos> <count> <devices> <baseTs> [connections] [first] [step]
 * A publisher sends readings i = first, first + step, ... below `count` (several publisher processes split
 * the stations between them); reading i is station i % devices's, stamped baseTs + i.
 */
export interface PublisherArgs {
  url: string
  qos: 0 | 1
  count: number
  devices: number
  base: number
  connections: number
  first: number
  step: number
  topics: string[]
  /** The readings this publisher sends. */
  sent: number
}

export function publisherArgs(argv: readonly string[]): PublisherArgs {
  const [url = 'mqtt://127.0.0.1:1883', qos = '0', count = '100000', devices = '100', base = '1790000000000', connections = '10', first = '0', step = '1'] = argv
  const d = Number(devices)
  const a = { url, qos: Number(qos) as 0 | 1, count: Number(count), devices: d, base: Number(base), connections: Math.max(1, Math.min(Number(connections), d)), first: Number(first), step: Math.max(1, Number(step)) }
  const topics = Array.from({ length: d }, (_, i) => `city/bench/water_quality/wq-${String(i).padStart(4, '0')}/telemetry`)
  return { ...a, topics, sent: Math.max(0, Math.ceil((a.count - a.first) / a.step)) }
}

/** The station reading the ingest benchmark sends (and bench/ingest.ts posts raw for comparison). */
export function stationPayload(i: number, base: number): string {
  return `{"ts":${base + i},"ph":${(7 + (i % 50) / 100).toFixed(2)},"water_temp_c":${(18 + (i % 30) / 10).toFixed(1)},"dissolved_oxygen_mg_l":${(8 + (i % 20) / 10).toFixed(1)},"turbidity_ntu":${(3 + (i % 40) / 10).toFixed(1)},"conductivity_us_cm":${450 + (i % 60)},"cod_mg_l":${(12 + (i % 80) / 10).toFixed(1)},"ammonia_nitrogen_mg_l":${(0.3 + (i % 25) / 100).toFixed(2)}}`
}
