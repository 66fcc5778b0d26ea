import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { formatAuditLine } from '../../cli/audit.ts'
import { parseWhen } from '../../gateway/core/when.ts'
import { parseConfigText } from '../../gateway/config.ts'
import { createAuditLog } from '../../gateway/core/audit-log.ts'
import { tokenHash } from '../../gateway/http/auth.ts'
import { tempDir } from '../helpers/env.ts'

const run = promisify(execFile)
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'smartcity.js')

async function smartcity(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { timeout: 30_000 })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

describe('smartcity token', () => {
  it('prints a new token once and the http.tokens lines holding its SHA-256, which the configuration accepts', async () => {
    const r = await smartcity('token', '--name', 'ops-desk', '--scopes', 'read,operate')
    expect(r.code).toBe(0)
    const lines = r.stdout.split('\n')
    const token = lines[1]!
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/) // 32 random bytes, base64url
    expect(r.stdout).toContain(`    sha256: ${tokenHash(token)}\n`)
    const yaml = `http:\n  tokens:\n${lines.slice(3).join('\n')}`
    const cfg = parseConfigText(yaml, 'gateway.yaml', {}, {})
    expect(cfg.ok && cfg.config.http.tokens).toEqual([{ name: 'ops-desk', sha256: tokenHash(token), scopes: ['read', 'operate'] }])
    // Two runs, two tokens.
    const again = await smartcity('token', '--name', 'ops-desk', '--scopes', 'read')
    expect(again.stdout.split('\n')[1]).not.toBe(token)
  })
  it('refuses a missing name and an unknown scope, with the usage', async () => {
    const r = await smartcity('token', '--scopes', 'read,write')
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--name: missing')
    expect(r.stderr).toContain('--scopes: write is not a scope: read, operate, admin')
    expect(r.stdout).toBe('')
    expect((await smartcity('help', 'token')).stdout).toContain('usage: smartcity token --name NAME --scopes')
  })
})

describe('smartcity audit', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('reads <dataDir>/audit with --since, --actor, --action, --outcome; --json gives the records', async () => {
    const dataDir = join(tmp.dir, 'data')
    const now = Date.now()
    let t = now - 3 * 3_600_000
    const audit = createAuditLog({ dir: join(dataDir, 'audit'), log: pino({ level: 'silent' }), coalesceMs: 0, now: () => t })
    audit.open()
    audit.record({ actor: 'ops-desk', actorType: 'token', action: 'alarm.ack', target: 'ph_out_of_range/wq-1', address: '10.0.0.5:5000', outcome: 'ok', detail: 'by ops-desk' })
    t = now - 30 * 60_000
    audit.record({ actor: 'anonymous', actorType: 'anonymous', action: 'http.auth', target: 'POST /api/devices/em-1/write', address: '10.0.0.9:6000', outcome: 'denied', reason: 'bad_token' })
    t = now - 10 * 60_000
    audit.record({ actor: 'wq-7', actorType: 'device', action: 'mqtt.publish', target: 'city/d/water_quality/wq-8/telemetry', address: '10.0.1.7:7000', outcome: 'denied', reason: 'acl_denied' })
    audit.close()

    const all = await smartcity('audit', '--data-dir', dataDir)
    expect(all.code).toBe(0)
    const lines = all.stdout.trim().split('\n')
    expect(lines).toHaveLength(3)
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z {2}ok {6}alarm\.ack {7}ops-desk \(token\) {2}10\.0\.0\.5:5000 {2}ph_out_of_range\/wq-1 {2}"by ops-desk"$/)

    const recent = await smartcity('audit', '--data-dir', dataDir, '--since', '1h', '--json')
    expect(recent.stdout.trim().split('\n').map((l) => JSON.parse(l).action)).toEqual(['http.auth', 'mqtt.publish'])
    const mqtt = await smartcity('audit', '--data-dir', dataDir, '--action', 'mqtt.*')
    expect(mqtt.stdout).toContain('wq-7 (device)')
    expect(mqtt.stdout).not.toContain('http.auth')
    const iso = new Date(now - 20 * 60_000).toISOString()
    expect((await smartcity('audit', '--data-dir', dataDir, '--since', iso, '--json')).stdout.trim().split('\n')).toHaveLength(1)
    expect((await smartcity('audit', '--data-dir', dataDir, '--actor', 'ops-desk', '--json')).stdout.trim().split('\n')).toHaveLength(1)
    expect((await smartcity('audit', '--data-dir', dataDir, '--outcome', 'denied', '--json')).stdout.trim().split('\n')).toHaveLength(2)
    // The configuration's dataDir (or audit.dir) is where it looks with --config.
    const cfg = join(tmp.dir, 'gateway.yaml')
    writeFileSync(cfg, `dataDir: ${dataDir}\n`)
    expect((await smartcity('audit', '--config', cfg, '--since', '2h', '--json')).stdout.trim().split('\n')).toHaveLength(2)
    const none = await smartcity('audit', '--data-dir', join(tmp.dir, 'empty'))
    expect(none).toMatchObject({ code: 0, stdout: '' })
    expect(none.stderr).toContain('no audit records in')
    const bad = await smartcity('audit', '--since', 'yesterday')
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('--since: not a time: yesterday')
  }, 120_000)

  it('--since takes 30s, 15m, 12h, 7d or an ISO time', () => {
    const now = Date.parse('2026-12-01T12:00:00Z')
    expect(parseWhen('15m', now)).toBe(now - 900_000)
    expect(parseWhen('7d', now)).toBe(now - 7 * 86_400_000)
    expect(parseWhen('2026-12-01T08:00:00+08:00', now)).toBe(Date.parse('2026-12-01T00:00:00Z'))
    expect(parseWhen('soon', now)).toBeUndefined()
    expect(parseWhen('2026-13-45', now)).toBeUndefined()
  })
})

describe('smartcity audit output for people', () => {
  it('shows control characters of peer text escaped, so a record cannot rewrite the terminal', () => {
    const line = formatAuditLine({ time: '2026-12-01T00:00:00.000Z', actor: 'dev\u001b[2J', actorType: 'device', action: 'mqtt.publish', target: 'city/\u001b]0;owned\u0007', outcome: 'denied', detail: 'a\nb' })
    expect(line).not.toMatch(/[\u0000-\u001f]/)
    expect(line).toContain('dev\\u001b[2J (device)')
    expect(line).toContain('city/\\u001b]0;owned\\u0007')
    expect(line).toContain('"a\\u000ab"')
  })
})
