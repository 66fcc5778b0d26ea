import pino from 'pino'
import { type ConfigOverrides, type GatewayConfigInput, parseConfig } from '../../gateway/config.ts'
import { createGateway, type Gateway, type GatewayOptions } from '../../gateway/gateway.ts'

/** A gateway in this process from config data (validated as a file would be). */
export function gatewayFrom(raw: GatewayConfigInput, overrides: ConfigOverrides = {}, opts: GatewayOptions = {}): Gateway {
  const r = parseConfig(raw, overrides)
  if (!r.ok) throw new Error(`bad test config: ${r.problems.join('; ')}`)
  return createGateway(r.config, { log: pino({ level: process.env['TEST_LOG'] ?? 'silent' }), ...opts })
}

/** Current value of a counter or gauge from the gateway's registry (sum over matching labels). */
export async function metricValue(gw: Gateway, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await gw.metrics.registry.getSingleMetric(name)?.get()
  if (!m) return 0
  let sum = 0
  for (const v of m.values) {
    if (Object.entries(labels).every(([k, val]) => String((v.labels as Record<string, unknown>)[k]) === val)) sum += v.value
  }
  return sum
}

/** A water-quality station reading with 7 fields, as the benchmark and e2e tests use. */
export function stationReading(i: number, ts: number): Record<string, number> {
  return {
    ts,
    ph: 7 + (i % 10) / 100,
    water_temp_c: 18 + (i % 7) / 10,
    dissolved_oxygen_mg_l: 8 + (i % 5) / 10,
    turbidity_ntu: 3 + (i % 11) / 10,
    conductivity_us_cm: 450 + (i % 13),
    cod_mg_l: 12 + (i % 9) / 10,
    ammonia_nitrogen_mg_l: 0.3 + (i % 3) / 100,
  }
}
