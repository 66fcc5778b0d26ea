#!/usr/bin/env node
// The `smartcity` command.
//
// It runs the compiled JavaScript in dist/ when that build is at least as new as every source file
// (`npm ci` builds it through the `prepare` script), and otherwise the TypeScript sources through tsx's
// loader, so an edited checkout never runs stale code. The compiled build starts faster and uses about
// 30 MB less memory: on Node 20, loader hooks run in a thread of their own.
// An installed package (the .deb, `npm install --omit=dev`) has dist/ and no tsx (a devDependency): it
// runs dist/, and says what to do when neither is there instead of failing on a missing module.
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
// The old generation grows to 1.1 times what the last full collection kept, not V8's 1.5 to 4 times: an
// edge box's memory is the scarce part, and a gateway's live heap is mostly long-lived connections and
// devices, so collecting a little more often costs little. The load benchmark's 10,000 devices: peak RSS
// 234 and 235 MB (two 5-minute runs) instead of 311 MB with V8's growth (one 3-minute run); the ingest
// benchmark's CPU per reading did not move (README: Installing on an edge box, Benchmarks).
setFlagsFromString('--heap-growing-percent=10')
// SMARTCITY_V8_FLAGS: V8 flags Node refuses in NODE_OPTIONS (or these defaults' opposites, e.g.
// `--heap-growing-percent=0` for V8's own), set here before anything is loaded.
if (process.env.SMARTCITY_V8_FLAGS) for (const f of process.env.SMARTCITY_V8_FLAGS.split(' ').filter(Boolean)) setFlagsFromString(f)

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

/** tsx's loader, or undefined when it is not installed (production dependencies only). */
async function tsxLoader() {
  try {
    return await import('tsx/esm/api')
  } catch (err) {
    if (err?.code === 'ERR_MODULE_NOT_FOUND') return undefined
    throw err
  }
}

const hasSources = existsSync(join(root, 'cli', 'main.ts'))
if (buildIsFresh()) {
  await import('../dist/cli/main.js')
} else {
  const tsx = hasSources ? await tsxLoader() : undefined
  if (tsx) {
    tsx.register()
    await import('../cli/main.ts')
  } else if (existsSync(stamp) && process.env.SMARTCITY_FROM_SOURCE !== '1') {
    // Sources newer than the build but no tsx to run them: the build is what there is.
    process.stderr.write('smartcity: tsx is not installed; running dist/, which is older than the sources (npm run build)\n')
    await import('../dist/cli/main.js')
  } else {
    process.stderr.write(
      `smartcity: no build in ${join(root, 'dist')} and ${hasSources ? 'tsx is not installed to run the TypeScript sources' : 'no sources to run'}: ` +
        'run `npm run build` (needs the devDependencies: `npm ci`), or reinstall the package\n',
    )
    process.exit(1)
  }
}
