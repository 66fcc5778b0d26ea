/**
 * `smartcity decode <format> FILE`: one JSON object per input line, `{"ok": true, "frame", "points", "refused"?}` or
 * `{"ok": false, "error"}`; the exit code is 1 when any line or reading was refused. Blank lines and `#` comments are skipped. FILE `-` reads standard input.
 */
import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { codecLineDecoder, type DerivePoints } from '../devices/common/codec-lines.ts'
import type { DecodeLineResult, DecodeSession, LineDecoder, RefusedItem } from '../devices/common/kind.ts'
import { channelReadingType, parseTopic } from '../devices/common/mqtt-topic.ts'
import { normalizeJson, type Refusal } from '../devices/common/normalize.ts'
import type { Point } from '../devices/common/point.ts'
import { etcRsuCodec, isRsuProfileChoice, RSU_PROFILE_CHOICES } from '../devices/etc/rsu/index.ts'
import { deviceKind, deviceKinds, lineDecoders } from '../devices/index.ts'
import { createJt808AlarmProcessor } from '../gateway/processors/jt808-alarms.ts'

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
