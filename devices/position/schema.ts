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
