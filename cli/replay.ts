/**
 * `smartcity replay FILE|DIR [--to host:port | --mqtt URL | --serial PATH | --gateway-config FILE]
 *  [--speed X | --fast] [--duration SECONDS]`: send a recording (gateway/core/recorder.ts) again through the
 * transports it came in by, at the original pace, X times faster, or as fast as the gateway answers.
 *
 * Where each recorded connection goes:
 * - MQTT: published with its recorded topic and QoS to `--mqtt URL` (or the configuration's broker);
 * - a connection the device dialled (JT/T 808, HJ 212, an RSU dialling a listening lane controller): a TCP
 *   client per recorded connection to `--to host:port` (or the configuration's source of the same id);
 * - a connection the gateway dialled (Modbus TCP, RTU over TCP, an RSU in client mode): replay listens where
 *   the gateway dialled (`--to`, else the recorded address) and plays the device there;
 * - serial: `--serial PATH`, the other end of the gateway's port (a socat pty pair, a null modem).
 * Polled protocols (Modbus, DL/T 645) are answered request by request from the recording (cli/replay/play.ts).
 * Exit 0 when every recording was played and every answer the gateway gave then came again, 1 otherwise,
 * 2 for bad arguments.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import mqtt from 'mqtt'
import { loadConfig, type GatewayConfig } from '../gateway/config.ts'
import { parseAddress } from '../gateway/transports/address.ts'
import { openSerial } from '../gateway/transports/serial.ts'
import { sleep } from '../gateway/transports/timers.ts'
import { answerPolls, answerTable, flushed, type PlayOptions, type PlayResult, playStream, waitUntil } from './replay/play.ts'
import { type Recording, readRecordings } from './replay/recording.ts'

const POLLED_TYPES = new Set(['modbus-tcp', 'modbus-rtu', 'modbus-rtu-over-tcp', 'dlt645'])

export interface ReplayFlags {
  to?: string | undefined
  mqtt?: string | undefined
  serial?: string | undefined
  'gateway-config'?: string | undefined
  speed?: string | undefined
  fast?: boolean | undefined
  duration?: string | undefined
}

export interface ReplaySummary {
  recordings: number
  sent: number
  unanswered: number
  answered: number
  unmatched: number
  failures: string[]
}

type Plan =
  | { kind: 'mqtt'; rec: Recording; url: string }
  | { kind: 'dial'; rec: Recording; host: string; port: number }
  | { kind: 'listen'; recs: Recording[]; host: string; port: number; mbap: boolean; polled: boolean }
  | { kind: 'serial'; recs: Recording[]; path: string; baudRate: number; polled: boolean; mbap: boolean }

function hostPort(s: string): { host: string; port: number } | undefined {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(s)
  if (!m) return undefined
  const port = Number(m[2])
  return port > 0 && port < 65536 ? { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port } : undefined
}

/** Where the configuration says a source listens (dial-in sources) or the broker is. */
function fromConfig(cfg: GatewayConfig | undefined, source: string): { tcp?: { host: string; port: number }; mqtt?: string } {
  if (!cfg) return {}
  const s = cfg.sources.find((x) => x.id === source) as { type: string; host?: string; port?: number } | undefined
  const out: { tcp?: { host: string; port: number }; mqtt?: string } = {}
  if (s && typeof s.port === 'number') out.tcp = { host: s.host ?? '127.0.0.1', port: s.port }
  out.mqtt = cfg.broker.type === 'external' ? cfg.broker.url : `mqtt://${cfg.broker.host === '0.0.0.0' ? '127.0.0.1' : cfg.broker.host}:${cfg.broker.port}`
  return out
}

