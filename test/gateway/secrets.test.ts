/**
 * Secrets (issue 13 item 4): `${file:/run/secrets/name}` beside `${VAR}`, no secret in a log line, an error,
 * `/metrics`, `/healthz` or `check-config` output, and `check-config` warns about a world-readable file
 * that holds one. The end-to-end case runs `smartcity gateway` as a child process, makes the secrets reach
 * every output by the ways they really could (a database whose error body echoes the credentials it was
 * sent, a device that names itself or a field after a password), and greps everything captured for each
 * secret value.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import { promisify } from 'node:util'
import mqtt from 'mqtt'
import { afterAll, describe, expect, it } from 'vitest'
import { parseConfigText } from '../../gateway/config.ts'
import { CENSOR, createRedactor, findSecrets, redactedLogger } from '../../gateway/secrets.ts'
import { tempDir } from '../helpers/env.ts'
import { freePort, sleep, waitFor } from '../helpers/net.ts'

const run = promisify(execFile)
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'smartcity.js')

describe('${file:} references and which values are secrets', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('takes a file content (one trailing newline cut), relative to the configuration file; a missing file is a problem without content', () => {
    writeFileSync(join(tmp.dir, 'influx-token'), 'tok-from-file-81f3\n')
    writeFileSync(join(tmp.dir, 'port'), '8086')
    const file = join(tmp.dir, 'gateway.yaml')
    const r = parseConfigText(
      [
        'sinks:',
        '  - type: influx-v2',
        '    url: http://127.0.0.1:8086',
        '    org: o',
        '    bucket: b',
        '    token: ${file:influx-token}',
        `    batchSize: \${file:${join(tmp.dir, 'port')}}`,
        'gateway:',
        '  id: "$${file:literal}"',
      ].join('\n'),
      file,
    )
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.config.sinks[0]).toMatchObject({ token: 'tok-from-file-81f3', batchSize: 8086 })
    expect(r.config.gateway.id).toBe('${file:literal}')
    expect(r.secrets).toContain('tok-from-file-81f3')
    // A value read from a file is a secret whatever its key (here a number).
    expect(r.secrets).toContain('8086')

    const bad = parseConfigText('sinks:\n  - type: influx-v2\n    url: http://127.0.0.1:8086\n    org: o\n    bucket: b\n    token: ${file:/nonexistent/secret}\n', file)
    expect(bad.ok).toBe(false)
    expect(!bad.ok && bad.problems).toEqual([`${file}:6: sinks[0].token: cannot read the secret file /nonexistent/secret (ENOENT)`])
  })

  it('finds secrets by key: passwords, tokens, user maps, auth codes, a URL password; files holding secrets', () => {
    const f = findSecrets({
      broker: { type: 'external', url: 'mqtts://gw:url-pass-77@broker:8883', password: 'p1-broker', tls: { key: '/etc/k.pem' } },
      sinks: [{ token: 'tok-1' }, { password: 'p2-influx', username: 'admin' }],
      sources: [{ authCodes: { '13800138000': 'code-9' }, authSecret: 'hmac-key' }, { passwords: { MN1: 'pw-mn1' }, defaultPassword: 'pw-def' }],
      http: { tokens: [{ name: 'ops', sha256: 'ab'.repeat(32) }] },
    })
    expect(f.values.map((v) => v.value).sort()).toEqual(['code-9', 'hmac-key', 'p1-broker', 'p2-influx', 'pw-def', 'pw-mn1', 'tok-1', 'url-pass-77'].sort())
    expect(f.values.find((v) => v.value === 'code-9')?.path).toBe('sources[0].authCodes.13800138000')
    expect(f.files).toEqual([{ path: 'broker.tls.key', file: '/etc/k.pem' }])
  })

  it('the redactor cuts a secret as written, JSON-escaped and URL-encoded; pino also censors secret keys', () => {
    const r = createRedactor(['s3cr"et/pw', 'abc'])
    expect(r.scrub('a s3cr"et/pw b')).toBe(`a ${CENSOR} b`)
    expect(r.scrub(JSON.stringify({ m: 'x s3cr"et/pw' }))).toBe(`{"m":"x ${CENSOR}"}`)
    expect(r.scrub('http://u:s3cr%22et%2Fpw@h')).toBe(`http://u:${CENSOR}@h`)
    // Too short to search for in free text (it would cut every "abc"): censored by key only.
    expect(r.scrub('abc')).toBe('abc')
    let out = ''
    const log = redactedLogger({ level: 'info', redactor: r, dest: { write: (s: string) => (out += s) } })
    log.info({ password: 'abc', nested: { token: 'abc' }, err: { message: 'refused s3cr"et/pw' } }, 'hello')
    const rec = JSON.parse(out) as Record<string, unknown>
    expect(rec['password']).toBe(CENSOR)
    expect((rec['nested'] as Record<string, unknown>)['token']).toBe(CENSOR)
    expect(out).not.toContain('s3cr')
  })

  it('a secret of digits (an HJ 212 PW of 123456) is cut from strings only: log lines stay JSON, metrics keep their numbers', async () => {
    const r = createRedactor(['123456'])
    let out = ''
    const log = redactedLogger({ level: 'info', redactor: r, dest: { write: (s: string) => (out += s) } })
    log.info({ count: 1234567, frame: 'QN=20260101;PW=123456;MN=1' }, 'x')
    const rec = JSON.parse(out) as Record<string, unknown>
    expect(rec['count']).toBe(1234567)
    expect(rec['frame']).toBe(`QN=20260101;PW=${CENSOR};MN=1`)
    const { Registry, Counter } = await import('prom-client')
    const reg = new Registry()
    const c = new Counter({ name: 'x_total', help: 'h', labelNames: ['device'], registers: [reg] })
    c.labels('123456').inc(1234567)
    const { redactedRegistry } = await import('../../gateway/secrets.ts')
    expect(await redactedRegistry(reg, r).metrics()).toContain(`x_total{device="${CENSOR}"} 1234567`)
  })

  it('check-config warnings: a world-readable file holding a literal secret or a ${file:} target; none with mode 600 or with ${VAR}', () => {
    const secret = join(tmp.dir, 'pw')
    writeFileSync(secret, 'from-a-file-pw')
    const literal = join(tmp.dir, 'literal.yaml')
    writeFileSync(literal, 'sinks:\n  - type: influx-v1\n    username: admin\n    password: literal-pw-1\n')
    const viaFile = join(tmp.dir, 'via-file.yaml')
    writeFileSync(viaFile, `sinks:\n  - type: influx-v1\n    username: admin\n    password: \${file:${secret}}\n`)
    const viaEnv = join(tmp.dir, 'via-env.yaml')
    writeFileSync(viaEnv, 'sinks:\n  - type: influx-v1\n    username: admin\n    password: ${PW}\n')
    const warnings = (f: string) => {
      const r = parseConfigText(readFileSync(f, 'utf8'), f, {}, { PW: 'env-pw-1' })
      if (!r.ok) throw new Error(r.problems.join('\n'))
      return r.warnings
    }
    for (const f of [literal, viaFile, viaEnv, secret]) chmodSync(f, 0o644)
    expect(warnings(literal)).toEqual([expect.stringMatching(/literal\.yaml holds secrets \(sinks\[0\]\.password\) and every user may read it \(mode 0644\)/)])
    expect(warnings(viaFile)).toEqual([`sinks[0].password: ${secret} holds a secret and every user may read it (mode 0644): chmod o-r ${secret} (or 600, owned by the gateway's user)`])
    expect(warnings(viaEnv)).toEqual([])
    for (const f of [literal, secret]) chmodSync(f, 0o600)
    expect(warnings(literal)).toEqual([])
    expect(warnings(viaFile)).toEqual([])
    for (const w of [...warnings(literal), ...warnings(viaFile)]) expect(w).not.toContain('literal-pw-1')
  })
})

describe('no secret in any output of a running gateway', () => {
  const tmp = tempDir()
  let child: ChildProcess | undefined
  let fake: Server | undefined
  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL')
    await new Promise((r) => (fake ? fake.close(r) : r(undefined)))
    tmp.cleanup()
  })

  it('logs (debug), stderr, /metrics, /healthz, check-config and a failed reload: every secret value is cut', { timeout: 90_000 }, async () => {
    const S = {
      influxPassword: 'Influx-Pw-7c1e9',
      influxToken: 'Tok-From-File-55ab2',
      brokerPassword: 'Broker-Pw-3d8f0',
      authCode: 'Jt808-Code-a91c',
      hjPassword: 'Hj212-Pw-b7e44',
    }
    // A database that answers every request with an error echoing the credentials it was sent.
    fake = createServer((req, res) => {
      const auth = req.headers.authorization ?? ''
      const decoded = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString('utf8') : auth
      req.resume()
      req.on('end', () => {
        res.writeHead(503, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: `overloaded; you sent ${decoded}` }))
      })
    })
    const influxPort = await freePort()
    await new Promise<void>((r) => fake!.listen(influxPort, '127.0.0.1', r))
    const [mqttPort, httpPort, jtPort, hjPort] = [await freePort(), await freePort(), await freePort(), await freePort()]
    const tokenFile = join(tmp.dir, 'influx-token')
    writeFileSync(tokenFile, `${S.influxToken}\n`)
    const cfgFile = join(tmp.dir, 'gateway.yaml')
    // dev-1 is a test client publishing for two stations, so it gets an ACL of its own (the default lets a
    // device publish only under its own id).
    const aclFile = join(tmp.dir, 'acl')
    writeFileSync(aclFile, 'user dev-1\ntopic write city/#\n')
    const config = (extra = '') =>
      [
        `dataDir: ${join(tmp.dir, 'data')}`,
        'log: { level: debug }',
        `broker: { type: embedded, port: ${mqttPort}, users: { dev-1: "\${BROKER_PW}" }, auth: { aclFile: ${aclFile} } }`,
        `http: { port: ${httpPort} }`,
        'sinks:',
        `  - { type: influx-v1, url: "http://127.0.0.1:${influxPort}", username: admin, password: ${S.influxPassword}, createDatabase: false, timeoutMs: 500, minBackoffMs: 100, maxBackoffMs: 500, flushIntervalMs: 100 }`,
        `  - { type: influx-v2, url: "http://127.0.0.1:${influxPort}", org: o, bucket: b, token: "\${file:${tokenFile}}", timeoutMs: 500, minBackoffMs: 100, maxBackoffMs: 500, flushIntervalMs: 100 }`,
        'sources:',
        '  - type: mqtt',
        `  - { type: jt808, port: ${jtPort}, authCodes: { "13800138000": ${S.authCode} } }`,
        `  - { type: hj212, port: ${hjPort}, passwords: { "MN0001": ${S.hjPassword} } }`,
        extra,
      ].join('\n')
    writeFileSync(cfgFile, config())
    chmodSync(cfgFile, 0o644)
    const env = { ...process.env, BROKER_PW: S.brokerPassword }

    const check = await run(process.execPath, [BIN, 'check-config', cfgFile], { env, timeout: 30_000 })
    expect(check.stderr).toContain('holds secrets')
    expect(check.stderr).toContain('every user may read it (mode 0644)')

    child = spawn(process.execPath, [BIN, 'gateway', '--config', cfgFile], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString('utf8')))
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')))
    await waitFor(() => stderr.includes(`gateway edge-gateway: mqtt`), 30_000, 'the gateway up')

    // A device (with its credentials) that names a field after the HJ 212 password, and one whose id is the
    // JT/T 808 auth code: a refusal log line and a metrics label would carry them.
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { username: 'dev-1', password: S.brokerPassword, reconnectPeriod: 0 })
    await c.publishAsync('city/d1/water_quality/wq-1/telemetry', JSON.stringify({ ph: 7, [S.hjPassword]: 1 }), { qos: 1 })
    await c.publishAsync(`city/d1/water_quality/${S.authCode}/telemetry`, JSON.stringify({ ph: 7.1 }), { qos: 1 })
    await c.endAsync()
    // The sinks fail with the echoed credentials at least once each.
    await waitFor(() => stdout.includes('sink write failed') || stdout.includes('sink not ready'), 20_000, 'a sink error logged')
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
    const health = await (await fetch(`http://127.0.0.1:${httpPort}/healthz`)).text()
    expect(metrics).toContain(`device="${CENSOR}"`)
    const family = await (await fetch(`http://127.0.0.1:${httpPort}/metrics?name=smartcity_device_last_seen_seconds`)).text()
    expect(family).toContain(`device="${CENSOR}"`)
    expect(family).not.toContain(S.authCode)
    expect(health).toContain(CENSOR)

    // A reload with an invalid file (a problem next to a new secret) is refused; its report is cut too.
    writeFileSync(cfgFile, config(`devices:\n  - { id: "bad id", kind: water_quality, options: { password: New-Secret-Pw-1f } }\nnot_a_key: ${S.influxPassword}`))
    child.kill('SIGHUP')
    await waitFor(() => stderr.includes('reload failed'), 20_000, 'the failed reload reported')
    await sleep(300)
    child.kill('SIGTERM')
    const code = await new Promise<number | null>((r) => child!.once('exit', r))
    expect(code).toBe(0)

    const outputs: Record<string, string> = { stdout, stderr, metrics, health, checkStdout: check.stdout, checkStderr: check.stderr }
    for (const [name, text] of Object.entries(outputs)) {
      for (const [what, secret] of Object.entries(S)) expect(text.includes(secret), `${what} in ${name}`).toBe(false)
    }
    // The secrets did reach these outputs, and were cut there.
    expect(stdout).toContain(CENSOR)
    expect(stdout).toContain('you sent Token [redacted]')
    expect(stdout).toContain('you sent admin:[redacted]')
    expect(stderr).toContain('not_a_key')
  })
})
