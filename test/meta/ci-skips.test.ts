/**
 * No silent skips in CI: under CI=true a skipped test, or tests left unrun by a failed `beforeAll`, fail the
 * run (test/helpers/ci-reporter.ts). Runs vitest on small fixture suites in a child process.
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const ROOT = join(import.meta.dirname, '..', '..')
const CONFIG = join(import.meta.dirname, 'fixtures', 'ci-skips', 'vitest.config.ts')

function run(env: Record<string, string>): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--config', CONFIG], {
    cwd: ROOT,
    env: { ...process.env, CI: '', FIXTURE_SKIP: '', FIXTURE_SETUP_FAILS: '', ...env },
    encoding: 'utf8',
    timeout: 50_000,
  })
  return { code: r.status, out: `${r.stdout}${r.stderr}` }
}

describe('under CI=true nothing passes as skipped', () => {
  it('a run with every test run passes', () => {
    const r = run({ CI: 'true' })
    expect(r.out).toContain('3 passed')
    expect(r.code).toBe(0)
  })

  it('a skipped suite passes locally but fails under CI=true, naming the test', () => {
    expect(run({ FIXTURE_SKIP: '1' }).code).toBe(0)
    const r = run({ CI: 'true', FIXTURE_SKIP: '1' })
    expect(r.code).not.toBe(0)
    expect(r.out).toContain('CI=true: 1 test(s) did not run')
    expect(r.out).toContain('needs a server > runs when the server is there')
  })

  it('a set-up that fails fails the run and its unrun tests are named under CI=true', () => {
    const local = run({ FIXTURE_SETUP_FAILS: '1' })
    expect(local.code).not.toBe(0)
    const r = run({ CI: 'true', FIXTURE_SETUP_FAILS: '1' })
    expect(r.code).not.toBe(0)
    expect(r.out).toContain('No module named serial_asyncio')
    expect(r.out).toMatch(/set-up > (first|second)/)
  })
})
