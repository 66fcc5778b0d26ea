import { Writable } from 'node:stream'
import pino from 'pino'

/** A pino logger writing to memory: the raw JSON lines as pino wrote them, for tests that read the log. */
export function captureLog(level = 'info'): { log: pino.Logger; lines(): string[]; records(): Record<string, unknown>[] } {
  let text = ''
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString('utf8')
      cb()
    },
  })
  const lines = () => text.split('\n').filter((l) => l.length > 0)
  return { log: pino({ level }, stream), lines, records: () => lines().map((l) => JSON.parse(l) as Record<string, unknown>) }
}

/**
 * Keys that occur twice in one object of a JSON text (`{"component":"a","component":"a"}`). JSON.parse keeps
 * the last one and hides the repeat, so this scans the text: in valid JSON a string followed by `:` is a key.
 */
export function duplicateKeys(json: string): string[] {
  const objects: Set<string>[] = []
  const dups: string[] = []
  for (let i = 0; i < json.length; i++) {
    const c = json[i]
    if (c === '{') objects.push(new Set())
    else if (c === '}') objects.pop()
    else if (c === '"') {
      let j = i + 1
      while (j < json.length && json[j] !== '"') j += json[j] === '\\' ? 2 : 1
      let k = j + 1
      while (json[k] === ' ') k++
      const top = objects.at(-1)
      if (json[k] === ':' && top) {
        const key = JSON.parse(json.slice(i, j + 1)) as string
        if (top.has(key)) dups.push(key)
        top.add(key)
      }
      i = j
    }
  }
  return dups
}
