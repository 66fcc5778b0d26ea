import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const IN_CI = process.env['CI'] === 'true' || process.env['CI'] === '1'

/** The absolute path of an executable on the PATH (or in /usr/sbin), or undefined. */
export function which(name: string): string | undefined {
  for (const cmd of [`command -v ${name}`, `test -x /usr/sbin/${name} && echo /usr/sbin/${name}`]) {
    try {
      const out = execFileSync('sh', ['-c', cmd], { encoding: 'utf8' }).trim()
      if (out) return out
    } catch {
      // not found this way
    }
  }
  return undefined
}

/**
 * Whether a test that needs `tools` can run. Missing tools skip the test on a developer's machine with a
 * clear message; under CI=true they fail it instead (no silent skips in CI).
 * Use: `describe.skipIf(!have('influxd', 'mosquitto'))(...)` at module level.
 */
export function have(...tools: string[]): boolean {
  const missing = tools.filter((t) => which(t) === undefined)
  if (missing.length === 0) return true
  const msg = `missing ${missing.join(', ')}: install the Debian packages (see .ci/run)`
  if (IN_CI) throw new Error(`CI=true and ${msg}`)
  console.warn(`skipping: ${msg}`)
  return false
}

/** The Python helpers the pymodbus tests run, and the Debian packages whose modules they import. */
export const PYMODBUS_HELPERS = ['pymodbus_server', 'pymodbus_read'] as const
export const PYMODBUS_PACKAGES = 'python3-pymodbus python3-serial-asyncio'

/**
 * True when Debian's python3 (pymodbus lives there, not in pyenv's python) can import the test helper
 * `modules` of test/helpers with everything they import, checked by the same script .ci/run uses
 * (`python_imports.py`). `import pymodbus` alone is not enough: its server imports serial_asyncio.
 */
export function havePython(modules: readonly string[], packages: string): boolean {
  const r = spawnSync('/usr/bin/python3', [join(import.meta.dirname, 'python_imports.py'), ...modules], { encoding: 'utf8' })
  if (r.status === 0) return true
  const why = (r.stderr || r.error?.message || `exit ${r.status}`).trim()
  const msg = `/usr/bin/python3 cannot import the test helpers ${modules.join(', ')} (${why}): install the Debian packages ${packages} (see .ci/run)`
  if (IN_CI) throw new Error(`CI=true and ${msg}`)
  console.warn(`skipping: ${msg}`)
  return false
}

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir(prefix = 'smartcity-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}
