import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const WEB = join(import.meta.dirname, '..', '..', 'dashboards', 'web')
const zh = JSON.parse(readFileSync(join(WEB, 'i18n', 'zh-CN.json'), 'utf8')) as Record<string, string>
const en = JSON.parse(readFileSync(join(WEB, 'i18n', 'en.json'), 'utf8')) as Record<string, string>
const sources = readdirSync(WEB)
  .filter((f) => f.endsWith('.js') || f.endsWith('.html'))
  .map((f) => readFileSync(join(WEB, f), 'utf8'))
  .join('\n')

describe('the page catalogues (dashboards/web/i18n)', () => {
  it('zh-CN and en have the same keys, none empty', () => {
    expect(Object.keys(en).sort()).toEqual(Object.keys(zh).sort())
    for (const [k, v] of [...Object.entries(zh), ...Object.entries(en)]) expect(v, k).not.toBe('')
  })

  it('every fixed key the page uses is in the catalogue (t("…") and data-i18n*="…")', () => {
    const used = new Set<string>()
    for (const m of sources.matchAll(/\bt\('([A-Za-z0-9_.-]+)'/g)) used.add(m[1]!)
    for (const m of sources.matchAll(/data-i18n(?:-title|-placeholder|-aria)?="([^"]+)"/g)) used.add(m[1]!)
    expect(used.size).toBeGreaterThan(60)
    expect([...used].filter((k) => !(k in zh))).toEqual([])
  })

  it('placeholders match between the languages', () => {
    const vars = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort()
    for (const k of Object.keys(zh)) expect(vars(en[k]!), k).toEqual(vars(zh[k]!))
  })

  it('writes GB 3838 classes and fees as Chinese operators do', () => {
    expect([1, 2, 3, 4, 5, 6].map((c) => zh[`gb.class${c}`])).toEqual(['I类', 'II类', 'III类', 'IV类', 'V类', '劣V类'])
    expect(zh['factor.ammonia_nitrogen_mg_l']).toBe('氨氮')
  })

  it('the English catalogue has no CJK text except the language switch back to 中文', () => {
    const cjk = Object.entries(en).filter(([k, v]) => /[\u3400-\u9fff]/.test(v) && k !== 'app.otherLang')
    expect(cjk).toEqual([])
  })
})

describe('the catalogue knows every value the gateway writes that the page shows', () => {
  it('every ETC result of the lane controller (gateway/sources/etc-rsu/results.ts) has a name in both languages', async () => {
    const { ETC_RESULTS } = await import('../../gateway/sources/etc-rsu/results.ts')
    expect(ETC_RESULTS.filter((r) => !zh[`etc.result.${r}`] || !en[`etc.result.${r}`])).toEqual([])
  })
})

describe('rule and event names', () => {
  it('every elevator event and every JT/T 808 alarm bit rule has a name in both languages', async () => {
    const { ELEVATOR_EVENTS } = await import('../../devices/elevator/schema.ts')
    const { JT808_ALARMS } = await import('../../devices/position/jt808/readings.ts')
    const keys = [...ELEVATOR_EVENTS.flatMap((e) => [`event.${e}`, `rule.elevator_${e}`]), ...Object.values(JT808_ALARMS).map((a) => `rule.${a.rule.startsWith('jt808_') ? a.rule : `jt808_${a.rule}`}`)]
    expect(keys.filter((k) => !zh[k] || !en[k])).toEqual([])
  })
})
