import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { escapeKey, escapeMeasurement, formatFields, formatTags, parseLine } from '../../gateway/core/line-protocol.ts'
import { joinLines } from '../../gateway/core/spool.ts'
import { parseConfig, parseConfigText } from '../../gateway/config.ts'
import { MqttUplinkSinkConfig, NatsJetStreamSinkConfig } from '../../gateway/sinks/config.ts'
import { createMqttUplinkSink } from '../../gateway/sinks/mqtt-uplink.ts'
import { createNatsJetStreamSink, subjectFilter } from '../../gateway/sinks/nats-jetstream.ts'
import { batchMessages, compileTemplate, createDelivered, MQTT_UNSAFE, NATS_UNSAFE, pointId } from '../../gateway/sinks/uplink.ts'
import { freePort } from '../helpers/net.ts'

const log = pino({ level: 'silent' })

/** A line exactly as the pipeline stages it (gateway/core/pipeline.ts stageInternal). */
const line = (m: string, tags: Record<string, string>, fields: Record<string, number | string | boolean>, t: number) =>
  `${escapeMeasurement(m)}${formatTags(tags)} ${formatFields(m, fields)} ${t}`

describe('line protocol read back (parseLine, the inverse of the spool formatting)', () => {
  it('gives back measurement, tags, typed fields and time, escapes included', () => {
    const tags = { device: 'wq 1,a=b', district: 'xian\\gaoxin', kind: 'water_quality', site: '河边' }
    const fields = { ph: 7.12, gb3838_class: 3, gb3838_factor: 'ammonia "N"\nsecond line \\n', online: true }
    const l = line('water_quality', tags, fields, 1_790_000_000_123)
    // The data model types gb3838_class as an integer: written 3i, read back as the number 3.
    expect(l).toContain('gb3838_class=3i')
    expect(parseLine(l)).toEqual({ measurement: 'water_quality', tags, fields, time: 1_790_000_000_123 })
  })

  it('property: parseLine(format(point)) is the point, whatever the text of tags, keys and strings', () => {
    const text = fc.string({ minLength: 1, maxLength: 12, unit: fc.constantFrom('a', 'Z', '9', ' ', ',', '=', '"', '\\', '\n', 'n', '/', '河', '_') })
    const value = fc.oneof(fc.boolean(), text, fc.double({ noNaN: true, noDefaultInfinity: true }).filter((v) => !Object.is(v, -0)))
    fc.assert(
      fc.property(text, fc.dictionary(text, text, { maxKeys: 5 }), fc.dictionary(text, value, { minKeys: 1, maxKeys: 5 }), fc.nat(), (m, tags, fields, t) => {
        expect(parseLine(line(m, tags, fields, t))).toEqual({ measurement: m, tags, fields, time: t })
      }),
      { numRuns: 300 },
    )
  })

  it('reads a JT/T 808 alarm point and booleans spelled t/f; refuses what is not line protocol', () => {
    expect(parseLine('alarm,device=013912345678,rule=jt808_emergency,severity=critical active=t,value=1,message="SOS" 1790000000000')).toEqual({
      measurement: 'alarm',
      tags: { device: '013912345678', rule: 'jt808_emergency', severity: 'critical' },
      fields: { active: true, value: 1, message: 'SOS' },
      time: 1_790_000_000_000,
    })
    const proto = parseLine('m,__proto__=x __proto__=1 1')
    const key = ['__', 'proto', '__'].join('')
    expect([proto?.tags[key], proto?.fields[key], Object.getPrototypeOf(proto?.fields)]).toEqual(['x', 1, null])
    for (const bad of ['', 'm', 'm v=1', 'm v= 1', 'm,t v=1 1', 'm v="open 1', 'm v=1 12a', 'm v=abc 1']) expect(parseLine(bad), bad).toBeUndefined()
    expect(escapeKey('a b')).toBe('a\\ b')
  })
})

