import { afterAll, beforeAll } from 'vitest'
import { findInfluxd, influxd } from '../../cli/influxd.ts'
import { tempDir } from './env.ts'
import { freePort } from './net.ts'

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

/**
 * `admin`: run with `[http] auth-enabled = true` and create this admin user first (InfluxDB 1.x lets the
 * first user be created without credentials); the helper's own queries then authenticate as it.
 */
export async function startInflux(dir: string, opts: { admin?: { username: string; password: string } } = {}): Promise<InfluxServer> {
  const bin = findInfluxd()
  if (!bin) throw new Error('influxd not found')
  const server = influxd({ bin, dir, port: await freePort(), rpcPort: await freePort(), auth: opts.admin !== undefined })
  await server.start()
  const headers: Record<string, string> = {}
  if (opts.admin) {
    const { username, password } = opts.admin
    const q = `CREATE USER "${username}" WITH PASSWORD '${password.replace(/'/g, "\\'")}' WITH ALL PRIVILEGES`
    const res = await fetch(`${server.url}/query`, { method: 'POST', body: new URLSearchParams({ q }) })
    if (!res.ok) throw new Error(`creating the admin user: ${res.status} ${await res.text()}`)
    headers['authorization'] = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`
  }
  const query = async (db: string, q: string) => {
    const res = await fetch(`${server.url}/query?db=${encodeURIComponent(db)}&epoch=ms&q=${encodeURIComponent(q)}`, { headers })
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
  return {
    url: server.url,
    port: server.port,
    query,
    async count(db, measurement, field, where) {
      const rows = await query(db, `SELECT count("${field}") FROM "${measurement}"${where ? ` WHERE ${where}` : ''}`)
      return Number(rows[0]?.['count'] ?? 0)
    },
    stop: () => server.stop(),
    restart: () => server.start(),
  }
}

/**
 * A real InfluxDB for the enclosing `describe`: started in `beforeAll` in a temporary directory of its own,
 * stopped and removed in `afterAll` (which runs after the suite's own after-hooks registered later). The
 * returned handle is usable at once and forwards to the running server.
 */
export function useInflux(): InfluxServer {
  let server: InfluxServer | undefined
  let tmp: { dir: string; cleanup: () => void } | undefined
  const running = () => {
    if (!server) throw new Error('InfluxDB is not started yet (use it inside tests or later hooks)')
    return server
  }
  beforeAll(async () => {
    tmp = tempDir('influx-')
    server = await startInflux(tmp.dir)
  })
  afterAll(async () => {
    await server?.stop()
    tmp?.cleanup()
  })
  return {
    get url() {
      return running().url
    },
    get port() {
      return running().port
    },
    query: (db, q) => running().query(db, q),
    count: (db, m, f, w) => running().count(db, m, f, w),
    stop: () => running().stop(),
    restart: () => running().restart(),
  }
}
