#!/usr/bin/env node
// Complete package-lock.json with the platform-specific optional packages npm leaves out of it
// (npm/cli#4828: an install on linux-x64 records only linux-x64 binaries), which makes npm 11's `npm ci`
// refuse the lock as "out of sync". Each missing package is looked up in the registry at the version its
// parent pins and recorded as npm would; one the registry does not have at all can never be installed,
// so it is dropped from its parent's optional list instead. Run after `npm install` changes the lock:
//   node scripts/complete-lock.mjs && npm ci --dry-run
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'

const lockPath = process.argv[2] ?? 'package-lock.json'
const lock = JSON.parse(readFileSync(lockPath, 'utf8'))
const pkgs = lock.packages
let added = 0
let dropped = 0
for (const [path, meta] of Object.entries(pkgs)) {
  for (const [name, range] of Object.entries(meta.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`
    if (pkgs[key]) continue
    let info
    try {
      const out = execFileSync('npm', ['view', `${name}@${range}`, '--json', 'version', 'dist.integrity', 'os', 'cpu', 'libc', 'license', 'engines'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      const v = JSON.parse(out)
      info = Array.isArray(v) ? v[v.length - 1] : v
    } catch {
      info = undefined
    }
    if (!info?.version) {
      delete meta.optionalDependencies[name]
      dropped++
      console.error(`${path || '(root)'}: ${name}@${range} is not in the registry; dropped from the optional list`)
      continue
    }
    const entry = { version: info.version, integrity: info['dist.integrity'] }
    if (info.cpu) entry.cpu = info.cpu
    if (meta.dev) entry.dev = true
    if (info.engines) entry.engines = info.engines
    if (info.libc) entry.libc = info.libc
    if (info.license) entry.license = info.license
    entry.optional = true
    if (info.os) entry.os = info.os
    pkgs[key] = entry
    added++
  }
}
lock.packages = Object.fromEntries(Object.entries(pkgs).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0)))
writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`)
console.error(`package-lock.json: ${added} optional platform packages added, ${dropped} unavailable ones dropped`)
