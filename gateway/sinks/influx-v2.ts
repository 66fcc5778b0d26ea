/**
 * InfluxDB 2.x write API sink (`POST /api/v2/write?org=..&bucket=..&precision=ms`, `Authorization: Token ..`),
 * also served by InfluxDB 3. Through `@influxdata/influxdb-client` with its own retry buffer turned off
 * (maxRetries 0, no flush timer): one write call is one request, and the spool decides what to do with a
 * failure.
 */
import { HttpError, InfluxDB, setLogger, type WriteApi } from '@influxdata/influxdb-client'
import { splitLines } from '../core/spool.ts'
import type { ComponentHealth, Logger, Sink, WriteResult } from '../core/types.ts'
import type { InfluxV2SinkConfig } from './config.ts'
import { classifyStatus } from './status.ts'

export function createInfluxV2Sink(cfg: InfluxV2SinkConfig, log: Logger): Sink {
  // The client logs every failed write to the console; failures are counted by the drain instead.
  setLogger({ error: (message, err) => log.debug({ err }, message), warn: (message, err) => log.debug({ err }, message) })
  const client = new InfluxDB({ url: cfg.url, token: cfg.token, timeout: cfg.timeoutMs })
  let api: WriteApi | undefined
  let lastError: string | undefined
  let lastOk = false

  const writeApi = () => {
    api ??= client.getWriteApi(cfg.org, cfg.bucket, 'ms', {
      maxRetries: 0,
      maxBufferLines: 1_000_000,
      batchSize: 1_000_000,
      flushInterval: 0,
      // Failures are the spool's business: no console logging from the client.
      writeFailed: () => undefined,
    })
    return api
  }

  return {
    id: cfg.id,
    type: 'influx-v2',
    async start() {
      // The v2 API has no "create bucket if missing" without an all-access token; the bucket must exist.
    },
    async write(batch): Promise<WriteResult> {
      const w = writeApi()
      try {
        w.writeRecords(splitLines(batch.body))
        await w.flush()
        lastError = undefined
        lastOk = true
        return { kind: 'accepted' }
      } catch (err) {
        lastOk = false
        if (err instanceof HttpError) {
          const r = classifyStatus(err.statusCode, err.body ?? err.message, err.headers?.['retry-after'] as string | undefined)
          lastError = r.kind === 'accepted' ? undefined : r.reason
          return r
        }
        lastError = (err as Error).message
        log.debug({ err }, 'influx v2 write failed')
        return { kind: 'retry', reason: lastError }
      }
    },
    async close() {
      if (api) await api.close().catch(() => undefined)
    },
    async health(): Promise<ComponentHealth> {
      if (lastError) return { status: 'degraded', detail: lastError }
      return { status: 'ok', detail: lastOk ? `${cfg.url} bucket=${cfg.bucket}` : `${cfg.url} (no write yet)` }
    },
  }
}
