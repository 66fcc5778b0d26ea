/**
 * Disabled `debug` loggers are no-ops once gateway/broker/quiet-debug.ts has run; DEBUG still turns them
 * on. Each case runs in a fresh Node process, as the replacement happens when modules load.
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
const ROOT = join(import.meta.dirname, '..', '..', '..')

const script = `
import { createRequire } from 'node:module'
import { quietDebugInstalled } from './gateway/broker/quiet-debug.ts'
const require = createRequire(import.meta.url)
const { Aedes } = await import('aedes')
const debug = require(require.resolve('debug', { paths: [require.resolve('mqtt-packet')] }))
const parser = debug('mqtt-packet:parser')
parser('hello %s', 'world')
console.log(JSON.stringify({ installed: quietDebugInstalled, enabled: parser.enabled, sub: parser.extend('x').namespace, aedes: typeof Aedes }))
`

async function probe(env: Record<string, string>): Promise<{ out: Record<string, unknown>; stderr: string }> {
  const r = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, env: { ...process.env, ...env } })
  return { out: JSON.parse(r.stdout) as Record<string, unknown>, stderr: r.stderr }
}

describe('quiet debug', () => {
  it('makes a logger DEBUG does not enable a no-op', async () => {
    const { out, stderr } = await probe({ DEBUG: '' })
    expect(out).toEqual({ installed: true, enabled: false, sub: 'mqtt-packet:parser:x', aedes: 'function' })
    expect(stderr).not.toContain('hello')
  })

  it('leaves a logger DEBUG enables working', async () => {
    const { out, stderr } = await probe({ DEBUG: 'mqtt-packet:*' })
    expect(out['enabled']).toBe(true)
    expect(stderr).toContain('mqtt-packet:parser hello world')
  })
})
