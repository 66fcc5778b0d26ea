/**
 * `smartcity decode <format> FILE`: one JSON object per input line, `{"ok": true, "frame", "points", "refused"?}` or
 * `{"ok": false, "error"}`; the exit code is 1 when any line or reading was refused. Blank lines and `#` comments are skipped. FILE `-` reads standard input.
 */
import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { codecLineDecoder, decodeFrameWith, type DerivePoints, flushWith } from '../devices/common/codec-lines.ts'
import type { DecodeLineResult, DecodeSession, LineDecoder, ProtocolCodec, RefusedItem } from '../devices/common/kind.ts'
import { createMbapFramer } from '../devices/common/modbus/mbap.ts'
import { encodeRtu } from '../devices/common/modbus/rtu.ts'
import { channelReadingType, parseTopic } from '../devices/common/mqtt-topic.ts'
import { normalizeJson, type Refusal } from '../devices/common/normalize.ts'
import type { Point } from '../devices/common/point.ts'
import { etcRsuCodec, isRsuProfileChoice, RSU_PROFILE_CHOICES } from '../devices/etc/rsu/index.ts'
import { deviceKind, deviceKinds, lineDecoders } from '../devices/index.ts'
import { createJt808AlarmProcessor } from '../gateway/processors/jt808-alarms.ts'
import { type Recording, readRecordings } from './replay/recording.ts'

/**
 * `mqtt`: each line is `<topic> <payload>`, decoded exactly as the gateway does (devices/common/mqtt-topic.ts,
 * then devices/common/normalize.ts `normalizeJson`): telemetry and event JSON give points, item by item (an
 * array with a bad item is `ok: true` with the good items' points and `refused: [{ index, reason, detail }]`,
 * the gateway's answer); a presence message (`.../status online|offline`) is a valid message with nothing
 * to store.
 */
export const mqttLineDecoder: LineDecoder = {
  format: 'mqtt',
  protocol: 'mqtt',
  description: 'JSON over MQTT: each line is "<topic> <payload>"',
  decodeLine(line, ctx): DecodeLineResult {
    const sp = line.indexOf(' ')
    if (sp < 0) return { ok: false, error: 'bad_topic: expected "<topic> <payload>"' }
    const topic = line.slice(0, sp)
    const t = parseTopic(topic)
    if (typeof t === 'string') return { ok: false, error: `bad_topic: ${t}` }
    const { district, device, channel } = t
    const kind = deviceKind(t.kindName)
    if (!kind) return { ok: false, error: `unknown_kind: ${t.kindName}` }
    const text = line.slice(sp + 1)
    const frame = { topic, district, kind: kind.kind, device, channel }
    if (channel === 'status') {
      const s = text.trim().toLowerCase()
      if (s !== 'online' && s !== 'offline') return { ok: false, error: 'bad_status: status payload must be online or offline' }
      return { ok: true, frame: { ...frame, payload: s }, points: [] }
    }
    const rt = channelReadingType(kind, channel)
    if (typeof rt === 'string') return { ok: false, error: `bad_topic: no ${channel} messages for ${kind.kind}` }
    const found: Point[] = []
    const refusals: Refusal[] = []
    normalizeJson(kind, rt.type, Buffer.from(text, 'utf8'), ctx, found, refusals)
    // The payload itself refused (malformed, too deep, or the one object invalid): an error line.
    const whole = refusals.find((r) => r.raw === undefined)
    if (whole) return { ok: false, error: `${whole.reason}: ${whole.detail}` }
    const points = found.map((p): Point => {
      // The fast path's pre-formatted field set is the gateway's business, not decode's output.
      const { fieldsLine: _f, ...q } = p
      return { ...q, tags: { device, kind: kind.kind, district, protocol: 'mqtt', ...p.tags } }
    })
    const out: DecodeLineResult = { ok: true, frame: { ...frame, payload: JSON.parse(text) as unknown }, points }
    if (refusals.length > 0) out.refused = refusals.map((r): RefusedItem => ({ index: r.index, reason: r.reason, detail: r.detail }))
    return out
  },
}

/**
 * Every format: JSON over MQTT, the kinds' protocol codecs through the generic runner
 * (devices/common/codec-lines.ts), and, until issue 11 phase 2 replaces them, the kinds' older LineDecoders
 * (a codec's format wins over a LineDecoder of the same name).
 */