describe('uplink messages (gateway/sinks/uplink.ts)', () => {
  const p = { measurement: 'water_quality', tags: { device: 'wq-1', district: 'd1', kind: 'water_quality' }, fields: { ph: 7.1 }, time: 1_790_000_000_000 }

  it('the id is stable over tag order, differs by series, time and fields', () => {
    const id = pointId(p)
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/)
    expect(pointId({ ...p, tags: { kind: 'water_quality', district: 'd1', device: 'wq-1' } })).toBe(id)
    expect(pointId({ ...p, time: p.time + 1 })).not.toBe(id)
    expect(pointId({ ...p, tags: { ...p.tags, device: 'wq-2' } })).not.toBe(id)
    // Same series and time, other fields: InfluxDB would merge them, so a duplicate filter must keep both.
    expect(pointId({ ...p, fields: { ph: 7.2 } })).not.toBe(id)
    // A string "1" and a number 1 are different field values.
    expect(pointId({ ...p, fields: { ph: '7.1' } })).not.toBe(id)
  })

  it('templates fill tags and the measurement; a missing tag or a value that would add topic levels becomes _', () => {
    const mqttTopic = compileTemplate('city/{district}/{kind}/{device}/{site}/{measurement}', MQTT_UNSAFE)
    expect(mqttTopic({ ...p, tags: { ...p.tags, device: 'a/b+#' } })).toBe('city/d1/water_quality/a_b__/_/water_quality')
    const subject = compileTemplate('city.{district}.{kind}.{device}', NATS_UNSAFE)
    expect(subject({ ...p, tags: { ...p.tags, device: 'bus 1.2*>' } })).toBe('city.d1.water_quality.bus_1_2__')
    expect(subjectFilter('city.{district}.{kind}.{device}')).toBe('city.*.*.*')
  })

  it('a batch becomes one JSON or line message per point, in order, filtered by measurement', () => {
    const lines = [line('water_quality', p.tags, { ph: 7.1 }, 1), line('device_status', { device: 'wq-1' }, { online: true }, 2), line('water_quality', p.tags, { ph: 7.2 }, 3)]
    const address = compileTemplate('city/{district}/{device}', MQTT_UNSAFE)
    const json = batchMessages(joinLines(lines).body, { address, payload: 'json' })
    if (!json.ok) throw new Error('not ok')
    expect(json.messages.map((m) => JSON.parse(m.payload.toString()).time)).toEqual([1, 2, 3])
    expect(JSON.parse(json.messages[0]!.payload.toString())).toEqual({ id: json.messages[0]!.id, measurement: 'water_quality', tags: p.tags, fields: { ph: 7.1 }, time: 1 })
    expect(json.messages[1]!.address).toBe('city/_/wq-1')
    const lp = batchMessages(joinLines(lines).body, { address, payload: 'line', measurements: new Set(['water_quality']) })
    if (!lp.ok) throw new Error('not ok')
    expect(lp.messages.map((m) => m.payload.toString())).toEqual([lines[0], lines[2]])
    expect(batchMessages(joinLines(['water_quality ph=1 1', 'garbage']).body, { address, payload: 'json' })).toEqual({ ok: false, line: 'garbage' })
  })

  it('the delivered set is bounded and forgets the oldest first', () => {
    const d = createDelivered(3)
    for (const id of ['a', 'b', 'c', 'd']) d.add(id)
    expect([d.has('a'), d.has('b'), d.has('d'), d.size]).toEqual([false, true, true, 3])
  })
})

