import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../gateway/config.ts'
import { subjectToTopic } from '../../gateway/sources/nats-jetstream/index.ts'

describe('nats-jetstream source', () => {
  it("reads a subject back as the MQTT topic NATS's MQTT listener made it from (levels by '.', a '.' in a level as '//')", () => {
    // https://docs.nats.io/running-a-nats-service/configuration/mqtt/mqtt_config: topic/subject mapping.
    expect(subjectToTopic('city.d1.water_quality.wq-1.telemetry')).toBe('city/d1/water_quality/wq-1/telemetry')
    expect(subjectToTopic('city.d1.energy_meter.em//2.telemetry')).toBe('city/d1/energy_meter/em.2/telemetry')
  })

  it('defaults to a replicated work-queue stream CITY on city.> and one shared durable; refuses a bad server URL', () => {
    const ok = parseConfig({ sources: [{ type: 'nats-jetstream', servers: ['nats://127.0.0.1:4222'] }] })
    expect(ok.ok).toBe(true)
    if (ok.ok) expect(ok.config.sources[0]).toMatchObject({ type: 'nats-jetstream', stream: 'CITY', subjects: ['city.>'], replicas: 3, durable: 'smartcity-gateway', ackWaitSec: 30, create: true })
    // NATS's own QoS 1 stream, with its subject prefix dropped (docs/scale-out.md).
    const own = parseConfig({ sources: [{ type: 'nats-jetstream', stream: '$MQTT_msgs', filterSubject: '$MQTT.msgs.city.>', stripPrefix: '$MQTT.msgs.' }] })
    expect(own.ok).toBe(true)
    const bad = parseConfig({ sources: [{ type: 'nats-jetstream', servers: ['http://127.0.0.1:4222'], durable: 'a.b' }] })
    expect(bad.ok).toBe(false)
    if (!bad.ok) {
      expect(bad.problems.join('\n')).toMatch(/sources\[0\]\.servers\[0\]: a nats:\/\/ or tls:\/\/ URL/)
      expect(bad.problems.join('\n')).toMatch(/sources\[0\]\.durable/)
    }
  })
})