export function decoders(): LineDecoder[] {
  const codecs = deviceKinds.flatMap((k) => k.codecs ?? []).map((c) => codecLineDecoder(c, deviceKind, DERIVE[c.format]))
  const taken = new Set(codecs.map((c) => c.format))
  return [mqttLineDecoder, ...codecs, ...lineDecoders().filter((d) => !taken.has(d.format))]
}

/**
 * The gateway's processors that derive points from a protocol's readings, run by decode per file exactly as
 * the pipeline runs them per device: JT/T 808 alarm bits (`alarm_flags`) -> `alarm` points
 * (gateway/processors/jt808-alarms.ts; without publish or store, so decode does no I/O).
 */
const DERIVE: Readonly<Record<string, () => DerivePoints>> = {
  jt808: () => {
    const p = createJt808AlarmProcessor({})
    return (device, kind, points) => p.process({ source: 'decode', protocol: 'jt808', device, kind, points, district: '' })
  },
}

export interface DecodeOptions {
  /** `--profile`: the etc-rsu frame layouts (classic, 2019, auto). */
  profile?: string
}

export async function runDecode(format: string, file: string, out: NodeJS.WritableStream = process.stdout, opts: DecodeOptions = {}): Promise<number> {
  if (opts.profile !== undefined && (format !== 'etc-rsu' || !isRsuProfileChoice(opts.profile))) {
    process.stderr.write(format !== 'etc-rsu' ? `--profile is for etc-rsu, not ${format}\n` : `unknown etc-rsu profile ${opts.profile}; profiles: ${RSU_PROFILE_CHOICES.join(', ')}\n`)
    return 2
  }
  const dec = opts.profile !== undefined && isRsuProfileChoice(opts.profile) ? codecLineDecoder(etcRsuCodec(opts.profile), deviceKind) : decoders().find((d) => d.format === format)
  if (!dec) {
    process.stderr.write(`unknown format ${format}; formats: ${decoders().map((d) => d.format).join(', ')}\n`)
    return 2
  }
  const input = file === '-' ? process.stdin : createReadStream(file)
  const decodeLine: DecodeSession = dec.session ? dec.session() : dec.decodeLine.bind(dec)
  // `smartcity decode ... | head` closes our stdout early: stop quietly instead of dying on EPIPE.
  let closed = false
  out.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err
    closed = true
    input.destroy()
  })
  let failed = 0
  await new Promise<void>((resolve, reject) => {
    input.on('error', reject)
    const rl = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })
    rl.on('line', (raw) => {
      if (closed) return
      const line = raw.replace(/\r$/, '')
      // `#` starts a comment line, but `##` starts an HJ 212 packet.
      const t = line.trimStart()
      if (t === '' || (t.startsWith('#') && !t.startsWith('##'))) return
      let r: DecodeLineResult
      try {
        r = decodeLine(line, { receivedAt: Date.now() })
      } catch (err) {
        // A decoder must never throw; if one does, say so instead of dying mid-file.
        r = { ok: false, error: `decoder_bug: ${(err as Error).message}` }
      }
      if (!r.ok || (r.refused !== undefined && r.refused.length > 0)) failed++
      out.write(`${JSON.stringify(r)}\n`)
    })
    rl.on('close', () => {
      // A codec that holds readings until a later frame (an NMEA epoch) gives them at the end of the file.
      const r = closed ? undefined : decodeLine.end?.({ receivedAt: Date.now() })
      if (r !== undefined) {
        if (!r.ok || (r.refused !== undefined && r.refused.length > 0)) failed++
        out.write(`${JSON.stringify(r)}\n`)
      }
      resolve()
    })
  })
  return failed > 0 ? 1 : 0
}

// --- recordings (issue 12 item 6): `smartcity decode FILE.jsonl|DIR` ---

/** The decode format of a recorded source type. */
const RECORDED_FORMAT: Readonly<Record<string, string>> = {
  mqtt: 'mqtt',
  jt808: 'jt808',
  hj212: 'hj212',
  nmea: 'nmea',
  dlt645: 'dlt645',
  'etc-rsu': 'etc-rsu',
  'modbus-rtu': 'modbus-rtu',
  'modbus-rtu-over-tcp': 'modbus-rtu',
  'modbus-tcp': 'modbus-rtu',
}

