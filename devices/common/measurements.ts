/**
 * The field types of every canonical measurement (docs/data-model.md). InfluxDB fixes a field's type per
 * shard the first time it is written, so one table decides them all: `int` fields are written with the line
 * protocol's `i` suffix, `float` fields never are (7 is written as 7, not 7i). Fields not listed here are
 * written by their JavaScript type (number -> float). Extend freely; never rename or re-type.
 */
export type FieldType = 'float' | 'int' | 'bool' | 'string'

export interface MeasurementSpec {
  /** Tags this measurement carries besides the common ones (device, kind, district, site, protocol). */
  tags: readonly string[]
  fields: Readonly<Record<string, FieldType>>
}

const WATER_FIELDS = {
  ph: 'float',
  water_temp_c: 'float',
  dissolved_oxygen_mg_l: 'float',
  turbidity_ntu: 'float',
  conductivity_us_cm: 'float',
  cod_mg_l: 'float',
  codmn_mg_l: 'float',
  ammonia_nitrogen_mg_l: 'float',
  total_phosphorus_mg_l: 'float',
  total_nitrogen_mg_l: 'float',
  residual_chlorine_mg_l: 'float',
  orp_mv: 'float',
  gb3838_class: 'int',
  // The field that decided gb3838_class (a canonical field name, e.g. ammonia_nitrogen_mg_l).
  gb3838_factor: 'string',
} as const

export const MEASUREMENTS = {
  // `interval` (HJ 212): realtime, minute, hour, day; absent for readings that are plain samples.
  water_quality: { tags: ['interval'], fields: WATER_FIELDS },
  energy_meter: {
    tags: [],
    fields: {
      voltage_a_v: 'float',
      voltage_b_v: 'float',
      voltage_c_v: 'float',
      current_a_a: 'float',
      current_b_a: 'float',
      current_c_a: 'float',
      active_power_kw: 'float',
      reactive_power_kvar: 'float',
      power_factor: 'float',
      frequency_hz: 'float',
      import_energy_kwh: 'float',
      export_energy_kwh: 'float',
      // Event counters a meter keeps (DL/T 645-2007 1D000001 trips, 03300D00 cover openings).
      trip_count: 'int',
      cover_open_count: 'int',
    },
  },
  etc_transaction: {
    tags: ['lane', 'result'],
    fields: {
      obu_id: 'string',
      plate: 'string',
      plate_color: 'int',
      vehicle_class: 'int',
      fee_fen: 'int',
      balance_fen: 'int',
      card_id: 'string',
      transaction_ms: 'int',
    },
  },
  etc_rsu_status: {
    tags: [],
    fields: { online: 'bool', antenna_ok: 'bool', psam_ok: 'bool', rsu_status: 'int' },
  },
  elevator_status: {
    tags: [],
    fields: {
      floor: 'int',
      direction: 'string',
      door_open: 'bool',
      moving: 'bool',
      speed_m_s: 'float',
      in_leveling_zone: 'bool',
      occupied: 'bool',
      run_count: 'int',
      service_mode: 'string',
      door_state: 'string',
      power_ok: 'bool',
    },
  },
  elevator_event: {
    tags: ['event'],
    fields: { active: 'bool', floor: 'int', detail: 'string' },
  },
  /** A monitor's own event report, as received (the reconciled start/clear is in `elevator_event`). */
  elevator_event_report: {
    tags: ['event'],
    fields: { active: 'bool', floor: 'int', detail: 'string' },
  },
  position: {
    tags: ['system'],
    fields: {
      lat: 'float',
      lon: 'float',
      alt_m: 'float',
      speed_kmh: 'float',
      course_deg: 'float',
      fix_quality: 'int',
      fix_mode: 'int',
      satellites_used: 'int',
      hdop: 'float',
      alarm_flags: 'int',
      status_flags: 'int',
      mileage_km: 'float',
      // JT/T 808 0x0200 additional items 0x02, 0x03, 0x30.
      fuel_l: 'float',
      recorder_speed_kmh: 'float',
      signal_strength: 'int',
    },
  },
  /** Satellites per constellation in one GNSS fix epoch (NMEA GSA/GSV); tag `system` as in `position`
   * plus `QZSS` and `SBAS`. */
  satellites: {
    tags: ['system'],
    fields: { in_view: 'int', used: 'int', snr_mean_db: 'float' },
  },
  device_status: {
    /** `instance`: the gateway (`gateway.id`) that saw the device (scale-out, docs/scale-out.md). */
    tags: ['instance'],
    fields: { online: 'bool', last_seen_ms: 'int', frames_ok: 'int', frames_rejected: 'int' },
  },
  alarm: {
    tags: ['rule', 'severity'],
    // The workflow (gateway/alarms/points.ts): what happened (raise, clear, ack, shelve, unshelve), the state
    // after it (active, acknowledged, shelved, cleared), who acted, their note, the end of a shelf.
    fields: { active: 'bool', value: 'float', message: 'string', action: 'string', state: 'string', by: 'string', note: 'string', shelved_until_ms: 'int' },
  },
} as const satisfies Record<string, MeasurementSpec>

export type MeasurementName = keyof typeof MEASUREMENTS

/** The declared type of a field, or undefined for a field the contract does not list. */
export function fieldType(measurement: string, field: string): FieldType | undefined {
  const spec = (MEASUREMENTS as Record<string, MeasurementSpec>)[measurement]
  return spec?.fields[field]
}
