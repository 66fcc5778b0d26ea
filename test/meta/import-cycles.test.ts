/**
 * No import circles inside gateway/ (issue 11): a circle makes the order modules initialise in depend on
 * which one is imported first, and says two parts each need the other. The graph is read from the import
 * and export statements themselves (type-only imports included: they are a dependency too).
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { importsOf, ROOT, tsFiles as files } from '../helpers/imports.ts'

/** Every circle of the graph, one per strongly connected component, as a path that returns to its start. */
export function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0
  const idx = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const on = new Set<string>()
  const found: string[][] = []
  const visit = (v: string): void => {
    idx.set(v, index)
    low.set(v, index++)
    stack.push(v)
    on.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue
      if (!idx.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!))
    }
    if (low.get(v) !== idx.get(v)) return
    const scc: string[] = []
    for (;;) {
      const w = stack.pop()!
      on.delete(w)
      scc.push(w)
      if (w === v) break
    }
    const self = (graph.get(v) ?? []).includes(v)
    if (scc.length > 1 || self) found.push(pathIn(graph, new Set(scc), v))
  }
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) visit(v)
  return found
}

/** A shortest circle through `start` inside one component (breadth first), for a readable message. */
function pathIn(graph: Map<string, string[]>, scc: Set<string>, start: string): string[] {
  const prev = new Map<string, string>()
  const queue = [start]
  while (queue.length > 0) {
    const v = queue.shift()!
    for (const w of graph.get(v) ?? []) {
      if (!scc.has(w)) continue
      if (w === start) {
        const path = [start]
        for (let x = v; x !== start; x = prev.get(x)!) path.splice(1, 0, x)
        return [...path, start]
      }
      if (!prev.has(w)) {
        prev.set(w, v)
        queue.push(w)
      }
    }
  }
  return [start, start]
}

describe('import circles', () => {
  it('finds a circle, a self-import and none where there is none (the checker itself)', () => {
    const g = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a', 'd']],
      ['d', []],
      ['e', ['e']],
    ])
    expect(cycles(g)).toEqual([['a', 'b', 'c', 'a'], ['e', 'e']])
    expect(cycles(new Map([['a', ['b']], ['b', []]]))).toEqual([])
    expect(importsOf('gateway/x.ts', "import type { A } from './a.ts'\nimport './side.ts'\nexport { B } from './b/index.ts'\n// import { C } from './c.ts'\nconst m = await import('./d.ts')\nimport {\n  E,\n} from '../e.ts'\nimport { z } from 'zod'")).toEqual([
      'gateway/a.ts',
      'gateway/side.ts',
      'gateway/b/index.ts',
      'gateway/d.ts',
      'e.ts',
    ])
  })

  it('gateway/ has none', () => {
    const all = files('gateway')
    const graph = new Map(all.map((f) => [f, importsOf(f).filter((i) => existsSync(join(ROOT, i)))]))
    expect(graph.get('gateway/config.ts')).toContain('gateway/sources/index.ts')
    expect(cycles(graph).map((c) => c.join(' -> '))).toEqual([])
  })
})