/** Decide where each recording goes; problems are reasons the replay cannot start. */
export function planReplay(recs: Recording[], f: ReplayFlags, cfg?: GatewayConfig): { plans: Plan[]; problems: string[] } {
  const plans: Plan[] = []
  const problems: string[] = []
  const to = f.to !== undefined ? hostPort(f.to) : undefined
  if (f.to !== undefined && !to) problems.push(`--to ${f.to}: expected host:port`)
  // --serial PATH for every serial recording, or --serial SOURCE=PATH,SOURCE=PATH (one per recorded port).
  const serialBy = new Map<string, string>()
  const serialAll = f.serial !== undefined && !f.serial.includes('=') ? f.serial : undefined
  if (f.serial?.includes('=')) {
    for (const pair of f.serial.split(',')) {
      const [id, path] = pair.split('=', 2)
      if (!id || !path) problems.push(`--serial ${f.serial}: expected PATH or SOURCE=PATH,SOURCE=PATH`)
      else serialBy.set(id, path)
    }
  }
  const listens = new Map<string, Extract<Plan, { kind: 'listen' }>>()
  const serial = new Map<string, Extract<Plan, { kind: 'serial' }>>()
  for (const rec of recs) {
    const h = rec.header
    const polled = POLLED_TYPES.has(h.type) || h.transport === 'modbus-tcp' || h.transport === 'modbus-rtu'
    const mbap = h.transport === 'modbus-tcp'
    const c = fromConfig(cfg, h.source)
    const where = `${rec.file} (source ${h.source}, ${h.type})`
    if (h.transport === 'mqtt') {
      const url = f.mqtt ?? c.mqtt
      if (!url) problems.push(`${where}: an MQTT recording needs --mqtt URL or --gateway-config`)
      else plans.push({ kind: 'mqtt', rec, url })
      continue
    }
    const addr = h.address !== undefined ? parseAddress(h.address) : undefined
    if (addr?.scheme === 'serial') {
      const path = serialBy.get(h.source) ?? serialAll
      if (!path) {
        problems.push(`${where}: a serial recording needs --serial PATH or --serial ${h.source}=PATH (the other end of the gateway's port)`)
        continue
      }
      const key = path
      const p = serial.get(key) ?? { kind: 'serial' as const, recs: [], path, baudRate: addr.serial.baudRate, polled, mbap }
      p.recs.push(rec)
      serial.set(key, p)
      if (!plans.includes(p)) plans.push(p)
      continue
    }
    if (addr && (addr.scheme === 'tcp' || addr.scheme === 'rtu-over-tcp')) {
      // The gateway dialled the device: be the device where it dials.
      const at = to ?? { host: addr.host, port: addr.port }
      const key = `${at.host}:${at.port}`
      const p = listens.get(key) ?? { kind: 'listen' as const, recs: [], host: at.host, port: at.port, mbap, polled }
      p.recs.push(rec)
      listens.set(key, p)
      if (!plans.includes(p)) plans.push(p)
      continue
    }
    // The device dialled the gateway (a TCP server source, or a tcp-listen link).
    const at = to ?? c.tcp ?? (addr && addr.scheme === 'tcp-listen' ? { host: addr.host, port: addr.port } : undefined)
    if (!at) problems.push(`${where}: a TCP recording needs --to host:port or --gateway-config`)
    else plans.push({ kind: 'dial', rec, ...at })
  }
  return { plans, problems }
}

function dial(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port })
    s.setNoDelay(true)
    s.once('connect', () => {
      s.off('error', reject)
      resolve(s)
    })
    s.once('error', reject)
  })
}

const span = (recs: Recording[]) => {
  const ts = recs.flatMap((r) => r.records.map((x) => x.t))
  return ts.length === 0 ? 0 : Math.max(...ts) - Math.min(...ts)
}

