/**
 * `npm run bench -- fuzz`: the framer and decoder fuzz of `npm test` (test/fuzz/targets.ts) at full scale,
 * 100,000 streams per target (BENCH_FUZZ_RUNS; BENCH_FUZZ_ONLY=name,... for some targets; BENCH_FUZZ_SEED
 * to repeat a run). Per target: the cases, the time, what the streams reached (frames, readings, refusals,
 * the distinct reasons) and any failure with fast-check's shrunk counterexample and seed.
 */
import fc from 'fast-check'
import { fuzzTargets, streamArb } from '../test/fuzz/targets.ts'
import { runIfMain } from './standalone.ts'

export async function run(): Promise<Record<string, unknown>> {
  const runs = Number(process.env['BENCH_FUZZ_RUNS'] ?? 100_000)
  const only = (process.env['BENCH_FUZZ_ONLY'] ?? '').split(',').filter(Boolean)
  const seed = process.env['BENCH_FUZZ_SEED'] !== undefined ? Number(process.env['BENCH_FUZZ_SEED']) : Date.now() % 2 ** 31
  const out: Record<string, unknown> = { runs_per_target: runs, seed }
  let failed = 0
  for (const t of fuzzTargets()) {
    if (only.length > 0 && !only.includes(t.name)) continue
    const seen = { frames: 0, readings: 0, refusals: 0, reasons: new Set<string>() }
    const t0 = performance.now()
    const r = fc.check(
      fc.property(streamArb(t), (chunks) => {
        const o = t.run(chunks)
        seen.frames += o.frames
        seen.readings += o.readings
        seen.refusals += o.refusals
        for (const x of o.reasons) seen.reasons.add(x)
        return o.problems.length === 0
      }),
      { numRuns: runs, seed },
    )
    const ms = performance.now() - t0
    if (r.failed) failed++
    out[t.name] = {
      cases: r.numRuns,
      seconds: Math.round(ms / 100) / 10,
      cases_per_s: Math.round((r.numRuns / ms) * 1000),
      failed: r.failed,
      ...(r.failed ? { counterexample: JSON.stringify(r.counterexample?.[0]?.map((b) => b.toString('hex'))), problems: t.run(r.counterexample![0]!).problems.slice(0, 3) } : {}),
      frames: seen.frames,
      readings: seen.readings,
      refusals: seen.refusals,
      reasons: [...seen.reasons].sort(),
    }
    process.stderr.write(`fuzz ${t.name}: ${r.numRuns} cases in ${(ms / 1000).toFixed(1)} s${r.failed ? ' FAILED' : ''}\n`)
  }
  out['targets_failed'] = failed
  return out
}

runIfMain(import.meta.url, run)
