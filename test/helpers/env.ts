import { execFileSync } from 'node:child_process'
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

/** True when Debian's python3 can import a module (pymodbus lives there, not in pyenv's python). */
export function havePython(module: string): boolean {
  try {
    execFileSync('/usr/bin/python3', ['-c', `import ${module}`], { stdio: 'ignore' })
    return true
  } catch {
    const msg = `missing python module ${module} for /usr/bin/python3 (Debian python3-${module})`
    if (IN_CI) throw new Error(`CI=true and ${msg}`)
    console.warn(`skipping: ${msg}`)
    return false
  }
}

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir(prefix = 'smartcity-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}
