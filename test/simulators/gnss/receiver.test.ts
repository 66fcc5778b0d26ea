import { describe, expect, it } from 'vitest'
import { createEpochAssembler, createNmeaFramer, decodeSentence, type PositionEpoch } from '../../../devices/position/nmea/index.ts'
import { createGnssReceiver } from '../../../simulators/gnss/receiver.ts'

function decodeAll(bytes: string, receivedAt: number): PositionEpoch[] {
  const f = createNmeaFramer()
  const asm = createEpochAssembler()
  const out: PositionEpoch[] = []
  for (const ev of f.push(Buffer.from(bytes, 'latin1'))) {
    expect(ev.ok).toBe(true)
    if (!ev.ok) continue
    const s = decodeSentence(ev.frame)
    expect(s.ok).toBe(true)
    if (s.ok) out.push(...asm.push(s.value, receivedAt))
  }
  return [...out, ...asm.flush()]
}

describe('GNSS receiver simulator', () => {
  it('drives the route at 1 Hz with GN + GB sentences that decode to its own truth, and loses the fix in the tunnel', () => {
    const rx = createGnssReceiver({ tunnels: [[100, 160]], speedKmh: 36 })
    const t0 = Date.UTC(2026, 10, 22, 2, 0, 0)
    let fixes = 0
    let lost = 0
    for (let i = 0; i < 30; i++) {
      const { lines, truth } = rx.epoch(t0 + i * 1000)
      expect(lines.map((l) => l.slice(1, 6))).toEqual(expect.arrayContaining(['GNRMC', 'GNGGA', 'GNGSA', 'GPGSV', 'GNGLL', 'GNZDA']))
      const eps = decodeAll(lines.join(''), t0)
      expect(eps).toHaveLength(1)
      const e = eps[0]!
      expect(e.time).toBe(truth.time)
      if (truth.fix) {
        fixes++
        expect(lines.some((l) => l.startsWith('$GBGSV'))).toBe(true)
        expect(e.system).toBe('GNSS')
        expect(Math.abs(e.lat! - truth.lat)).toBeLessThan(1e-6)
        expect(Math.abs(e.lon! - truth.lon)).toBeLessThan(1e-6)
        expect(e.satellites.BDS!.inView).toBeGreaterThan(4)
        expect(e.satellites.GPS!.used).toBeGreaterThan(3)
        expect(e.fixMode).toBe(3)
      } else {
        lost++
        expect(e.fixQuality).toBe(0)
        expect(e.lat).toBeUndefined()
      }
    }
    // 36 km/h = 10 m/s: metres 100..160 of the route are about 6 epochs without a fix
    expect(lost).toBeGreaterThanOrEqual(5)
    expect(lost).toBeLessThanOrEqual(8)
    expect(fixes).toBe(30 - lost)
  })

  it('can use the BD talker of older Chinese BDS modules', () => {
    const { lines } = createGnssReceiver({ beidouTalker: 'BD' }).epoch(Date.UTC(2026, 10, 22))
    expect(lines.some((l) => l.startsWith('$BDGSV'))).toBe(true)
    expect(lines.some((l) => l.startsWith('$GBGSV'))).toBe(false)
  })
})
