/**
 * `smartcity decode <format> FILE`: one JSON object per input line, `{"ok": true, "frame", "points"}` or
 * `{"ok": false, "error"}`. Blank lines and `#` comments are skipped. FILE `-` reads standard input.
 */
import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import type { DecodeLineResult, LineDecoder } from '../devices/common/kind.ts'
import { etcRsuLineDecoder } from '../devices/etc/index.ts'
import { isRsuProfileChoice, RSU_PROFILE_CHOICES } from '../devices/etc/rsu/index.ts'
import { lineDecoders } from '../devices/index.ts'
import { parseTopic, validationReason } from '../gateway/sources/mqtt.ts'

/**
 * `mqtt`: each line is `<topic> <payload>`, decoded as the gateway's MQTT source does (its topic parser):
 * telemetry and event JSON give points; a presence message (`.../status online|offline`) is a valid
 * message with nothing to store.
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
    const { district, device, channel, kind } = t
    if (!kind) return { ok: false, error: `unknown_kind: ${t.kindName}` }
    const text = line.slice(sp + 1)
    const frame = { topic, district, kind: kind.kind, device, channel }
    if (channel === 'status') {
      const s = text.trim().toLowerCase()
      if (s !== 'online' && s !== 'offline') return { ok: false, error: 'bad_status: status payload must be online or offline' }
      return { ok: true, frame: { ...frame, payload: s }, points: [] }
    }
    const decoder = channel === 'event' ? kind.event : channel === 'telemetry' ? kind : undefined
    if (!decoder) return { ok: false, error: `bad_topic: no ${channel} messages for ${kind.kind}` }
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch (err) {
      return { ok: false, error: `malformed_json: ${(err as Error).message}` }
    }
    const items = Array.isArray(json) ? json : [json]
    const points = []
    for (const item of items) {
      const r = decoder.schema.safeParse(item)
      if (!r.success) {
        const v = validationReason(r.error)
        return { ok: false, error: `${v.reason}: ${v.detail}` }
      }
      for (const p of decoder.toPoints(r.data, ctx)) {
        p.tags = { device, kind: kind.kind, district, protocol: 'mqtt', ...p.tags }
        points.push(p)
      }
    }
    return { ok: true, frame: { ...frame, payload: json }, points }
  },
}

export function decoders(): LineDecoder[] {
  return [mqttLineDecoder, ...lineDecoders()]
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
  const dec = opts.profile !== undefined && isRsuProfileChoice(opts.profile) ? etcRsuLineDecoder(opts.profile) : decoders().find((d) => d.format === format)
  if (!dec) {
    process.stderr.write(`unknown format ${format}; formats: ${decoders().map((d) => d.format).join(', ')}\n`)
    return 2
  }
  const input = file === '-' ? process.stdin : createReadStream(file)
  const decodeLine = dec.session ? dec.session() : dec.decodeLine.bind(dec)
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
      if (!r.ok) failed++
      out.write(`${JSON.stringify(r)}\n`)
    })
    rl.on('close', () => resolve())
  })
  return failed > 0 ? 1 : 0
}
