/**
 * Throughput of the serial codecs on one core: NMEA bytes -> framed, decoded sentences -> epochs -> points,
 * and DL/T 645 reply bytes -> frames -> values. Prints JSON; `npm run bench` collects it.
 *   node --import tsx bench/serial-codecs.ts
 */
import { createDlt645Framer, decodeDataValue, decodeMessage, encodeDataValue, encodeMessage } from '../devices/energy-meter/dlt645/index.ts'
import { createEpochAssembler, createNmeaFramer, decodeSentence } from '../devices/position/nmea/index.ts'
import { epochToPoints } from '../devices/position/index.ts'
import { createGnssReceiver } from '../simulators/gnss/receiver.ts'

function nmea(epochs: number) {
  const rx = createGnssReceiver()
  const t0 = Date.UTC(2026, 10, 22)
  const text = Array.from({ length: epochs }, (_, i) => rx.epoch(t0 + i * 1000).lines.join('')).join('')
  const bytes = Buffer.from(text, 'latin1')
  const sentences = text.split('\n').length - 1
  const start = process.hrtime.bigint()
  const framer = createNmeaFramer()
  const asm = createEpochAssembler()
  let points = 0
  for (let i = 0; i < bytes.length; i += 256) {
    for (const ev of framer.push(bytes.subarray(i, i + 256))) {
      if (!ev.ok) continue
      const s = decodeSentence(ev.frame)
      if (!s.ok) continue
      for (const e of asm.push(s.value, t0)) {
        const p = epochToPoints(e, { satellites: true })
        if (p.ok) points += p.value.length
      }
    }
  }
  const s = Number(process.hrtime.bigint() - start) / 1e9
  return { sentences, epochs, points, seconds: Number(s.toFixed(3)), sentences_per_s: Math.round(sentences / s), mb_per_s: Number((bytes.length / s / 1e6).toFixed(2)) }
}

function dlt645(frames: number) {
  const one = encodeMessage(
    { kind: 'read_reply', version: '2007', address: '000000000161', di: 0x0202ff00, data: encodeDataValue('2007', 0x0202ff00, { current_a_a: 12.345, current_b_a: -3.2, current_c_a: 7 })!, more: false },
    4,
  )
  const bytes = Buffer.concat(Array.from({ length: frames }, () => one))
  const start = process.hrtime.bigint()
  const framer = createDlt645Framer()
  let values = 0
  for (let i = 0; i < bytes.length; i += 64) {
    for (const ev of framer.push(bytes.subarray(i, i + 64))) {
      if (!ev.ok) continue
      const m = decodeMessage(ev.frame)
      if (m.ok && m.value.message.kind === 'read_reply') {
        const v = decodeDataValue('2007', m.value.message.di, m.value.message.data)
        if (v.ok) values += Object.keys(v.value.fields).length
      }
    }
  }
  const s = Number(process.hrtime.bigint() - start) / 1e9
  return { frames, values, seconds: Number(s.toFixed(3)), frames_per_s: Math.round(frames / s) }
}

export async function run(): Promise<Record<string, unknown>> {
  nmea(200) // warm-up
  dlt645(2000)
  return { name: 'serial-codecs', nmea: nmea(20_000), dlt645: dlt645(200_000) }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run().then((r) => process.stdout.write(`${JSON.stringify(r)}\n`))
}
