#!/usr/bin/env node
// The `smartcity` command.
//
// It runs the compiled JavaScript in dist/ when that build is at least as new as every source file
// (`npm ci` builds it through the `prepare` script), and otherwise the TypeScript sources through tsx's
// loader, so an edited checkout never runs stale code. The compiled build starts faster and uses about
// 30 MB less memory: on Node 20, loader hooks run in a thread of their own.
import { existsSync, readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setFlagsFromString } from 'node:v8'

// No allocation-site pretenuring. V8 watches how many objects from each allocation site survive a young
// collection and, above a threshold, allocates that site's objects in the old generation from then on. A
// burst that arrives while many messages are in flight can tip aedes' and our per-message objects over it;
// they die a moment later all the same, but now only a full collection frees them. About one benchmark run
// in three went that way and stayed there: twice the CPU per reading and over 200 MB instead of 130. Set
// before anything else is loaded, so no decision has been taken yet. (SMARTCITY_V8_PRETENURING=1 keeps it.)
if (process.env.SMARTCITY_V8_PRETENURING !== '1') setFlagsFromString('--no-allocation-site-pretenuring')

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const stamp = join(root, 'dist', '.build-stamp')

function newestSource(dir) {
  let newest = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p))
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs)
  }
  return newest
}

function buildIsFresh() {
  if (process.env.SMARTCITY_FROM_SOURCE === '1' || !existsSync(stamp)) return false
  const built = statSync(stamp).mtimeMs
  return ['cli', 'gateway', 'devices', 'simulators'].every((d) => !existsSync(join(root, d)) || newestSource(join(root, d)) <= built)
}

if (buildIsFresh()) {
  await import('../dist/cli/main.js')
} else {
  const { register } = await import('tsx/esm/api')
  register()
  await import('../cli/main.ts')
}
