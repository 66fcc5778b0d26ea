/**
 * Issue 13: property-based fuzzing of every framer and decoder (test/fuzz/targets.ts): random bytes, real
 * frames and mutated real frames, split and joined; nothing throws and every refusal is catalogued.
 * FUZZ_RUNS sets the cases per target (1,000 here; `npm run bench -- fuzz` runs 100,000 each).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { fuzzTargets, streamArb } from './targets.ts'

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 1000)

describe('fuzzing every framer and decoder', () => {
  for (const t of fuzzTargets()) {
    it(`${t.name}: ${RUNS} streams, no exception, every refusal a catalogued reason`, () => {
      const seen = { frames: 0, refusals: 0, readings: 0 }
      fc.assert(
        fc.property(streamArb(t), (chunks) => {
          const o = t.run(chunks)
          seen.frames += o.frames
          seen.refusals += o.refusals
          seen.readings += o.readings
          expect(o.problems).toEqual([])
        }),
        { numRuns: RUNS },
      )
      // The streams reached the decoders and the refusal paths both (a fuzz that only ever hit one is no fuzz).
      expect(seen.refusals).toBeGreaterThan(0)
      if (t.name !== 'modbus-rtu-requests') expect(seen.frames + seen.readings).toBeGreaterThan(0)
    }, 120_000)
  }

  it('the seeds are real frames that decode (so mutations start from valid input; fixtures hold a few bad ones on purpose)', () => {
    for (const t of fuzzTargets()) {
      let framed = 0
      for (const [i, s] of t.seeds.entries()) {
        const o = t.run([s])
        expect(o.problems, `${t.name} seed ${i}`).toEqual([])
        if (o.frames + o.readings > 0) framed++
      }
      expect(framed / t.seeds.length, t.name).toBeGreaterThanOrEqual(0.8)
    }
  })
})
