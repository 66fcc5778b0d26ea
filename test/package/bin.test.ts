// bin/smartcity.js in an installation without devDependencies (the .deb, `npm ci --omit=dev`): it runs
// dist/ without tsx, and says what to do when there is no build, instead of failing on a missing module.
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { tempDir } from '../helpers/env.ts'

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'smartcity.js')
const cleanups: (() => void)[] = []
afterEach(() => {
  for (const c of cleanups.splice(0)) c()
})

/** A tree with bin/smartcity.js and no node_modules (so no tsx), plus what `files` adds. */
function tree(files: Record<string, string>): string {
  const t = tempDir('smartcity-bin-')
  cleanups.push(t.cleanup)
  mkdirSync(join(t.dir, 'bin'))
  copyFileSync(BIN, join(t.dir, 'bin', 'smartcity.js'))
  writeFileSync(join(t.dir, 'package.json'), '{"type":"module"}')
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(t.dir, p, '..'), { recursive: true })
    writeFileSync(join(t.dir, p), text)
  }
  return t.dir
}
const run = (dir: string) => spawnSync(process.execPath, [join(dir, 'bin', 'smartcity.js'), '--version'], { encoding: 'utf8', env: { ...process.env, SMARTCITY_FROM_SOURCE: '' }, timeout: 30_000 })

describe('bin/smartcity.js without tsx', () => {
  it('runs dist/ (an installed package: no sources)', () => {
    const dir = tree({ 'dist/.build-stamp': 'x', 'dist/cli/main.js': "process.stdout.write('dist ran\\n')" })
    const r = run(dir)
    expect(r.stdout).toBe('dist ran\n')
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
  })

  it('runs dist/ with a note when the sources are newer but tsx is not installed', () => {
    const dir = tree({ 'dist/.build-stamp': 'x', 'dist/cli/main.js': "process.stdout.write('dist ran\\n')", 'cli/main.ts': '' })
    const old = new Date(Date.now() - 60_000)
    utimesSync(join(dir, 'dist', '.build-stamp'), old, old)
    const r = run(dir)
    expect(r.stdout).toBe('dist ran\n')
    expect(r.stderr).toMatch(/tsx is not installed; running dist\/, which is older than the sources/)
  })

  it('says what to do when there is no build and no tsx', () => {
    const dir = tree({ 'cli/main.ts': '' })
    const r = run(dir)
    expect(r.status).toBe(1)
    expect(r.stderr).toMatch(/no build in .*dist and tsx is not installed.*npm run build/)
    expect(r.stderr).not.toMatch(/ERR_MODULE_NOT_FOUND/)
  })
})

describe('SMARTCITY_V8_FLAGS', () => {
  it('sets each V8 flag before anything is loaded (NODE_OPTIONS refuses --optimize-for-size)', () => {
    // --expose-gc is visible from JavaScript: a new context has gc() once the flag is set.
    const dir = tree({ 'dist/.build-stamp': 'x', 'dist/cli/main.js': "import vm from 'node:vm'\nprocess.stdout.write(vm.runInNewContext('typeof gc'))" })
    const withFlags = spawnSync(process.execPath, [join(dir, 'bin', 'smartcity.js')], { encoding: 'utf8', env: { ...process.env, SMARTCITY_FROM_SOURCE: '', SMARTCITY_V8_FLAGS: '--optimize-for-size  --expose-gc' }, timeout: 30_000 })
    expect(withFlags.stderr).toBe('')
    expect(withFlags.stdout).toBe('function')
    const without = spawnSync(process.execPath, [join(dir, 'bin', 'smartcity.js')], { encoding: 'utf8', env: { ...process.env, SMARTCITY_FROM_SOURCE: '', SMARTCITY_V8_FLAGS: '' }, timeout: 30_000 })
    expect(without.stdout).toBe('undefined')
  })
})
