/**
 * Reading the repository's own imports, for the meta-tests (the house rules, import cycles): the TypeScript
 * files under a folder, and the relative imports of a file.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'

export const ROOT = resolve(import.meta.dirname, '..', '..')

/** Every .ts file under `dir` (a repository path), as repository paths. */
export function tsFiles(dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(join(ROOT, dir))) {
    const p = join(dir, e)
    if (statSync(join(ROOT, p)).isDirectory()) out.push(...tsFiles(p))
    else if (p.endsWith('.ts')) out.push(p)
  }
  return out
}

/** Relative imports of a file (static, re-exports, side-effect and dynamic), as repository paths. */
export function importsOf(file: string, src = readFileSync(join(ROOT, file), 'utf8')): string[] {
  // Comments may quote imports; they are no dependency.
  const code = src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '')
  const re = /(?:^|[;\s])(?:import|export)\s[^'";]*?from\s*['"]([^'"]+)['"]|(?:^|[;\s])import\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g
  const out: string[] = []
  for (const m of code.matchAll(re)) {
    const spec = m[1] ?? m[2] ?? m[3]
    if (spec?.startsWith('.')) out.push(relative(ROOT, resolve(ROOT, dirname(file), spec)))
  }
  return out
}

