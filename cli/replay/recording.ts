/**
 * Reading recordings (gateway/core/recorder.ts writes them): a file's header and records, the files of a
 * directory, and the parts of one connection joined back in order.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { RECORDING_FORMAT, type RecordingHeader, type RecordingLine } from '../../gateway/core/recorder.ts'

export type { RecordingHeader, RecordingLine }

/** One record with its payload as bytes (`hex`, `text` or `b64`). */
export interface RecordItem {
  t: number
  dir: 'in' | 'out'
  bytes: Buffer
  topic?: string
  qos?: number
}

export interface Recording {
  file: string
  header: RecordingHeader
  records: RecordItem[]
}

/** The header of the first line when it is a recording's, else undefined. */
export function recordingHeader(firstLine: string): RecordingHeader | undefined {
  try {
    const h = JSON.parse(firstLine) as Partial<RecordingHeader>
    return h && h.format === RECORDING_FORMAT ? (h as RecordingHeader) : undefined
  } catch {
    return undefined
  }
}

/** Whether a file starts with a recording header. */
export function isRecording(file: string): boolean {
  try {
    const text = readFileSync(file, 'utf8')
    const nl = text.indexOf('\n')
    return recordingHeader(nl < 0 ? text : text.slice(0, nl)) !== undefined
  } catch {
    return false
  }
}

/** Read one file; throws with the file and line on a line that is not a record (a crash cuts only the last one, which is skipped). */
export function readRecording(file: string): Recording {
  const lines = readFileSync(file, 'utf8').split('\n')
  const header = recordingHeader(lines[0] ?? '')
  if (!header) throw new Error(`${file}: not a recording (the first line is not a ${RECORDING_FORMAT} header)`)
  if (header.version !== 1) throw new Error(`${file}: recording version ${String(header.version)}; this smartcity reads version 1`)
  const records: RecordItem[] = []
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!
    if (line.trim() === '') continue
    let r: RecordingLine
    try {
      r = JSON.parse(line) as RecordingLine
    } catch {
      // A line cut short by a crash can only be the last one.
      if (i >= lines.length - 2) break
      throw new Error(`${file}:${i + 1}: not a JSON record`)
    }
    const bytes = 'hex' in r ? Buffer.from(r.hex, 'hex') : 'text' in r ? Buffer.from(r.text, 'utf8') : 'b64' in r ? Buffer.from(r.b64, 'base64') : undefined
    if (!bytes || typeof r.t !== 'number' || (r.dir !== 'in' && r.dir !== 'out')) throw new Error(`${file}:${i + 1}: a record needs t, dir and hex, text or b64`)
    const item: RecordItem = { t: r.t, dir: r.dir, bytes }
    if ('topic' in r) {
      item.topic = r.topic
      item.qos = r.qos
    }
    records.push(item)
  }
  return { file, header, records }
}

/** Every recording file under a directory (recursively) or the one file given. */
export function recordingFiles(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path]
  const out: string[] = []
  for (const e of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, e.name)
    if (e.isDirectory()) out.push(...recordingFiles(p))
    else if (e.name.endsWith('.jsonl') && isRecording(p)) out.push(p)
  }
  return out.sort()
}

/** The recordings of a file or directory, parts of one connection joined (header of part 1, records in order). */
export function readRecordings(path: string): Recording[] {
  const byConn = new Map<string, Recording[]>()
  for (const f of recordingFiles(path)) {
    const r = readRecording(f)
    const key = `${r.header.source}\u0000${r.header.started}\u0000${r.header.connection}`
    const list = byConn.get(key) ?? []
    list.push(r)
    byConn.set(key, list)
  }
  const out: Recording[] = []
  for (const parts of byConn.values()) {
    parts.sort((a, b) => a.header.part - b.header.part)
    const first = parts[0]!
    out.push({ file: first.file, header: first.header, records: parts.flatMap((p) => p.records) })
  }
  return out.sort((a, b) => (a.records[0]?.t ?? 0) - (b.records[0]?.t ?? 0))
}
