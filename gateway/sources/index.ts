/**
 * The explicit list of source types. To add one: its zod config schema (with `type: z.literal(...)`) in
 * the union below and its factory in `createSource`. A factory validates and allocates; it does no I/O.
 */
import { z } from 'zod'
import type { Source } from '../core/types.ts'
import { createEtcRsuSource, EtcRsuSourceConfig } from './etc-rsu.ts'
import { createMqttSource, type MqttSourceDeps } from './mqtt.ts'
import { MqttSourceConfig } from './mqtt-config.ts'

export const SourceConfig = z.discriminatedUnion('type', [MqttSourceConfig, EtcRsuSourceConfig])
export type SourceConfig = z.infer<typeof SourceConfig>

/** What factories may need from the composed gateway besides their own config. */
export interface SourceDeps {
  mqtt: MqttSourceDeps
}

export function createSource(cfg: SourceConfig, deps: SourceDeps): Source {
  switch (cfg.type) {
    case 'mqtt':
      return createMqttSource(cfg, deps.mqtt)
    case 'etc-rsu':
      return createEtcRsuSource(cfg)
  }
}
