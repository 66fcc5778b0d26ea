import type { Logger, Sink } from '../core/types.ts'
import type { SinkConfig } from './config.ts'
import { createInfluxV1Sink } from './influx-v1.ts'
import { createInfluxV2Sink } from './influx-v2.ts'
import { createMqttUplinkSink } from './mqtt-uplink.ts'
import { createNatsJetStreamSink } from './nats-jetstream.ts'

export function createSink(cfg: SinkConfig, log: Logger): Sink {
  switch (cfg.type) {
    case 'influx-v1':
      return createInfluxV1Sink(cfg, log)
    case 'influx-v2':
      return createInfluxV2Sink(cfg, log)
    case 'mqtt-uplink':
      return createMqttUplinkSink(cfg, log)
    case 'nats-jetstream':
      return createNatsJetStreamSink(cfg, log)
  }
}
