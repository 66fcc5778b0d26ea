/**
 * Problems of a YAML file validated with zod, as a person reads them: `FILE:LINE: key.path: message`, an
 * unknown key with the nearest known one ("did you mean ..."). Shared by the gateway configuration
 * (gateway/config.ts) and `smartcity simulate` scenarios (cli/simulate/scenario.ts).
 */
import { type Document, isMap, isScalar, isSeq, type LineCounter } from 'yaml'
import type { z } from 'zod'

/** A key path as the problems print it: `sinks[0].url`, `(root)` for the document itself. */
export function keyPath(path: readonly PropertyKey[]): string {
  let s = ''
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${String(p)}` : String(p)
  return s || '(root)'
}

/** The YAML node at `path` in `root` (keys compared as text), or undefined. */
export function nodeAt(root: unknown, path: readonly PropertyKey[]): { node: unknown; key?: unknown } | undefined {
  let node: unknown = root
  let key: unknown
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(seg))
      if (!pair) return undefined
      key = pair.key
      node = pair.value
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg]
      key = undefined
      if (node === undefined) return undefined
    } else return undefined
  }
  return { node, key }
}

/** The line a YAML node starts on. */
export function lineOf(lines: LineCounter, node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null)?.range
  return range ? lines.linePos(range[0]).line : undefined
}

/**
 * The line of `path` (and `key` under it) in the document: a key the file names, its line; one it leaves out,
 * the line of the nearest mapping above it that the file has.
 */
export function lineAt(doc: Document.Parsed, lines: LineCounter, path: readonly PropertyKey[], key?: string): number | undefined {
  const full = key === undefined ? path : [...path, key]
  for (let n = full.length; n >= 0; n--) {
    const at = nodeAt(doc.contents, full.slice(0, n))
    if (!at) continue
    const line = lineOf(lines, n === full.length && key !== undefined ? at.key : (at.node ?? at.key))
    if (line !== undefined) return line
  }
  return undefined
}

/** Edit distance (optimal string alignment: a swap of two neighbours counts one), case-insensitive. */
function distance(a0: string, b0: string): number {
  const a = a0.toLowerCase()
  const b = b0.toLowerCase()
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      row[j] = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1)
    }
  }
  return d[a.length]![b.length]!
}

/** The known key nearest to `key`, when it is near enough to be a typo of it. */
export function nearestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined
  let bestD = Number.POSITIVE_INFINITY
  for (const k of known) {
    const d = distance(key, k)
    if (d < bestD) {
      best = k
      bestD = d
    }
  }
  return best !== undefined && bestD <= Math.max(1, Math.min(3, Math.floor(key.length / 3))) ? best : undefined
}

/**
 * The keys each object schema knows, by key path, gathered while zod validates (pass `error` as safeParse's
 * error map): an unknown key's problem can then name the nearest known one.
 */
export function knownKeys(): { known: Map<string, string[]>; error: (iss: { code?: string; path?: PropertyKey[]; inst?: unknown }) => undefined } {
  const known = new Map<string, string[]>()
  return {
    known,
    error: (iss) => {
      if (iss.code === 'unrecognized_keys') {
        const shape = (iss.inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod?.def?.shape
        if (shape) known.set(keyPath(iss.path ?? []), Object.keys(shape))
      }
      return undefined
    },
  }
}

/** One line per zod issue (one per unknown key), each led by `where(path, key?)`. */
export function issueProblems(issues: readonly z.core.$ZodIssue[], known: ReadonlyMap<string, string[]>, where: (path: readonly PropertyKey[], key?: string) => string, skip?: ReadonlySet<string>): string[] {
  const problems: string[] = []
  for (const issue of issues) {
    if (skip?.has(keyPath(issue.path))) continue
    if (issue.code === 'unrecognized_keys') {
      const keys = known.get(keyPath(issue.path)) ?? []
      for (const k of issue.keys) {
        const near = nearestKey(k, keys)
        problems.push(`${where(issue.path, k)}: unknown key; ${near ? `did you mean "${near}"?` : `known keys: ${keys.join(', ')}`}`)
      }
    } else problems.push(`${where(issue.path)}: ${issue.message}`)
  }
  return problems
}
