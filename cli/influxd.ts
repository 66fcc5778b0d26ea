/**
 * Run Debian's `influxd` (InfluxDB 1.x) as a child process with its data under a directory: the demo's
 * embedded default, and the test suite's real database. Loopback only; reporting to InfluxData disabled.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { findProgram } from './programs.ts'

/** The influxd to run: `SMARTCITY_INFLUXD` (a path, or `none` to run without one), else the PATH. */
export const findInfluxd = (): string | undefined => findProgram('influxd', { env: 'SMARTCITY_INFLUXD', debianPath: '/usr/bin/influxd' })

/** `auth`: `[http] auth-enabled = true` (create the first admin user through `/query` before anything else). */
export function influxdConfig(dir: string, httpPort: number, rpcPort: number, auth = false): string {
  return `reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"
[meta]
  dir = "${join(dir, 'meta')}"
  logging-enabled = false
[data]
  dir = "${join(dir, 'data')}"
  wal-dir = "${join(dir, 'wal')}"
  query-log-enabled = false
[retention]
  enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:${httpPort}"
  auth-enabled = ${auth}
  log-enabled = false
  max-body-size = 0
[subscriber]
  enabled = false
[continuous_queries]
  enabled = false
[logging]
  level = "warn"
`
}

export interface Influxd {
  url: string
  port: number
  /** Start (again, after stop) on the same port and data. */
  start(): Promise<void>
  stop(): Promise<void>
  running(): boolean
  /** The process id while running. */
  pid(): number | undefined
}

export function influxd(opts: { bin: string; dir: string; port: number; rpcPort: number; readyTimeoutMs?: number; auth?: boolean }): Influxd {
  mkdirSync(opts.dir, { recursive: true })
  const conf = join(opts.dir, 'influxdb.conf')
  writeFileSync(conf, influxdConfig(opts.dir, opts.port, opts.rpcPort, opts.auth))
  const url = `http://127.0.0.1:${opts.port}`
  let child: ChildProcess | undefined
  let stderr = ''
  return {
    url,
    port: opts.port,
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    pid: () => child?.pid,
    async start() {
      stderr = ''
      const c = spawn(opts.bin, ['-config', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
      child = c
      c.stderr?.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-4000)
      })
      const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000)
      for (;;) {
        if (c.exitCode !== null) throw new Error(`influxd exited with ${c.exitCode}: ${stderr}`)
        try {
          if ((await fetch(`${url}/ping`)).status === 204) return
        } catch {
          // not up yet
        }
        if (Date.now() > deadline) throw new Error(`influxd did not answer on ${url}: ${stderr}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    },
    async stop() {
      const c = child
      if (!c || c.exitCode !== null || c.signalCode !== null) return
      await new Promise<void>((resolve) => {
        c.once('exit', () => resolve())
        c.kill('SIGTERM')
        setTimeout(() => c.kill('SIGKILL'), 10_000).unref()
      })
    },
  }
}
