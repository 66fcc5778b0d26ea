/**
 * InfluxDB 1.x sink: `POST /write?db=..&precision=ms` (Debian's influxdb 1.6 and every 1.x).
 * Database management and health go through the `influx` client; writes are one keep-alive HTTP request
 * per batch of pre-formatted line protocol, because the spool needs the raw status code and Retry-After and
 * must stay the only retry buffer (node-influx's pool retries on its own and would hide both). Both send
 * credentials as `Authorization: Basic` (https://docs.influxdata.com/influxdb/v1/administration/authentication_and_authorization/).
 */
import { Agent, request } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { InfluxDB } from 'influx'
import type { ComponentHealth, Logger, Sink, WriteResult } from '../core/types.ts'
import type { InfluxV1SinkConfig } from './config.ts'
import { classifyStatus } from './status.ts'

export function createInfluxV1Sink(cfg: InfluxV1SinkConfig, log: Logger): Sink {
  const url = new URL(cfg.url)
  const https = url.protocol === 'https:'
  const agent = https ? new HttpsAgent({ keepAlive: true, maxSockets: 4 }) : new Agent({ keepAlive: true, maxSockets: 4 })
  const client = new InfluxDB({
    host: url.hostname,
    port: Number(url.port || (https ? 443 : 80)),
    protocol: https ? 'https' : 'http',
    database: cfg.database,
    // Without a username the client would send its default `root:root`; null (typed string) makes it send
    // no Authorization header at all, like our writes.
    username: cfg.username || (null as unknown as string),
    password: cfg.password ?? '',
  })
  const q = new URLSearchParams({ db: cfg.database, precision: 'ms' })
  if (cfg.retentionPolicy) q.set('rp', cfg.retentionPolicy)
  // Credentials go in a Basic Authorization header, as InfluxDB 1.x documents, never in the query string
  // (`u=`/`p=` would end up in influxd's access log). The `influx` client sends the same header for its
  // management calls (SHOW/CREATE DATABASE) and ping.
  // An empty username (`username: ${INFLUX_USER:-}`) means no credentials.
  const authorization = cfg.username ? `Basic ${Buffer.from(`${cfg.username}:${cfg.password ?? ''}`).toString('base64')}` : undefined
  const path = `${url.pathname.replace(/\/$/, '')}/write?${q.toString()}`
  let dbReady = !cfg.createDatabase
  let lastError: string | undefined

  async function ensureDatabase(): Promise<void> {
    const names = await client.getDatabaseNames()
    if (!names.includes(cfg.database)) {
      await client.createDatabase(cfg.database)
      log.info({ database: cfg.database }, 'created InfluxDB database')
    }
    dbReady = true
  }

  function post(body: Buffer): Promise<{ status: number; body: string; retryAfter: string | undefined }> {
    return new Promise((resolve, reject) => {
      const req = (https ? httpsRequest : request)(
        {
          host: url.hostname,
          port: url.port || (https ? 443 : 80),
          method: 'POST',
          path,
          agent,
          timeout: cfg.timeoutMs,
          headers: { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length, ...(authorization ? { authorization } : {}) },
        },
        (res) => {
          let text = ''
          res.setEncoding('utf8')
          res.on('data', (d: string) => {
            if (text.length < 4096) text += d
          })
          res.on('end', () => {
            const ra = res.headers['retry-after']
            resolve({ status: res.statusCode ?? 0, body: text, retryAfter: Array.isArray(ra) ? ra[0] : ra })
          })
          res.on('error', reject)
        },
      )
      req.on('timeout', () => req.destroy(new Error(`timed out after ${cfg.timeoutMs} ms`)))
      req.on('error', reject)
      req.end(body)
    })
  }

  return {
    id: cfg.id,
    type: 'influx-v1',
    async start() {
      if (!dbReady) await ensureDatabase()
    },
    async write(batch): Promise<WriteResult> {
      try {
        if (!dbReady) await ensureDatabase()
        const res = await post(batch.body)
        if (res.status === 404 && cfg.createDatabase && /database not found/.test(res.body)) {
          // Someone dropped the database under us: create it again and retry.
          dbReady = false
          return { kind: 'retry', reason: 'database not found', retryAfterMs: 0 }
        }
        const r = classifyStatus(res.status, res.body, res.retryAfter)
        lastError = r.kind === 'accepted' ? undefined : r.reason
        return r
      } catch (err) {
        lastError = (err as Error).message
        return { kind: 'retry', reason: lastError }
      }
    },
    async close() {
      agent.destroy()
    },
    async health(): Promise<ComponentHealth> {
      try {
        const hosts = await client.ping(2000)
        if (hosts.every((h) => !h.online)) return { status: 'down', detail: `no answer from ${cfg.url}` }
        return lastError ? { status: 'degraded', detail: lastError } : { status: 'ok', detail: `${cfg.url} db=${cfg.database}` }
      } catch (err) {
        return { status: 'down', detail: (err as Error).message }
      }
    },
  }
}