describe('uplink sink configuration', () => {
  it('defaults, and refusals that name the key', () => {
    const m = MqttUplinkSinkConfig.parse({ type: 'mqtt-uplink', url: 'mqtts://central.example:8883' })
    expect(m).toMatchObject({ id: 'mqtt-uplink', topic: 'city/{district}/{kind}/{device}', payload: 'json', batchSize: 500, concurrency: 1 })
    const n = NatsJetStreamSinkConfig.parse({ type: 'nats-jetstream', servers: ['nats://127.0.0.1:4222'], stream: 'CITY' })
    expect(n).toMatchObject({ subject: 'city.{district}.{kind}.{device}', createStream: true, duplicateWindowSec: 120 })
    const bad = parseConfig({
      sinks: [
        { type: 'mqtt-uplink', url: 'http://central:1883', topic: 'city/{devce}' },
        { type: 'nats-jetstream', servers: ['nats://127.0.0.1:4222'], stream: 'a.b', measurements: ['water'] },
        { type: 'nats-jetstream', id: 'n2', servers: ['nats://127.0.0.1:4222'], stream: 'S', subject: 'city.d-{district}.>' },
        { type: 'nats-jetstream', id: 'n3', servers: ['nats://127.0.0.1:4222'], stream: 'S', subject: 'city..{device}' },
      ],
    })
    expect(bad.ok).toBe(false)
    const text = bad.ok ? '' : bad.problems.join('\n')
    expect(text).toMatch(/sinks\[0\]\.url.*mqtt:\/\/ or mqtts:\/\//)
    expect(text).toMatch(/sinks\[0\]\.topic.*unknown placeholder \{devce\}/)
    expect(text).toMatch(/sinks\[1\]\.stream/)
    expect(text).toMatch(/sinks\[1\]\.measurements\[0\]/)
    expect(text).toMatch(/sinks\[2\]\.subject.*whole subject token: "d-\{district\}"/)
    expect(text).toMatch(/sinks\[3\]\.subject.*empty subject token/)
  })
})

describe('gateway.example.yaml: the commented uplink sinks are a valid configuration', () => {
  it('uncommented, they parse with every key the example shows', () => {
    const text = readFileSync(join(import.meta.dirname, '..', '..', 'gateway.example.yaml'), 'utf8').split('\n')
    const from = text.indexOf('  # - type: mqtt-uplink')
    const to = text.findIndex((l, i) => i > from && !l.startsWith('  #'))
    expect(from).toBeGreaterThan(0)
    const block = text.slice(from, to).map((l) => l.slice(4)).filter((l) => /^(- type:| +[A-Za-z]+:)/.test(l)).map((l) => `  ${l}`)
    const r = parseConfigText(`sinks:\n${block.join('\n')}\n`, 'example-uplink.yaml', {}, { UPLINK_PASSWORD: 'p1', NATS_PASSWORD: 'p2' })
    if (!r.ok) throw new Error(r.problems.join('\n'))
    expect(r.config.sinks.map((s) => s.type)).toEqual(['mqtt-uplink', 'nats-jetstream'])
    expect(r.config.sinks[0]).toMatchObject({ url: 'mqtts://mqtt.city.example:8883', measurements: ['water_quality', 'alarm'], tls: { servername: 'mqtt.city.example' } })
    expect(r.config.sinks[1]).toMatchObject({ stream: 'CITY', duplicateWindowSec: 120, password: 'p2' })
  })
})

describe('an unreachable uplink means retry, never rejected; a line that is not line protocol is rejected', () => {
  it('mqtt-uplink and nats-jetstream with nothing listening', async () => {
    const port = await freePort()
    const m = createMqttUplinkSink(MqttUplinkSinkConfig.parse({ type: 'mqtt-uplink', url: `mqtt://127.0.0.1:${port}`, timeoutMs: 1000 }), log)
    const n = createNatsJetStreamSink(NatsJetStreamSinkConfig.parse({ type: 'nats-jetstream', servers: [`nats://127.0.0.1:${port}`], stream: 'S', timeoutMs: 1000 }), log)
    const batch = joinLines(['water_quality,device=a ph=7 1'])
    expect((await m.write(batch)).kind).toBe('retry')
    expect((await n.write(batch)).kind).toBe('retry')
    expect((await m.health()).status).toBe('degraded')
    expect((await m.write(joinLines(['not a line']))).kind).toBe('rejected')
    expect((await n.write(joinLines(['not a line']))).kind).toBe('rejected')
    await m.close()
    await n.close()
  })
})
