// Log lines for the systemd journal: the level as a syslog priority prefix (sd-daemon(3), "<3>" = error),
// on when JOURNAL_STREAM names stdout's device:inode (systemd.exec(5), $JOURNAL_STREAM) or log.format says so.
import { spawn } from 'node:child_process'
import { closeSync, fstatSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { parseConfig } from '../../gateway/config.ts'
import { isJournalStream, journaldLine, syslogPriority, useJournald } from '../../gateway/journald.ts'
import { createRedactor, redactedLogger } from '../../gateway/secrets.ts'
import { tempDir } from '../helpers/env.ts'
import { freePort, waitFor } from '../helpers/net.ts'

const cleanups: (() => void)[] = []
afterEach(() => {
  for (const c of cleanups.splice(0)) c()
})

describe('journald priorities', () => {
  it('maps pino levels to syslog priorities (crit, err, warning, info, debug)', () => {
    expect([60, 50, 40, 30, 20, 10].map(syslogPriority)).toEqual([2, 3, 4, 6, 7, 7])
    expect(journaldLine('{"level":50,"msg":"x"}\n')).toBe('<3>{"level":50,"msg":"x"}\n')
    expect(journaldLine('not json\n')).toBe('not json\n')
  })

  it('knows the journal stream by device and inode, not by the variable alone', () => {
    const { dir, cleanup } = tempDir('smartcity-journald-')
    cleanups.push(cleanup)
    const fd = openSync(join(dir, 'out'), 'w')
    cleanups.unshift(() => closeSync(fd))
    const st = fstatSync(fd)
    expect(isJournalStream({ JOURNAL_STREAM: `${st.dev}:${st.ino}` }, fd)).toBe(true)
    // A child whose stdout was redirected inherits the variable: another inode is not the journal.
    expect(isJournalStream({ JOURNAL_STREAM: `${st.dev}:${st.ino + 1}` }, fd)).toBe(false)
    expect(isJournalStream({}, fd)).toBe(false)
    expect(useJournald('json', { JOURNAL_STREAM: `${st.dev}:${st.ino}` }, fd)).toBe(false)
    expect(useJournald('journald', {}, fd)).toBe(true)
  })

  it('log.format is validated and defaults to auto', () => {
    const ok = parseConfig({})
    expect(ok.ok && ok.config.log.format).toBe('auto')
    const bad = parseConfig({ log: { format: 'syslog' } } as never)
    expect(bad.ok).toBe(false)
    expect(bad.ok ? '' : bad.problems.join('\n')).toMatch(/log\.format.*not a log format/)
  })

  it('the redacting logger prefixes every line, still scrubbed', () => {
    let out = ''
    const log = redactedLogger({ level: 'debug', redactor: createRedactor(['s3cret-value']), journald: true, dest: { write: (s: string) => (out += s) } })
    log.warn('token s3cret-value refused')
    log.debug('detail')
    const lines = out.trim().split('\n')
    expect(lines[0]).toMatch(/^<4>\{"level":40,/)
    expect(lines[0]).not.toContain('s3cret-value')
    expect(lines[1]).toMatch(/^<7>\{"level":20,/)
  })

  it('the gateway command writes <6> lines when its stdout is the journal stream', { timeout: 60_000 }, async () => {
    const { dir, cleanup } = tempDir('smartcity-journald-gw-')
    cleanups.push(cleanup)
    const cfg = join(dir, 'gateway.yaml')
    writeFileSync(cfg, `dataDir: ${join(dir, 'data')}\nbroker: { type: embedded, host: 127.0.0.1, port: ${await freePort()} }\nhttp: { host: 127.0.0.1, port: 0 }\n`)
    const outFile = join(dir, 'stdout')
    const fd = openSync(outFile, 'w')
    const st = fstatSync(fd)
    const child = spawn(process.execPath, ['bin/smartcity.js', 'gateway', '--config', cfg], {
      stdio: ['ignore', fd, 'pipe'],
      env: { ...process.env, JOURNAL_STREAM: `${st.dev}:${st.ino}` },
    })
    closeSync(fd)
    let stderr = ''
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    try {
      await waitFor(() => readFileSync(outFile, 'utf8').includes('gateway started'), 45_000, `gateway started (stderr: ${stderr})`)
    } finally {
      child.kill('SIGTERM')
    }
    expect(await exited).toBe(0)
    const lines = readFileSync(outFile, 'utf8').trim().split('\n')
    expect(lines.length).toBeGreaterThan(1)
    for (const l of lines) expect(l).toMatch(/^<[2-7]>\{"level":\d+,/)
    expect(lines.find((l) => l.includes('gateway started'))).toMatch(/^<6>/)
  })
})
