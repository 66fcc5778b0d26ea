/**
 * Under CI=true, a skipped test is a failure: a server that is missing, or a `beforeAll` that failed and
 * left its tests unrun, must never pass as "skipped". Locally (no CI) skips stay skips, with the message
 * that `have()` printed. This reporter runs beside the default one and only sets the exit code.
 */
import type { Reporter, TestModule } from 'vitest/node'

const IN_CI = process.env['CI'] === 'true' || process.env['CI'] === '1'

export default class CiNoSkipReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    if (!IN_CI) return
    const skipped: string[] = []
    for (const m of modules) {
      for (const t of m.children.allTests('skipped')) skipped.push(`${m.moduleId.replace(`${process.cwd()}/`, '')} > ${t.fullName}`)
    }
    if (skipped.length === 0) return
    process.stderr.write(`\nCI=true: ${skipped.length} test(s) did not run (a missing server, or a set-up that failed); this fails the run:\n`)
    for (const s of skipped.slice(0, 50)) process.stderr.write(`  - ${s}\n`)
    if (skipped.length > 50) process.stderr.write(`  ... and ${skipped.length - 50} more\n`)
    process.exitCode = 1
  }
}