export async function replay(path: string, f: ReplayFlags, out: NodeJS.WritableStream = process.stderr): Promise<{ code: number; summary: ReplaySummary }> {
  const summary: ReplaySummary = { recordings: 0, sent: 0, unanswered: 0, answered: 0, unmatched: 0, failures: [] }
  const bad = (msg: string) => {
    out.write(`smartcity replay: ${msg}\n`)
    return { code: 2, summary }
  }
  const speed = f.speed === undefined ? 1 : Number(f.speed)
  if (!(speed > 0 && Number.isFinite(speed))) return bad(`--speed ${f.speed}: a positive number`)
  const durationMs = f.duration === undefined ? undefined : Number(f.duration) * 1000
  if (durationMs !== undefined && !(durationMs > 0)) return bad(`--duration ${f.duration}: seconds, a positive number`)
  let recs: Recording[]
  try {
    recs = readRecordings(path)
  } catch (err) {
    return bad((err as Error).message)
  }
  if (recs.length === 0) return bad(`${path}: no recordings`)
  let cfg: GatewayConfig | undefined
  if (f['gateway-config']) {
    const r = await loadConfig(f['gateway-config'])
    if (!r.ok) return bad(`${f['gateway-config']}: ${r.problems.join('; ')}`)
    cfg = r.config
  }
  const { plans, problems } = planReplay(recs, f, cfg)
  if (problems.length > 0) return bad(problems.join('\n  '))
  summary.recordings = recs.length
  const stop = new AbortController()
  const timer = durationMs !== undefined ? setTimeout(() => stop.abort(), durationMs) : undefined
  const t0 = Math.min(...recs.map((r) => r.records[0]?.t ?? Number.POSITIVE_INFINITY))
  const o: PlayOptions = { speed, fast: f.fast === true, answerTimeoutMs: 5_000, startedAt: Date.now(), t0, signal: stop.signal }
  const add = (r: PlayResult) => {
    summary.sent += r.sent
    summary.unanswered += r.unanswered
  }
  const fail = (what: string, err: unknown) => summary.failures.push(`${what}: ${err instanceof Error ? err.message : String(err)}`)
  /** How long a device role waits for the gateway's polls: the recording's span at this speed, and a margin. */
  const pollWindow = (rs: Recording[]) => (o.fast ? span(rs) / Math.max(speed, 1) : span(rs) / speed) + 5_000

  const runs = plans.map(async (p) => {
    try {
      if (p.kind === 'dial') {
        const first = p.rec.records[0]
        if (first) await waitUntil(first.t, o)
        const s = await dial(p.host, p.port)
        add(await playStream(p.rec, s, o))
        // Give the gateway's last answers a moment, then hang up as the device did.
        s.end()
        await Promise.race([new Promise((r) => s.once('close', r)), sleep(1_000)])
        s.destroy()
      } else if (p.kind === 'mqtt') {
        const client = await mqtt.connectAsync(p.url, { clientId: `smartcity-replay-${process.pid}-${summary.recordings}-${Math.random().toString(16).slice(2, 8)}`, reconnectPeriod: 0 })
        try {
          for (const r of p.rec.records) {
            if (r.dir !== 'in' || r.topic === undefined || stop.signal.aborted) continue
            await waitUntil(r.t, o)
            await client.publishAsync(r.topic, r.bytes, { qos: r.qos === 2 ? 2 : r.qos === 1 ? 1 : 0 })
            summary.sent++
          }
        } finally {
          await client.endAsync()
        }
      } else if (p.kind === 'listen' && !p.polled) {
        // A device the gateway dials that speaks on its own (an RSU in client mode): each connection the
        // gateway opens plays the next recorded connection.
        const queue = [...p.recs]
        const plays: Promise<void>[] = []
        const sockets = new Set<Socket>()
        let done: () => void = () => {}
        const finished = new Promise<void>((r) => {
          done = r
        })
        const server: Server = createServer((s) => {
          const rec = queue.shift()
          if (!rec) return void s.destroy()
          sockets.add(s)
          s.setNoDelay(true)
          plays.push(
            playStream(rec, s, { ...o, startedAt: Date.now(), t0: rec.records[0]?.t ?? o.t0 }).then((r) => {
              add(r)
              if (queue.length === 0) done()
            }),
          )
        })
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject)
          server.listen(p.port, p.host, () => resolve())
        })
        await Promise.race([finished, sleep(pollWindow(p.recs) + 30_000, stop.signal)])
        await Promise.all(plays)
        if (queue.length > 0) summary.failures.push(`${p.recs[0]!.file}: the gateway did not dial ${p.host}:${p.port} for ${queue.length} recorded connection(s)`)
        for (const s of sockets) {
          await flushed(s)
          s.destroy()
        }
        await new Promise<void>((r) => server.close(() => r()))
      } else if (p.kind === 'listen') {
        const records = p.recs.flatMap((r) => r.records)
        const table = answerTable(records, p.mbap)
        const sockets = new Set<Socket>()
        const server: Server = createServer((s) => {
          sockets.add(s)
          s.setNoDelay(true)
          s.on('close', () => sockets.delete(s))
          answerPolls(s, table, p.mbap)
        })
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject)
          server.listen(p.port, p.host, () => resolve())
        })
        const until = Date.now() + pollWindow(p.recs)
        while (!stop.signal.aborted && Date.now() < until && !table.exhausted()) await sleep(100, stop.signal)
        for (const s of sockets) {
          await flushed(s)
          s.destroy()
        }
        await new Promise<void>((r) => server.close(() => r()))
        summary.answered += table.answered
        summary.unmatched += table.unmatched
        if (!table.exhausted()) summary.unanswered++
      } else {
        const s: Duplex = await openSerial({ path: p.path, baudRate: p.baudRate, dataBits: 8, parity: 'none', stopBits: 1 })
        try {
          if (p.polled) {
            const table = answerTable(
              p.recs.flatMap((r) => r.records),
              p.mbap,
            )
            answerPolls(s, table, p.mbap)
            const until = Date.now() + pollWindow(p.recs)
            while (!stop.signal.aborted && Date.now() < until && !table.exhausted()) await sleep(100, stop.signal)
            summary.answered += table.answered
            summary.unmatched += table.unmatched
            if (!table.exhausted()) summary.unanswered++
          } else {
            for (const rec of p.recs) add(await playStream(rec, s, o))
          }
        } finally {
          await flushed(s)
          await new Promise<void>((r) => {
            s.once('close', () => r())
            s.destroy()
            setTimeout(r, 1_000).unref()
          })
        }
      }
    } catch (err) {
      const what = p.kind === 'listen' || p.kind === 'serial' ? p.recs[0]!.file : p.rec.file
      fail(what, err)
    }
  })
  await Promise.all(runs)
  if (timer) clearTimeout(timer)
  out.write(
    `replayed ${summary.recordings} recording(s): ${summary.sent} records sent${summary.answered > 0 ? `, ${summary.answered} polls answered` : ''}${summary.unanswered > 0 ? `, ${summary.unanswered} not answered as recorded` : ''}${summary.unmatched > 0 ? `, ${summary.unmatched} requests not in the recording` : ''}\n`,
  )
  for (const x of summary.failures) out.write(`  failed: ${x}\n`)
  return { code: summary.failures.length > 0 || summary.unanswered > 0 ? 1 : 0, summary }
}

export async function runReplay(path: string | undefined, values: ReplayFlags): Promise<number> {
  if (!path) {
    process.stderr.write('usage: smartcity replay FILE|DIR [--to host:port | --mqtt URL | --serial PATH | --gateway-config FILE] [--speed X | --fast]\n')
    return 2
  }
  return (await replay(path, values)).code
}
