/**
 * The recorder behind `smartcity gateway --record DIR` (config `record:`): the raw bytes and messages every
 * source receives and sends, per source and connection, with their times, in JSON lines (README "Record and
 * replay" says why not pcap). One file per connection, `<dir>/<source-id>/<ISO time>-<peer>.jsonl`:
 *
 *   {"format":"smartcity-recording","version":1,"source":"jt808","type":"jt808","transport":"tcp",
 *    "peer":"127.0.0.1:50412","connection":3,"part":1,"started":"2026-12-01T12:00:00.000Z","gateway":"edge-gateway"}
 *   {"t":1764590400123,"dir":"in","hex":"7e0200..."}
 *   {"t":1764590400125,"dir":"out","hex":"7e8001..."}
 *
 * MQTT records carry `topic`, `qos` and the payload as `text` (valid UTF-8) or `b64`. Bounded: a file over
 * `maxFileBytes` is closed and the connection goes on in its next part (same `connection`, `part` + 1); once
 * the files written in this run reach `maxTotalBytes` recording stops, with one warning and the
 * `smartcity_record_dropped_total{reason="total_cap"}` metric counting what was left out. Writes are
 * buffered streams and never awaited: a disk that cannot keep up makes the recorder drop (reason
 * `backlog`), never the ingest wait.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs'
import { isUtf8 } from 'node:buffer'
import { join } from 'node:path'
import type { RecordConn, RecordTap, RecordTransport } from '../transports/record.ts'

export const RECORDING_FORMAT = 'smartcity-recording'
export const RECORDING_VERSION = 1

/** The first line of every recording file. */
export interface RecordingHeader {
  format: typeof RECORDING_FORMAT
  version: typeof RECORDING_VERSION
  /** Source id and type (config `id`, `type`). */
  source: string
  type: string
  transport: RecordTransport
  peer: string
  /** The link's address string when the gateway opened the stream (`tcp://h:p`, `serial:///dev/...`). */
  address?: string
  /** The connection's number in this run (parts of one connection share it). */
  connection: number
  part: number
  started: string
  gateway?: string
}

/** One chunk or message as received (`in`) or sent (`out`). */
export type RecordingLine =
  | { t: number; dir: 'in' | 'out'; hex: string }
  | { t: number; dir: 'in' | 'out'; topic: string; qos: number; text: string }
  | { t: number; dir: 'in' | 'out'; topic: string; qos: number; b64: string }

export type RecordDropReason = 'total_cap' | 'backlog' | 'write_failed'

export interface RecorderOptions {
  dir: string
  maxFileBytes: number
  maxTotalBytes: number
  gatewayId?: string
  now?: () => number
  log?: { warn(obj: object, msg: string): void }
  /** Bytes written (metric). */
  onWritten?: (bytes: number) => void
  /** Records left out, by reason (metric). */
  onDropped?: (reason: RecordDropReason, records: number) => void
  /** A file was opened (metric). */
  onFile?: () => void
}

export interface RecorderStats {
  files: number
  bytes: number
  dropped: Record<RecordDropReason, number>
  stopped: boolean
}

export interface Recorder {
  /** The tap for one source (SourceContext `record`). */
  tap(source: { id: string; type: string }): RecordTap
  stats(): RecorderStats
  /** Flush and close every file. */
  close(): Promise<void>
}

/** What a disk may be behind before the recorder drops instead of buffering more. */
const MAX_BACKLOG_BYTES = 8 * 1024 * 1024

function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 80) || 'peer'
}

function isoName(ms: number): string {
  return new Date(ms).toISOString().replace(/:/g, '-')
}

