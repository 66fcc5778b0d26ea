/**
 * Real receiver logs (gpsd's regression logs, test/fixtures/nmea/, BSD licence in COPYING.gpsd) replayed
 * through our framer, decoder and epoch assembler must agree with gpsd's own TPV reports in the same .chk
 * file: one epoch per gpsd TPV time, the same fix mode, latitude and longitude to 1e-6 degree.
 *
 * gpsd's regression run stamps these 2016 logs 1024 GPS weeks later (2035): its week-rollover guard works
 * from the build date. The offset is exactly 1024 weeks, so we compare times modulo it and say so.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createEpochAssembler, createNmeaFramer, decodeSentence, type PositionEpoch } from '../../../devices/position/nmea/index.ts'
import { epochToPoints } from '../../../devices/position/index.ts'

const DIR = join(import.meta.dirname, '../../fixtures/nmea')
const WEEK_ROLLOVER_MS = 1024 * 7 * 86_400_000

interface Tpv {
  mode: number
  time?: string
  lat?: number
  lon?: number
}
interface Sky {
  satellites?: { PRN: number; used: boolean; gnssid?: number }[]
}

function parseChk(text: string): { sentences: string[]; tpvByTime: Map<number, Tpv>; skies: Sky[] } {
  const sentences: string[] = []
  const tpvByTime = new Map<number, Tpv>()
  const skies: Sky[] = []
  for (const line of text.split('\n')) {
    if (line.startsWith('{')) {
      const j = JSON.parse(line) as { class: string } & Tpv & Sky
      if (j.class === 'TPV' && j.time) {
        let t = Date.parse(j.time)
        if (new Date(t).getUTCFullYear() >= 2030) t -= WEEK_ROLLOVER_MS
        tpvByTime.set(t, j) // the last TPV of an epoch is gpsd's complete report
      }
      if (j.class === 'SKY') skies.push(j)
    } else if (line.startsWith('$') || line.startsWith('!')) sentences.push(line)
  }
  return { sentences, tpvByTime, skies }
}

function replay(sentences: string[], chunk: number): { epochs: PositionEpoch[]; proprietary: number; rejected: number } {
  // the log as a byte stream, cut into chunks of `chunk` bytes, as a serial port delivers it
  const bytes = Buffer.from(sentences.map((s) => `${s}\r\n`).join(''), 'latin1')
  const framer = createNmeaFramer()
  const asm = createEpochAssembler()
  const epochs: PositionEpoch[] = []
  let proprietary = 0
  let rejected = 0
  for (let i = 0; i < bytes.length; i += chunk) {
    for (const ev of framer.push(bytes.subarray(i, i + chunk))) {
      if (!ev.ok) {
        rejected++
        continue
      }
      const s = decodeSentence(ev.frame)
      if (!s.ok) {
        rejected++
        continue
      }
      if (s.value.type === 'proprietary') proprietary++
      epochs.push(...asm.push(s.value, Date.UTC(2016, 3, 1)))
    }
  }
  epochs.push(...asm.flush())
  return { epochs, proprietary, rejected }
}

const files = readdirSync(DIR).filter((f) => f.endsWith('.chk'))

describe('NMEA decoder agrees with gpsd on real receiver logs', () => {
  it('has the fixture logs', () => {
    expect(files.sort()).toEqual(['skytraq-dgps.log.chk', 'skytraq.log.chk'])
  })

  for (const file of files) {
    describe(file, () => {
      const { sentences, tpvByTime, skies } = parseChk(readFileSync(join(DIR, file), 'utf8'))

      for (const chunk of [1, 7, 4096]) {
        it(`every epoch matches gpsd's TPV (time, mode, lat/lon to 1e-6 deg), read in ${chunk}-byte chunks`, () => {
          const { epochs, proprietary, rejected } = replay(sentences, chunk)
          expect(rejected).toBe(0)
          expect(proprietary).toBe(sentences.filter((s) => s.startsWith('$P')).length)
          expect(proprietary).toBeGreaterThan(0)
          expect(epochs.map((e) => e.time)).toEqual([...tpvByTime.keys()].sort((a, b) => a - b))
          for (const e of epochs) {
            const tpv = tpvByTime.get(e.time)!
            expect({ time: e.time, mode: e.fixMode }).toEqual({ time: e.time, mode: tpv.mode })
            if (tpv.mode >= 2) {
              expect(e.lat).toBeDefined()
              expect(Math.abs(e.lat! - tpv.lat!)).toBeLessThan(1e-6)
              expect(Math.abs(e.lon! - tpv.lon!)).toBeLessThan(1e-6)
            } else {
              // no fix: no coordinates at all, never 0,0
              expect(e.lat).toBeUndefined()
              expect(e.lon).toBeUndefined()
              expect(e.fixQuality).toBe(0)
            }
          }
        })
      }

      it('stores fix-less epochs with fix_quality 0 and no coordinates, fixes with the system tag of the constellations used', () => {
        const { epochs } = replay(sentences, 64)
        for (const e of epochs) {
          const pts = epochToPoints(e, { satellites: true })
          expect(pts.ok).toBe(true)
          if (!pts.ok) continue
          const pos = pts.value[0]!
          expect(pos.measurement).toBe('position')
          if (e.fixMode === 1) {
            expect(pos.fields).not.toHaveProperty('lat')
            expect(pos.fields['fix_quality']).toBe(0)
          } else {
            // GPGSA and BDGSA both list satellites in use: GPS + BeiDou = GNSS
            expect(pos.tags['system']).toBe('GNSS')
            expect(pos.fields['fix_quality']).toBe(2)
          }
        }
      })

      it("satellites used per epoch agree with gpsd's SKY reports", () => {
        const { epochs } = replay(sentences, 64)
        const withSky = skies.filter((s) => s.satellites?.some((x) => x.used))
        if (withSky.length === 0) {
          expect(epochs.every((e) => e.fixMode === 1)).toBe(true)
          return
        }
        // gpsd counts GSA's used satellites over all constellations; so do we
        const gpsdUsed = new Set(withSky.map((s) => s.satellites!.filter((x) => x.used).length))
        const ours = new Set(
          epochs.filter((e) => e.fixMode > 1).map((e) => Object.values(e.satellites).reduce((a, c) => a + (c?.used ?? 0), 0)),
        )
        for (const n of gpsdUsed) expect(ours.has(n)).toBe(true)
      })
    })
  }
})
