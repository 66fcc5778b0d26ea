/**
 * docs/data-model.md is the contract with users' queries and dashboards; devices/common/measurements.ts is
 * the table the code writes by. Every measurement, tag and field the code can write must be documented.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { MEASUREMENTS } from '../../devices/common/measurements.ts'

const DOC = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'data-model.md'), 'utf8')
const documented = new Set([...DOC.matchAll(/`([a-z0-9_]+)`/g)].map((m) => m[1]))

describe('docs/data-model.md documents every name the gateway writes', () => {
  for (const [measurement, spec] of Object.entries(MEASUREMENTS)) {
    it(measurement, () => {
      const names = [measurement, ...spec.tags, ...Object.keys(spec.fields)]
      expect(names.filter((n) => !documented.has(n))).toEqual([])
      expect(DOC).toContain(`### \`${measurement}\``)
    })
  }
})
