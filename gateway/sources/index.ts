/**
 * The explicit list of source types. To add one: its zod config schema (with `type: z.literal(...)`) in
 * the union below and its factory in `createSource`. A factory validates and allocates; it does no I/O.
 */
import { z } from 'zod'
import type { Source } from '../core/types.ts'
import { createDlt645Source } from './dlt645/index.ts'
import { Dlt645SourceConfig } from './dlt645/config.ts'
import { createEtcRsuSource, EtcRsuSourceConfig } from './etc-rsu/index.ts'
import { createHj212Source } from './hj212/index.ts'
import { Hj212SourceConfig } from './hj212/config.ts'
import { createJt808Source } from './jt808/index.ts'
import { Jt808SourceConfig } from './jt808/config.ts'
import { ModbusRtuOverTcpSourceConfig, ModbusRtuSourceConfig, ModbusTcpSourceConfig } from './modbus/config.ts'
import { createModbusSource } from './modbus/index.ts'
import { createMqttSource, type MqttSourceDeps } from './mqtt/index.ts'
import { MqttSourceConfig } from './mqtt/config.ts'
import { createNatsJetStreamSource } from './nats-jetstream/index.ts'
import { NatsJetStreamSourceConfig } from './nats-jetstream/config.ts'
import { createNmeaSource } from './nmea/index.ts'
import { NmeaSourceConfig } from './nmea/config.ts'

export const SourceConfig = z.discriminatedUnion('type', [
  MqttSourceConfig,
  ModbusTcpSourceConfig,
  ModbusRtuSourceConfig,
  ModbusRtuOverTcpSourceConfig,
  NmeaSourceConfig,
  Dlt645SourceConfig,
  EtcRsuSourceConfig,
  Jt808SourceConfig,
  Hj212SourceConfig,
  NatsJetStreamSourceConfig,
])
export type SourceConfig = z.infer<typeof SourceConfig>

/** What factories may need from the composed gateway besides their own config. */
export interface SourceDeps {
  mqtt: MqttSourceDeps
}

export function createSource(cfg: SourceConfig, deps: SourceDeps): Source {
  switch (cfg.type) {
    case 'mqtt':
      return createMqttSource(cfg, deps.mqtt)
    case 'modbus-tcp':
    case 'modbus-rtu':
    case 'modbus-rtu-over-tcp':
      return createModbusSource(cfg)
    case 'nmea':
      return createNmeaSource(cfg)
    case 'dlt645':
      return createDlt645Source(cfg)
    case 'etc-rsu':
      return createEtcRsuSource(cfg)
    case 'jt808':
      return createJt808Source(cfg)
    case 'hj212':
      return createHj212Source(cfg)
    case 'nats-jetstream':
      return createNatsJetStreamSource(cfg)
  }
}
