/**
 * The house rules (docs/style.md section 2): every kind folder is listed and has a README, a schema and tests;
 * imports run devices <- gateway, devices <- simulators, and only cli/ composes gateway with simulators.
 * One exception: simulators/ may import gateway/transports/ (how bytes move is the same on both sides of the
 * wire), so gateway/transports/ itself imports nothing else of gateway/ (nor simulators/, cli/).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { deviceKinds } from '../../devices/index.ts'
import { importsOf as imports, ROOT, tsFiles as files } from '../helpers/imports.ts'

describe('the house', () => {
  const kindFolders = readdirSync(join(ROOT, 'devices')).filter((e) => e !== 'common' && statSync(join(ROOT, 'devices', e)).isDirectory())

  it('lists every device kind folder in devices/index.ts', () => {
    expect(deviceKinds.map((k) => k.folder).sort()).toEqual(kindFolders.sort())
  })

  for (const folder of kindFolders) {
    it(`devices/${folder} has a README, a schema and tests`, () => {
      expect(existsSync(join(ROOT, 'devices', folder, 'README.md'))).toBe(true)
      expect(existsSync(join(ROOT, 'devices', folder, 'schema.ts'))).toBe(true)
      const tests = existsSync(join(ROOT, 'test', 'devices', folder)) ? readdirSync(join(ROOT, 'test', 'devices', folder)).filter((f) => f.endsWith('.test.ts')) : []
      expect(tests.length).toBeGreaterThan(0)
    })
  }

  const under = (i: string, d: string) => i === d || i.startsWith(`${d}/`)
  // [folder, forbidden folders, allowed exceptions inside those]
  const rules: [string, string[], string[]][] = [
    ['devices', ['gateway', 'simulators', 'cli', 'dashboards'], []],
    ['gateway', ['simulators', 'cli'], []],
    ['simulators', ['gateway', 'cli'], ['gateway/transports']],
    ['gateway/transports', ['gateway', 'simulators', 'cli'], ['gateway/transports']],
  ]
  for (const [dir, forbidden, allowed] of rules) {
    it(`${dir}/ imports nothing from ${forbidden.join(', ')}${allowed.length ? ` (except ${allowed.join(', ')})` : ''}`, () => {
      const bad: string[] = []
      for (const f of files(dir))
        for (const i of imports(f)) if (forbidden.some((d) => under(i, d)) && !allowed.some((a) => under(i, a))) bad.push(`${f} -> ${i}`)
      expect(bad).toEqual([])
    })
  }

  it('has no focused tests', () => {
    const focused = files('test').filter((f) => /\b(it|test|describe)\.only\(/.test(readFileSync(join(ROOT, f), 'utf8')) && !f.endsWith('house.test.ts'))
    expect(focused).toEqual([])
  })
})
