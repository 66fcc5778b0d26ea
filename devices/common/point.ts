/**
 * The canonical point: one InfluxDB point as in docs/data-model.md. Plain data, no classes.
 * `time` is epoch milliseconds UTC. Tags `device`, `kind`, `district`, `site` and `protocol` are completed by
 * the gateway from its inventory; a device kind's `toPoints` sets only the measurement's own tags
 * (`lane`, `result`, `event`, `system`, `rule`, `severity`, ...).
 */
export type FieldValue = number | string | boolean

export interface Point {
  measurement: string
  tags: Record<string, string>
  fields: Record<string, FieldValue>
  time: number
  /**
   * The fields already as a line-protocol field set (`ph=7.12,water_temp_c=18.3`), when a codec had their
   * decimal text at hand (devices/common/flat-json.ts). It says exactly what `fields` says; the sinks'
   * formatter is then skipped.
   */
  fieldsLine?: string
}

/** The `kind` tag values of docs/data-model.md. */
export const KINDS = ['water_quality', 'energy_meter', 'etc', 'elevator', 'position'] as const
export type KindName = (typeof KINDS)[number]

/** The `protocol` tag values of docs/data-model.md (extend, never rename). */
export const PROTOCOLS = [
  'mqtt',
  'modbus-tcp',
  'modbus-rtu',
  'nmea',
  'dlt645',
  'hj212',
  'jt808',
  'etc-rsu',
] as const
export type Protocol = (typeof PROTOCOLS)[number]
