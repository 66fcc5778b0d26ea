import type { Logger, Sink } from '../core/types.ts'
import type { SinkConfig } from './config.ts'
import { createInfluxV1Sink } from './influx-v1.ts'
import { createInfluxV2Sink } from './influx-v2.ts'

export function createSink(cfg: SinkConfig, log: Logger): Sink {
  switch (cfg.type) {
    case 'influx-v1':
      return createInfluxV1Sink(cfg, log)
    case 'influx-v2':
      return createInfluxV2Sink(cfg, log)
  }
}
