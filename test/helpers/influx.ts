import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { which } from './env.ts'
import { freePort, waitFor } from './net.ts'

/** A real InfluxDB 1.x (Debian's influxd) on free loopback ports with its data in `dir`. */
export interface InfluxServer {
  url: string
  port: number
  /** Run an InfluxQL query against `db`; returns the rows of the first series of the first result. */
  query(db: string, q: string): Promise<Record<string, unknown>[]>
  /** Number of points of `measurement` in `db` (count of `field`). */
  count(db: string, measurement: string, field: string, where?: string): Promise<number>
  stop(): Promise<void>
  /** Start again on the same port and data (after `stop`). */
  restart(): Promise<void>
}

export function influxdConfig(dir: string, httpPort: number, rpcPort: number): string {
  return `reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"
[meta]
  dir = "${join(dir, 'meta')}"
  logging-enabled = false
[data]
  dir = "${join(dir, 'data')}"
  wal-dir = "${join(dir, 'wal')}"
  query-log-enabled = false
  wal-fsync-delay = "0s"
[coordinator]
  log-queries-after = "0s"
[retention]
  enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:${httpPort}"
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

export async function startInflux(dir: string): Promise<InfluxServer> {
  const bin = which('influxd')
  if (!bin) throw new Error('influxd not found')
  mkdirSync(dir, { recursive: true })
  const port = await freePort()
  const rpc = await freePort()
  const conf = join(dir, 'influxdb.conf')
  writeFileSync(conf, influxdConfig(dir, port, rpc))
  const url = `http://127.0.0.1:${port}`
  let child: ChildProcess | undefined
  let stderr = ''

  const launch = async () => {
    stderr = ''
    child = spawn(bin, ['-config', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000)
    })
    await waitFor(async () => (await fetch(`${url}/ping`)).status === 204, 30_000, `influxd on ${url} (${stderr})`)
  }

  const query = async (db: string, q: string) => {
    const res = await fetch(`${url}/query?db=${encodeURIComponent(db)}&epoch=ms&q=${encodeURIComponent(q)}`)
    const body = (await res.json()) as {
      results?: { error?: string; series?: { columns: string[]; values: unknown[][] }[] }[]
      error?: string
    }
    const r0 = body.results?.[0]
    if (body.error || r0?.error) throw new Error(body.error ?? r0?.error)
    const s = r0?.series?.[0]
    if (!s) return []
    return s.values.map((row) => Object.fromEntries(s.columns.map((c, i) => [c, row[i]])))
  }

  await launch()
  return {
    url,
    port,
    query,
    async count(db, measurement, field, where) {
      const rows = await query(db, `SELECT count("${field}") FROM "${measurement}"${where ? ` WHERE ${where}` : ''}`)
      return Number(rows[0]?.['count'] ?? 0)
    },
    async stop() {
      const c = child
      if (!c || c.exitCode !== null) return
      await new Promise<void>((resolve) => {
        c.once('exit', () => resolve())
        c.kill('SIGTERM')
        setTimeout(() => c.kill('SIGKILL'), 10_000).unref()
      })
    },
    restart: launch,
  }
}
