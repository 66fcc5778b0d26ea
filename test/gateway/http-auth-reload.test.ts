/**
 * `POST /api/reload` through `smartcity gateway --config FILE`, as an operator rotates a token: the file is
 * read again and validated; a good one applies (new tokens work, removed ones are refused), a bad one is
 * refused with its problems while the running configuration keeps serving; every reload is audited.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { readAuditRecords } from '../../gateway/core/audit-log.ts'
import { newToken } from '../../gateway/http/auth.ts'
import { tempDir } from '../helpers/env.ts'
import { freePort, waitFor } from '../helpers/net.ts'

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'smartcity.js')

describe('POST /api/reload on a running smartcity gateway', () => {
  const tmp = tempDir()
  let child: ChildProcess | undefined
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await new Promise((r) => child!.once('exit', r))
    }
    tmp.cleanup()
  })

  it('applies new tokens from the file, refuses a broken file with its problems and keeps the old tokens, audits both', { timeout: 90_000 }, async () => {
    const admin = newToken()
    const oldDesk = newToken()
    const newDesk = newToken()
    const http = await freePort()
    const file = join(tmp.dir, 'gateway.yaml')
    const dataDir = join(tmp.dir, 'data')
    const write = (desk: { sha256: string }, extra = '') =>
      writeFileSync(
        file,
        `dataDir: ${dataDir}\nlog: { level: warn }\nbroker: { type: embedded, port: 0 }\nhttp:\n  port: ${http}\n  tokens:\n` +
          `    - { name: deploy-bot, sha256: ${admin.sha256}, scopes: [admin] }\n    - { name: desk, sha256: ${desk.sha256}, scopes: [read] }\n${extra}`,
      )
    write(oldDesk)
    const proc = spawn(process.execPath, [BIN, 'gateway', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] })
    child = proc
    let stderr = ''
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
    await waitFor(() => stderr.includes(`http http://127.0.0.1:${http}`), 40_000, `the started line (${stderr})`)
    const base = `http://127.0.0.1:${http}`
    const get = (t: string) => fetch(`${base}/api/devices`, { headers: { authorization: `Bearer ${t}` } }).then((r) => r.status)
    const reload = () => fetch(`${base}/api/reload`, { method: 'POST', headers: { authorization: `Bearer ${admin.token}` } })
    expect(await get(oldDesk.token)).toBe(200)

    write(newDesk)
    const ok = await reload()
    expect(ok.status).toBe(200)
    expect(await get(newDesk.token)).toBe(200)
    expect(await get(oldDesk.token)).toBe(401)

    // A broken file: 422 with the problems, the running tokens stay.
    write(oldDesk, 'sinks: [{ type: influx-v9 }]\n')
    const bad = await reload()
    expect(bad.status).toBe(422)
    const body = (await bad.json()) as { error: string; problems: string[] }
    expect(body.error).toBe('config_invalid')
    expect(body.problems.join('\n')).toContain('sinks[0]')
    expect(await get(newDesk.token)).toBe(200)

    proc.kill('SIGTERM')
    expect(await new Promise((r) => proc.once('exit', r))).toBe(0)
    const recs = readAuditRecords(join(dataDir, 'audit'), { action: 'config.reload' })
    expect(recs.map((r) => [r.actor, r.outcome, r.reason])).toEqual([
      ['deploy-bot', 'ok', undefined],
      ['deploy-bot', 'failed', 'config_invalid'],
    ])
  })
})