export function createRecorder(o: RecorderOptions): Recorder {
  const now = o.now ?? Date.now
  const stats: RecorderStats = { files: 0, bytes: 0, dropped: { total_cap: 0, backlog: 0, write_failed: 0 }, stopped: false }
  const open = new Set<WriteStream>()
  const madeDirs = new Set<string>()
  const usedNames = new Set<string>()
  let connections = 0
  let closed = false

  const drop = (reason: RecordDropReason, n = 1) => {
    stats.dropped[reason] += n
    o.onDropped?.(reason, n)
  }

  function stop(): void {
    if (stats.stopped) return
    stats.stopped = true
    o.log?.warn({ dir: o.dir, maxTotalBytes: o.maxTotalBytes }, 'recording stopped: the recordings reached record.maxTotalBytes')
  }

  /** One connection's files: the header on each part, rotation by size. */
  function fileConn(source: { id: string; type: string }, meta: { transport: RecordTransport; peer: string; address?: string }): { write(line: RecordingLine): void; close(): void } | undefined {
    if (closed || stats.stopped) return undefined
    const connection = ++connections
    const started = now()
    const dir = join(o.dir, safeName(source.id))
    let part = 0
    let stream: WriteStream | undefined
    let fileBytes = 0
    let failed = false
    let done = false

    const header = (): string =>
      `${JSON.stringify({
        format: RECORDING_FORMAT,
        version: RECORDING_VERSION,
        source: source.id,
        type: source.type,
        transport: meta.transport,
        peer: meta.peer,
        ...(meta.address !== undefined ? { address: meta.address } : {}),
        connection,
        part: part,
        started: new Date(started).toISOString(),
        ...(o.gatewayId !== undefined ? { gateway: o.gatewayId } : {}),
      } satisfies RecordingHeader)}\n`

    const put = (s: WriteStream, text: string): void => {
      const n = Buffer.byteLength(text)
      fileBytes += n
      stats.bytes += n
      o.onWritten?.(n)
      s.write(text)
    }

    const next = (): WriteStream | undefined => {
      if (stream) endStream(stream)
      stream = undefined
      part++
      const head = header()
      if (stats.bytes + Buffer.byteLength(head) > o.maxTotalBytes) {
        stop()
        return undefined
      }
      try {
        if (!madeDirs.has(dir)) {
          mkdirSync(dir, { recursive: true })
          madeDirs.add(dir)
        }
      } catch (err) {
        failed = true
        o.log?.warn({ err, dir }, 'recording: cannot create the directory')
        return undefined
      }
      let name = `${isoName(started)}-${safeName(meta.peer)}${part > 1 ? `.${part}` : ''}`
      if (usedNames.has(join(dir, name))) name = `${name}-${connection}`
      usedNames.add(join(dir, name))
      const s = createWriteStream(join(dir, `${name}.jsonl`), { flags: 'a' })
      s.on('error', (err) => {
        if (!failed) o.log?.warn({ err, file: s.path }, 'recording: write failed; this connection is no longer recorded')
        failed = true
        open.delete(s)
      })
      open.add(s)
      stats.files++
      o.onFile?.()
      fileBytes = 0
      stream = s
      put(s, head)
      return s
    }

    return {
      write(line) {
        if (done) return
        if (failed) return drop('write_failed')
        if (stats.stopped || closed) return drop('total_cap')
        const text = `${JSON.stringify(line)}\n`
        const n = Buffer.byteLength(text)
        if (stats.bytes + n > o.maxTotalBytes) {
          stop()
          return drop('total_cap')
        }
        let s = stream
        if (!s || fileBytes + n > o.maxFileBytes) s = next()
        if (!s) return drop(failed ? 'write_failed' : 'total_cap')
        if (s.writableLength > MAX_BACKLOG_BYTES) return drop('backlog')
        put(s, text)
      },
      close() {
        done = true
        if (stream) endStream(stream)
        stream = undefined
      },
    }
  }

  function endStream(s: WriteStream): void {
    s.end(() => open.delete(s))
  }

  return {
    tap(source) {
      let mqtt: ReturnType<typeof fileConn> | null = null
      return {
        connection(meta): RecordConn | undefined {
          const f = fileConn(source, meta)
          if (!f) return undefined
          return {
            in: (chunk) => f.write({ t: now(), dir: 'in', hex: Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('hex') }),
            out: (chunk) => f.write({ t: now(), dir: 'out', hex: Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('hex') }),
            close: () => f.close(),
          }
        },
        message(topic, payload, qos) {
          // One file per MQTT source: the broker hands the source messages of every client.
          if (mqtt === null) mqtt = fileConn(source, { transport: 'mqtt', peer: 'broker' })
          if (!mqtt) return drop('total_cap')
          const b = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
          mqtt.write(isUtf8(b) ? { t: now(), dir: 'in', topic, qos, text: b.toString('utf8') } : { t: now(), dir: 'in', topic, qos, b64: b.toString('base64') })
        },
      }
    },
    stats: () => ({ ...stats, dropped: { ...stats.dropped } }),
    async close() {
      closed = true
      await Promise.all(
        [...open].map(
          (s) =>
            new Promise<void>((resolve) => {
              if (s.closed || s.destroyed) return resolve()
              s.once('close', () => resolve())
              s.end()
              setTimeout(resolve, 2000).unref()
            }),
        ),
      )
      open.clear()
    },
  }
}
