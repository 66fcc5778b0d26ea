/**
 * A small district for the page's tests and screenshots: the demo scenario's device ids (so the demo GeoJSON
 * places the fixed ones), published over MQTT the way the devices do (docs/data-model.md, MQTT message format).
 */
import type { MqttClient } from 'mqtt'

export const DISTRICT = 'xian-gaoxin'

export const DEVICES = [
  { id: 'wq-0001', kind: 'water_quality', site: 'Zaohe bridge' },
  { id: 'wq-0002', kind: 'water_quality', site: 'Zaohe, Keji 8th Rd' },
  { id: 'wq-0003', kind: 'water_quality', site: 'Yuhe Lake inlet', options: { waterBody: 'lake' } },
  { id: 'wq-0004', kind: 'water_quality', site: 'Jue river' },
  { id: 'wq-hist', kind: 'water_quality', site: 'History test station' },
  { id: 'em-0001', kind: 'energy_meter', site: 'Gaoxin No.1 Middle School' },
  { id: 'em-0002', kind: 'energy_meter', site: 'Tangyan Rd pumping station' },
  { id: 'em-0003', kind: 'energy_meter', site: 'Keji 8th Rd lighting cabinet' },
  { id: 'rsu-g65-k12', kind: 'etc', site: 'G65 K12 gantry' },
  ...[1, 2, 3, 4].map((n) => ({ id: `tower-a-L${n}`, kind: 'elevator', site: 'Tower A' })),
  { id: 'bus-101', kind: 'position', site: 'Bus line 1' },
  { id: 'taxi-7', kind: 'position', site: 'Taxi' },
] as const

/** The bus line of simulators/jt808 DISTRICT_ROUTES (Keji Rd / Tangyan Rd), [lat, lon]. */
const BUS: [number, number][] = [
  [34.2336, 108.8827],
  [34.2336, 108.9015],
  [34.2195, 108.9015],
  [34.2032, 108.9015],
]

const topic = (kind: string, id: string) => `city/${DISTRICT}/${kind}/${id}/telemetry`

/** One round of readings from every device (step `i` moves the vehicles along their routes). */
export async function publishRound(c: MqttClient, i: number): Promise<void> {
  const pub = (kind: string, id: string, body: Record<string, unknown>) => c.publishAsync(topic(kind, id), JSON.stringify(body), { qos: 1 })
  const w = (i % 10) / 100
  await pub('water_quality', 'wq-0001', { ph: 7.3 + w, dissolved_oxygen_mg_l: 6.5 - w, cod_mg_l: 18, ammonia_nitrogen_mg_l: 1.8 + w, total_phosphorus_mg_l: 0.15, water_temp_c: 14.2 })
  await pub('water_quality', 'wq-0002', { ph: 7.6, dissolved_oxygen_mg_l: 7.8 + w, codmn_mg_l: 3.1, ammonia_nitrogen_mg_l: 0.4, total_phosphorus_mg_l: 0.08, water_temp_c: 14.6 })
  await pub('water_quality', 'wq-0003', { ph: 7.9, dissolved_oxygen_mg_l: 8.2, total_nitrogen_mg_l: 1.8 + w, total_phosphorus_mg_l: 0.04, water_temp_c: 13.1 })
  await pub('water_quality', 'wq-0004', { ph: 7.4, dissolved_oxygen_mg_l: 9.1, ammonia_nitrogen_mg_l: 0.12, codmn_mg_l: 1.9, water_temp_c: 13.8 })
  for (const [n, id] of ['em-0001', 'em-0002', 'em-0003'].entries()) {
    await pub('energy_meter', id, { voltage_a_v: 220.5 + n, current_a_a: 40 + n * 5 + i, active_power_kw: 25 + n * 8 + i * 0.7, power_factor: 0.93, import_energy_kwh: 10_000 * (n + 1) + i * 0.4 })
  }
  await pub('etc', 'rsu-g65-k12', { lane: 'K12-1', result: i % 4 === 3 ? 'insufficient_balance' : 'ok', plate: `陕A${(12_340 + i).toString()}`, vehicle_class: 1, fee_fen: 1235 + i * 10, transaction_ms: 180 + i })
  for (const n of [1, 2, 3, 4]) {
    const floor = ((i + n * 3) % 20) + 1
    await pub('elevator', `tower-a-L${n}`, { floor, direction: n % 3 === 0 ? 'stop' : (i + n) % 2 ? 'up' : 'down', door_open: n % 3 === 0, door_state: n % 3 === 0 ? 'open' : 'closed', moving: n % 3 !== 0, speed_m_s: n % 3 === 0 ? 0 : 1.6, occupied: n % 2 === 0, service_mode: 'normal', in_leveling_zone: true })
  }
  const [a, b] = [BUS[i % BUS.length]!, BUS[(i + 1) % BUS.length]!]
  await pub('position', 'bus-101', { lat: (a[0] + b[0]) / 2, lon: (a[1] + b[1]) / 2, speed_kmh: 28 + (i % 5), satellites_used: 14, fix_quality: 1, system: 'BDS' })
  await pub('position', 'taxi-7', { lat: 34.2195 + i * 0.002, lon: 108.8827 + i * 0.003, speed_kmh: 42, satellites_used: 11, fix_quality: 1, system: 'GNSS' })
}
