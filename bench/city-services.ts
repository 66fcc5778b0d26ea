/**
 * Throughput on one core of the ETC RSU codec (bytes -> framed, unstuffed, BCC-checked, decoded frames,
 * and encoding), the elevator car monitor (status messages -> events) and the alarm rules processor
 * (batches -> alarm checks). Prints JSON; `npm run bench` collects it.
 *   node --import tsx bench/city-services.ts
 */
import { createCarMonitor } from '../devices/elevator/faults.ts'
import { createRsuFramer, decodeRsuFrame, encodeRsu, type RsuFrame } from '../devices/etc/rsu/index.ts'
import { createAlarmProcessor } from '../gateway/alarms/processor.ts'
import { createBuilding } from '../simulators/elevator/model.ts'

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9

function etc(frames: number) {
  const b4: RsuFrame = { rsctl: 0x38, type: 'B4', fields: { obuId: 'A1B2C3D4', errorCode: 0, cardType: 0x16, balanceFen: 0xfefe, issuerFile: 'FF'.repeat(43), lastStationFile: 'FE'.repeat(43) } }
  const b3: RsuFrame = { rsctl: 0x28, type: 'B3', fields: { obuId: 'A1B2C3D4', errorCode: 0, plate: '陕A12345', plateColor: 0, vehicleClass: 1, userType: 0 } }
  let start = process.hrtime.bigint()
  const parts: Buffer[] = []
  for (let i = 0; i < frames; i++) parts.push(encodeRsu(i % 2 ? b3 : b4))
  const encS = seconds(start)
  const bytes = Buffer.concat(parts)
  start = process.hrtime.bigint()
  const framer = createRsuFramer()
  let ok = 0
  for (let i = 0; i < bytes.length; i += 512) {
    for (const ev of framer.push(bytes.subarray(i, i + 512))) {
      if (ev.ok && decodeRsuFrame(ev.frame).ok) ok++
    }
  }
  const decS = seconds(start)
  return {
    frames,
    decoded: ok,
    note: 'half B4 (worst-case stuffing: 86 bytes of FF/FE), half B3 (GBK plate)',
    encode_frames_per_s: Math.round(frames / encS),
    decode_frames_per_s: Math.round(frames / decS),
    decode_mb_per_s: Number((bytes.length / decS / 1e6).toFixed(2)),
  }
}

function elevator(hours: number) {
  const b = createBuilding({ seed: 1, cars: 6, bottomFloor: -2, topFloor: 30 })
  const t0 = Date.UTC(2026, 10, 23, 0)
  const statuses = []
  for (let t = t0; t < t0 + hours * 3_600_000; t += 500) {
    b.step(t)
    for (let i = 0; i < 6; i++) statuses.push({ i, t, s: b.status(i) })
  }
  const monitors = Array.from({ length: 6 }, () => createCarMonitor({ topFloor: 30, bottomFloor: -2 }))
  const start = process.hrtime.bigint()
  let events = 0
  for (const x of statuses) events += monitors[x.i]!.status(x.s, x.t).length
  const s = seconds(start)
  return { statuses: statuses.length, events, status_per_s: Math.round(statuses.length / s) }
}

function alarms(batches: number) {
  let now = 0
  const proc = createAlarmProcessor(
    {
      rules: [
        { name: 'ph', measurement: 'water_quality', field: 'ph', outside: [6, 9], forSec: 300, hysteresis: 0.1 },
        { name: 'cls', measurement: 'water_quality', field: 'gb3838_class', above: 3 },
        { name: 'volt', measurement: 'energy_meter', fields: ['voltage_a_v', 'voltage_b_v', 'voltage_c_v'], deviation: { nominal: 220, pct: 10 } },
        { name: 'offline', type: 'offline', afterSec: 300 },
      ],
    },
    { now: () => now },
  )
  const start = process.hrtime.bigint()
  let out = 0
  for (let i = 0; i < batches; i++) {
    now = i
    const r = proc.process({
      source: 'b',
      device: `wq-${i % 100}`,
      kind: 'water_quality',
      protocol: 'mqtt',
      district: 'd',
      points: [{ measurement: 'water_quality', tags: {}, fields: { ph: 6 + (i % 40) / 10, gb3838_class: 1 + (i % 6) }, time: i }],
    })
    out += r?.length ?? 0
  }
  const s = seconds(start)
  return { batches, alarm_points: out, batches_per_s: Math.round(batches / s) }
}

export async function run(): Promise<Record<string, unknown>> {
  return { etc_rsu: etc(200_000), elevator_monitor: elevator(12), alarm_rules: alarms(200_000) }
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(`${JSON.stringify(await run(), null, 2)}\n`)
