import { z } from 'zod'
import { Timestamp } from '../common/time.ts'

export const GnssSystem = z.enum(['BDS', 'GPS', 'GLONASS', 'GALILEO', 'GNSS'])
export type GnssSystem = z.infer<typeof GnssSystem>

/**
 * A position fix in canonical field names (docs/data-model.md). A reading without a fix carries
 * `fix_quality: 0` and no coordinates, never 0,0.
 */
export const PositionReading = z
  .strictObject({
    ts: Timestamp.optional(),
    system: GnssSystem.optional(),
    lat: z.number().min(-90).max(90).optional(),
    lon: z.number().min(-180).max(180).optional(),
    alt_m: z.number().min(-1_000).max(100_000).optional(),
    speed_kmh: z.number().min(0).max(2_000).optional(),
    course_deg: z.number().min(0).max(360).optional(),
    fix_quality: z.number().int().min(0).max(9).optional(),
    /** 1 no fix, 2 2D, 3 3D (NMEA GSA; gpsd's TPV `mode`). */
    fix_mode: z.number().int().min(1).max(3).optional(),
    satellites_used: z.number().int().min(0).max(200).optional(),
    hdop: z.number().min(0).max(100).optional(),
    alarm_flags: z.number().int().min(0).max(0xffffffff).optional(),
    status_flags: z.number().int().min(0).max(0xffffffff).optional(),
    mileage_km: z.number().min(0).optional(),
  })
  .refine((r) => (r.lat === undefined) === (r.lon === undefined), { message: 'lat and lon come together', params: { reason: 'out_of_range' } })
export type PositionReading = z.infer<typeof PositionReading>

/**
 * A JT/T 808 location (0x0200, or one of a 0x0704 batch) in canonical field names, as the terminal gives it
 * (devices/position/jt808/readings.ts `locationReading`): the protocol's own ranges (speed and altitude are WORDs, the
 * satellite count and signal strength BYTEs), wider than `PositionReading`'s, so nothing stored today is
 * refused. Stored as a `position` point tagged with its `system`.
 */
export const Jt808LocationReading = z
  .strictObject({
    ts: Timestamp.optional(),
    system: GnssSystem,
    lat: z.number().min(-90).max(90).optional(),
    lon: z.number().min(-180).max(180).optional(),
    alt_m: z.number().int().min(0).max(0xffff).optional(),
    speed_kmh: z.number().min(0).max(0xffff / 10).optional(),
    course_deg: z.number().min(0).max(360).optional(),
    fix_quality: z.number().int().min(0).max(1),
    alarm_flags: z.number().int().min(0).max(0xffffffff),
    status_flags: z.number().int().min(0).max(0xffffffff),
    mileage_km: z.number().min(0).optional(),
    fuel_l: z.number().min(0).optional(),
    recorder_speed_kmh: z.number().min(0).optional(),
    signal_strength: z.number().int().min(0).max(0xff).optional(),
    satellites_used: z.number().int().min(0).max(0xff).optional(),
  })
  .refine((r) => (r.lat === undefined) === (r.lon === undefined), { message: 'lat and lon come together', params: { reason: 'out_of_range' } })
export type Jt808LocationReading = z.infer<typeof Jt808LocationReading>

/** Constellations a satellites reading may name (NMEA talkers and GSV signal ids: QZSS and SBAS too). */
export const Constellation = z.enum(['GPS', 'GLONASS', 'GALILEO', 'BDS', 'QZSS', 'SBAS', 'GNSS'])

/**
 * Satellites of one constellation in one NMEA fix epoch (devices/position/nmea/readings.ts `epochReadings`): in
 * view (GSV), used (GSA), mean SNR. Stored as a `satellites` point tagged with its `system`. No upper bounds:
 * the source stored any count and SNR the receiver gave before these readings were validated (issue 11).
 */
export const SatellitesReading = z.strictObject({
  ts: Timestamp.optional(),
  system: Constellation,
  in_view: z.number().int().min(0),
  used: z.number().int().min(0),
  snr_mean_db: z.number().min(0).optional(),
})
export type SatellitesReading = z.infer<typeof SatellitesReading>
