/**
 * What a new user sees in the log (issue 10 section 6): each key once per line (a child of a child logger
 * repeated `component` and `id`), and a refused payload visible at `info` without reading the dead-letter
 * file: the first per device and reason, then at most one line a minute with the count left out.
 */
import { join } from 'node:path'
import mqtt from 'mqtt'
import { afterAll, describe, expect, it } from 'vitest'
import { refusalLog } from '../../gateway/core/pipeline.ts'
import { tempDir } from '../helpers/env.ts'
import { gatewayFrom, metricValue } from '../helpers/gateway.ts'
import { captureLog, duplicateKeys } from '../helpers/logs.ts'
import { freePort, waitFor } from '../helpers/net.ts'
import type { Reason } from '../../devices/common/reasons.ts'

describe('log lines', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('the duplicate-key check sees what JSON.parse hides', () => {
    const c = captureLog()
    c.log.child({ component: 'source.nmea', id: 'gnss-1' }).child({ component: 'source.nmea', id: 'gnss-1' }).info('x')
    const [line] = c.lines()
    expect(duplicateKeys(line!)).toEqual(['component', 'id'])
    expect(duplicateKeys('{"a":{"b":1,"c":"b:"},"b":[{"b":2}],"d":"\\"a\\":"}')).toEqual([])
  })

  it('sources log each key once: component and id come from the gateway, not again from the source', { timeout: 20_000 }, async () => {
    const c = captureLog('info')
    const gw = gatewayFrom(
      {
        dataDir: join(tmp.dir, 'keys'),
        http: { enabled: false },
        broker: { type: 'embedded', port: 0 },
        sources: [
          { type: 'nmea', id: 'gnss-1', device: 'gnss-1', serial: { path: join(tmp.dir, 'no-such-nmea-tty') } },
          { type: 'dlt645', id: 'meters-1', serial: { path: join(tmp.dir, 'no-such-dlt645-tty') }, meters: [{ address: '1' }] },
          { type: 'modbus-tcp', id: 'mb-1', port: await freePort(), devices: [{ device: 'em-1', unit: 1, profile: 'eastron-sdm630' }] },
        ],
      },
      {},
      { log: c.log },
    )
    await gw.start()
    try {
      const of = (id: string) => c.records().find((r) => r['id'] === id)
      await waitFor(() => of('gnss-1') && of('meters-1') && of('mb-1'), 10_000, 'a log line of each source')
    } finally {
      await gw.stop()
    }
    const lines = c.lines()
    for (const l of lines) expect(duplicateKeys(l), l).toEqual([])
    const recs = c.records()
    expect(recs.find((r) => r['id'] === 'gnss-1')).toMatchObject({ component: 'source.nmea', msg: expect.stringContaining('serial port closed') })
    expect(recs.find((r) => r['id'] === 'meters-1')).toMatchObject({ component: 'source.dlt645', msg: expect.stringContaining('serial port closed') })
    expect(recs.find((r) => r['id'] === 'mb-1')).toMatchObject({ component: 'source.modbus-tcp', msg: 'modbus source started' })
  })

  it('the first refusal per device and reason is one info line with device, reason and detail; a new reason gets its own', { timeout: 20_000 }, async () => {
    const c = captureLog('info')
    const port = await freePort()
    const gw = gatewayFrom({ dataDir: join(tmp.dir, 'refusals'), http: { enabled: false }, broker: { type: 'embedded', port } }, {}, { log: c.log })
    await gw.start()
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 })
    try {
      const topic = 'city/d1/water_quality/wq-1/telemetry'
      // QoS 1: the PUBACK leaves once the refusal is dead-lettered, so all of them are through afterwards.
      await client.publishAsync(topic, '{"ph":"x"}', { qos: 1 })
      await client.publishAsync(topic, '{"ph":"y"}', { qos: 1 })
      await client.publishAsync(topic, '{"ph":', { qos: 1 })
      await client.publishAsync('city/d1/water_quality/wq-2/telemetry', '{"ph":"x"}', { qos: 1 })
      expect(await metricValue(gw, 'smartcity_readings_rejected_total')).toBe(4)
    } finally {
      await client.endAsync()
      await gw.stop()
    }
    const refused = c.records().filter((r) => r['msg'] === 'input refused (counted and dead-lettered)')
    for (const r of refused) expect(r['level']).toBe(30)
    const wrong = refused.filter((r) => r['device'] === 'wq-1' && r['reason'] === 'wrong_type')
    expect(wrong).toHaveLength(1)
    expect(wrong[0]).toMatchObject({ component: 'pipeline', source: 'mqtt', address: 'city/d1/water_quality/wq-1/telemetry', detail: expect.stringContaining('ph') })
    expect(wrong[0]).not.toHaveProperty('suppressed')
    expect(refused.filter((r) => r['device'] === 'wq-1' && r['reason'] === 'malformed_json')).toHaveLength(1)
    expect(refused.filter((r) => r['device'] === 'wq-2' && r['reason'] === 'wrong_type')).toHaveLength(1)
    expect(refused).toHaveLength(3)
  })

  it('after the quiet interval the next refusal logs again with the count left out; the tracked pairs are capped', () => {
    const c = captureLog('info')
    let t = 1_000_000
    const note = refusalLog(c.log, () => t, { everyMs: 60_000, maxKeys: 2, maxDetail: 10 })
    const bad = (device: string, reason: Reason = 'wrong_type') => note({ source: 's', address: 'a', raw: '', reason, detail: 'a detail longer than ten', device })
    bad('d1')
    for (let i = 0; i < 5; i++) bad('d1')
    expect(c.records()).toHaveLength(1)
    expect(c.records()[0]).toMatchObject({ device: 'd1', reason: 'wrong_type', detail: 'a detail l...' })
    t += 60_000
    bad('d1')
    expect(c.records()).toHaveLength(2)
    expect(c.records()[1]).toMatchObject({ device: 'd1', suppressed: 5 })
    // Three pairs with room for two: the least recently logged (d1) is forgotten and logs at once again.
    bad('d2')
    bad('d3')
    expect(c.records()).toHaveLength(4)
    bad('d1')
    expect(c.records()).toHaveLength(5)
    expect(c.records()[4]).toMatchObject({ device: 'd1' })
    expect(c.records()[4]).not.toHaveProperty('suppressed')
    // d3 is still remembered: no line.
    bad('d3')
    expect(c.records()).toHaveLength(5)
  })

  it('input no device can be named for counts against its source: a terminal reconnecting from new ports is one line', () => {
    const c = captureLog('info')
    const note = refusalLog(c.log, () => 0)
    for (let p = 40_000; p < 40_050; p++) note({ source: 'jt808', address: `127.0.0.1:${p}`, raw: 'ff', reason: 'bad_checksum', detail: 'xor 0x12, frame says 0x34' })
    note({ source: 'hj212', address: '127.0.0.1:40000', raw: 'ff', reason: 'bad_checksum' })
    expect(c.records().map((r) => [r['source'], r['address'], r['reason']])).toEqual([
      ['jt808', '127.0.0.1:40000', 'bad_checksum'],
      ['hj212', '127.0.0.1:40000', 'bad_checksum'],
    ])
  })
})