/** Polled protocols: the gateway's requests (`out`) are frames of the capture too (a response is read in the light of its request). */
const POLLED = new Set(['dlt645', 'modbus-rtu', 'modbus-rtu-over-tcp', 'modbus-tcp'])

type Printed = DecodeLineResult & { t: number; dir: 'in' | 'out'; source: string }

/**
 * Decode one recording with its source type's codec, as the gateway did: the `in` bytes through the codec's
 * framer (one framer and state per connection), the requests of polled protocols as whole frames (each is
 * one write), Modbus TCP as the RTU frames of the same units and PDUs. Each reading's time is the recorded
 * time of the bytes that carried it, unless the frame states its own (then that, as the gateway stores it).
 */
export function decodeRecording(rec: Recording, emit: (r: Printed) => void): void {
  const h = rec.header
  const format = RECORDED_FORMAT[h.type]
  const at = (t: number, dir: 'in' | 'out', r: DecodeLineResult) => emit({ t, dir, source: h.source, ...r })
  if (format === 'mqtt') {
    for (const r of rec.records) if (r.dir === 'in' && r.topic !== undefined) at(r.t, 'in', mqttLineDecoder.decodeLine(`${r.topic} ${r.bytes.toString('utf8')}`, { receivedAt: r.t }))
    return
  }
  const codec = deviceKinds.flatMap((k) => k.codecs ?? []).find((c) => c.format === format) as ProtocolCodec<unknown, unknown, unknown> | undefined
  if (!codec) {
    emit({ t: rec.records[0]?.t ?? 0, dir: 'in', source: h.source, ok: false, error: `no codec for recorded source type ${h.type}` })
    return
  }
  const state = codec.newState()
  const derive = DERIVE[format ?? '']?.()
  const frame = (t: number, dir: 'in' | 'out', f: unknown) => {
    let r: DecodeLineResult
    try {
      r = decodeFrameWith(codec, state, deviceKind, f, { receivedAt: t }, derive)
    } catch (err) {
      r = { ok: false, error: `decoder_bug: ${(err as Error).message}` }
    }
    at(t, dir, r)
  }
  const asLine = (t: number, dir: 'in' | 'out', bytes: Buffer) => {
    const f = codec.parseLine(bytes.toString('hex'))
    if (!f.ok) at(t, dir, { ok: false, error: errorOf(f) })
    else frame(t, dir, f.value)
  }
  if (h.type === 'modbus-tcp') {
    const framers = { in: createMbapFramer(), out: createMbapFramer() }
    for (const r of rec.records) {
      for (const ev of framers[r.dir].push(r.bytes)) {
        if (!ev.ok) at(r.t, r.dir, { ok: false, error: errorOf(ev) })
        else asLine(r.t, r.dir, encodeRtu(ev.frame.unit, ev.frame.pdu))
      }
    }
    return
  }
  const framer = codec.framer()
  const polled = POLLED.has(h.type)
  let last = rec.records[0]?.t ?? 0
  for (const r of rec.records) {
    last = r.t
    if (r.dir === 'out') {
      if (polled) asLine(r.t, 'out', r.bytes)
      continue
    }
    for (const ev of framer.push(r.bytes)) {
      if (!ev.ok) at(r.t, 'in', { ok: false, error: errorOf(ev) })
      else frame(r.t, 'in', ev.frame)
    }
  }
  const end = flushWith(codec, state, deviceKind, { receivedAt: last }, derive)
  if (end) at(last, 'in', end)
}

const errorOf = (e: { reason: string; detail?: string | undefined }) => (e.detail ? `${e.reason}: ${e.detail}` : e.reason)

/** `smartcity decode FILE.jsonl|DIR`: every recording's frames, one JSON object per line; exit 1 if any was refused. */
export function runDecodeRecording(path: string, out: NodeJS.WritableStream = process.stdout): number {
  let recs: Recording[]
  try {
    recs = readRecordings(path)
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`)
    return 2
  }
  let failed = 0
  for (const rec of recs) {
    decodeRecording(rec, (r) => {
      if (!r.ok || (r.refused !== undefined && r.refused.length > 0)) failed++
      out.write(`${JSON.stringify(r)}\n`)
    })
  }
  return failed > 0 ? 1 : 0
}
// --- end recordings ---
