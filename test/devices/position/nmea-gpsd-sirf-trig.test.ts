/**
 * Two logs of a real SiRF-TriG receiver (gpsd's regression logs beidou-bd.log and beidou-gb.log, with gpsd's
 * expected output, test/fixtures/nmea-sirf-trig/, BSD licence in COPYING.gpsd) replayed through our framer,
 * decoder and epoch assembler: no sentence refused (the receiver's GSA puts `1.2` in field 18, its GNS carries
 * the fix), and every epoch gpsd stamps with a time agrees with gpsd's TPV on the fix mode and the position
 * to 1e-6 degree; the satellites used agree with gpsd's SKY `uSat`.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createEpochAssembler, createNmeaFramer, decodeSentence, type PositionEpoch } from '../../../devices/position/nmea/index.ts'
import { epochToPoints } from '../../../devices/position/index.ts'

const DIR = join(import.meta.dirname, '../../fixtures/nmea-sirf-trig')

interface Report {
  class: string
  mode?: number
  time?: string
  lat?: number
  lon?: number
  uSat?: number
}

function load(file: string) {
  const sentences: string[] = []
  const tpv = new Map<number, Report>()
  const uSat = new Set<number>()
  for (const line of readFileSync(join(DIR, file), 'latin1').split('\n')) {
    if (line.startsWith('{')) {
      const j = JSON.parse(line) as Report
      if (j.class === 'TPV' && j.time) tpv.set(Date.parse(j.time), j) // the last TPV of an epoch is the complete one
      if (j.class === 'SKY' && j.uSat) uSat.add(j.uSat)
    } else if (line.trimStart().startsWith('$')) sentences.push(line)
  }
  return { sentences, tpv, uSat }
}

function replay(sentences: string[], chunk: number) {
  const bytes = Buffer.from(sentences.map((s) => `${s}\r\n`).join(''), 'latin1')
  const framer = createNmeaFramer()
  const asm = createEpochAssembler()
  const epochs: PositionEpoch[] = []
  const refused: string[] = []
  for (let i = 0; i < bytes.length; i += chunk) {
    for (const ev of framer.push(bytes.subarray(i, i + chunk))) {
      if (!ev.ok) {
        refused.push(ev.reason)
        continue
      }
      const s = decodeSentence(ev.frame)
      if (!s.ok) {
        refused.push(`${s.reason}: ${s.detail}`)
        continue
      }
      epochs.push(...asm.push(s.value, Date.UTC(2015, 2, 1)))
    }
  }
  return { epochs: [...epochs, ...asm.flush()], refused }
}

describe.each([
  ['beidou-bd.log.chk', 10, 5],
  ['beidou-gb.log.chk', 5, 2],
])('NMEA decoder agrees with gpsd on a SiRF-TriG log: %s', (file, epochCount, fixes) => {
  const { sentences, tpv, uSat } = load(file)

  for (const chunk of [1, 13, 4096]) {
    it(`no sentence refused, every epoch gpsd stamps agrees with its TPV (${chunk}-byte reads)`, () => {
      const { epochs, refused } = replay(sentences, chunk)
      expect(refused).toEqual([])
      expect(epochs).toHaveLength(epochCount)
      expect(epochs.filter((e) => e.fixQuality > 0)).toHaveLength(fixes)
      expect(tpv.size).toBeGreaterThan(0)
      for (const [t, r] of tpv) {
        const e = epochs.find((x) => x.time === t)
        expect(e, new Date(t).toISOString()).toBeDefined()
        expect(e!.fixMode).toBe(r.mode)
        expect(Math.abs(e!.lat! - r.lat!)).toBeLessThan(1e-6)
        expect(Math.abs(e!.lon! - r.lon!)).toBeLessThan(1e-6)
      }
    })
  }

  it("satellites used (GPS + BeiDou from the GSAs) are among gpsd's SKY uSat, and a fix is tagged GNSS", () => {
    const { epochs } = replay(sentences, 64)
    const fixed = epochs.filter((e) => e.fixQuality > 0)
    const ours = new Set(fixed.map((e) => (e.satellites.GPS?.used ?? 0) + (e.satellites.BDS?.used ?? 0)))
    expect([...ours].every((n) => uSat.has(n))).toBe(true)
    for (const e of fixed) {
      const p = epochToPoints(e)
      expect(p.ok && p.value[0]!.tags['system']).toBe('GNSS')
      expect(e.satellites.BDS?.used).toBeGreaterThan(0)
    }
  })
})
