/**
 * A simulated BeiDou/GNSS receiver (pure logic, no I/O): drives a route through the district and produces
 * one NMEA 0183 epoch per call, with the same encoder the gateway decodes with (devices/position/nmea/encode.ts).
 *
 * Per epoch (NMEA 4.11 style, like a u-blox M8/F9 or a Chinese BDS+GPS module):
 *   GNRMC, GNVTG, GNGGA, GNGSA (GPS, system id 1), GNGSA (BeiDou, system id 4),
 *   GPGSV x n, GBGSV x n (or BDGSV with `beidouTalker: 'BD'`), GNGLL, GNZDA.
 * In a tunnel the fix is lost: RMC/GLL status V, GGA quality 0, empty coordinates, no satellites.
 */
import { encodeSentence, type NmeaSentence, type SatelliteInView, type Talker } from '../../devices/position/nmea/index.ts'

export type LatLon = readonly [lat: number, lon: number]

/** A loop through Xi'an Gaoxin (the demo district): Keji Rd, Tangyan Rd, Gaoxin Rd, Zhangba Rd. */
export const GAOXIN_LOOP: readonly LatLon[] = [
  [34.2337, 108.8842],
  [34.2335, 108.9012],
  [34.2228, 108.9016],
  [34.2105, 108.9019],
  [34.1942, 108.9024],
  [34.1938, 108.8855],
  [34.2046, 108.8848],
  [34.2190, 108.8845],
]

export interface GnssReceiverOptions {
  route?: readonly LatLon[]
  /** Along-route distance ranges (m) where the receiver is in a tunnel / under a deck: no fix. */
  tunnels?: readonly (readonly [fromM: number, toM: number])[]
  speedKmh?: number
  /** Start this far along the route (m). */
  startM?: number
  /** `GB` (NMEA 4.11) or `BD` (Chinese BDS-module spec) for BeiDou GSV. */
  beidouTalker?: 'GB' | 'BD'
  altitudeM?: number
  coordDecimals?: number
}

export interface EpochTruth {
  time: number
  fix: boolean
  lat: number
  lon: number
  courseDeg: number
  speedKmh: number
  alongM: number
}

const R = 6_371_000
const rad = (d: number) => (d * Math.PI) / 180
const deg = (r: number) => (r * 180) / Math.PI

function dist(a: LatLon, b: LatLon): number {
  const x = rad(b[1] - a[1]) * Math.cos(rad((a[0] + b[0]) / 2))
  const y = rad(b[0] - a[0])
  return Math.sqrt(x * x + y * y) * R
}

function bearing(a: LatLon, b: LatLon): number {
  const x = rad(b[1] - a[1]) * Math.cos(rad((a[0] + b[0]) / 2))
  const y = rad(b[0] - a[0])
  return (deg(Math.atan2(x, y)) + 360) % 360
}

// A fixed sky: [prn, elevation at t=0, azimuth at t=0]. BeiDou GEO satellites stay put, the rest drift.
const GPS_SKY: readonly (readonly [number, number, number])[] = [
  [2, 62, 40],
  [5, 38, 290],
  [7, 12, 150],
  [13, 71, 205],
  [15, 26, 95],
  [18, 8, 330],
  [20, 45, 130],
  [24, 19, 250],
  [29, 53, 10],
  [30, 3, 60],
]
const BDS_SKY: readonly (readonly [number, number, number, boolean])[] = [
  [1, 46, 145, true],
  [2, 36, 232, true],
  [3, 52, 190, true],
  [4, 33, 124, true],
  [6, 58, 200, false],
  [9, 40, 215, false],
  [16, 64, 170, false],
  [21, 22, 310, false],
  [22, 48, 50, false],
  [27, 15, 100, false],
  [34, 69, 280, false],
  [39, 4, 20, false],
]

function sky(nowMs: number): { gps: SatelliteInView[]; bds: SatelliteInView[] } {
  const h = nowMs / 3_600_000
  const place = (prn: number, el0: number, az0: number, geo: boolean): SatelliteInView | undefined => {
    const el = geo ? el0 : Math.round(el0 + 10 * Math.sin(h * 0.5 + prn))
    if (el < 5) return undefined
    const az = geo ? az0 : Math.round((az0 + h * 30 + prn) % 360)
    const snrDb = Math.round(22 + (el / 90) * 24 + 2 * Math.sin(nowMs / 10_000 + prn))
    return { prn, elevationDeg: Math.min(90, el), azimuthDeg: az, snrDb }
  }
  return {
    gps: GPS_SKY.map(([p, e, a]) => place(p, e, a, false)).filter((s): s is SatelliteInView => s !== undefined),
    bds: BDS_SKY.map(([p, e, a, g]) => place(p, e, a, g)).filter((s): s is SatelliteInView => s !== undefined),
  }
}

function gsv(talker: Talker, sats: SatelliteInView[], signalId: number): NmeaSentence[] {
  const total = Math.max(1, Math.ceil(sats.length / 4))
  const out: NmeaSentence[] = []
  for (let i = 0; i < total; i++) {
    out.push({ type: 'GSV', talker, total, index: i + 1, inView: sats.length, satellites: sats.slice(i * 4, i * 4 + 4), signalId })
  }
  return out
}

export interface GnssReceiver {
  /** The sentences of the epoch at `nowMs` (advances the vehicle since the previous call). */
  epoch(nowMs: number): { lines: string[]; truth: EpochTruth }
  routeLengthM: number
}

export function createGnssReceiver(o: GnssReceiverOptions = {}): GnssReceiver {
  const route = o.route ?? GAOXIN_LOOP
  if (route.length < 2) throw new RangeError('a route needs at least two points')
  const legs = route.map((p, i) => {
    const q = route[(i + 1) % route.length]!
    return { from: p, to: q, len: dist(p, q), course: bearing(p, q) }
  })
  const total = legs.reduce((a, l) => a + l.len, 0)
  const tunnels = o.tunnels ?? [[total * 0.4, total * 0.4 + 350]]
  const cd = o.coordDecimals ?? 5
  let along = (o.startM ?? 0) % total
  let lastMs: number | undefined

  const at = (m: number) => {
    let d = ((m % total) + total) % total
    for (const l of legs) {
      if (d <= l.len) {
        const f = d / l.len
        return { lat: l.from[0] + (l.to[0] - l.from[0]) * f, lon: l.from[1] + (l.to[1] - l.from[1]) * f, course: l.course }
      }
      d -= l.len
    }
    const l = legs[legs.length - 1]!
    return { lat: l.to[0], lon: l.to[1], course: l.course }
  }

  return {
    routeLengthM: total,
    epoch(nowMs) {
      const t = Math.floor(nowMs / 100) * 100 // NMEA time has centiseconds; real epochs fall on whole seconds
      const speedKmh = Math.max(0, (o.speedKmh ?? 40) * (1 + 0.25 * Math.sin(t / 45_000)))
      if (lastMs !== undefined && t > lastMs) along = (along + ((speedKmh / 3.6) * (t - lastMs)) / 1000) % total
      lastMs = t
      const pos = at(along)
      const inTunnel = tunnels.some(([a, b]) => along >= a && along <= b)
      const d = new Date(t)
      const date = { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() }
      const time = t % 86_400_000
      const { gps, bds } = inTunnel ? { gps: [], bds: [] } : sky(t)
      const usedGps = gps.filter((s) => (s.elevationDeg ?? 0) >= 15).map((s) => s.prn).slice(0, 12)
      const usedBds = bds.filter((s) => (s.elevationDeg ?? 0) >= 15).map((s) => s.prn).slice(0, 12)
      const nUsed = usedGps.length + usedBds.length
      const hdop = Math.round((0.6 + 6 / Math.max(1, nUsed)) * 10) / 10
      const bdTalker: Talker = o.beidouTalker ?? 'GB'
      const fix = !inTunnel
      const alt = o.altitudeM ?? 405
      const knots = Math.round((speedKmh / 1.852) * 1000) / 1000
      const course = Math.round(pos.course * 100) / 100
      const ll = fix ? { lat: pos.lat, lon: pos.lon } : {}
      const sentences: NmeaSentence[] = [
        fix
          ? { type: 'RMC', talker: 'GN', time, status: 'A', ...ll, speedKnots: knots, courseDeg: course, date, mode: 'A', navStatus: 'V' }
          : { type: 'RMC', talker: 'GN', time, status: 'V', date, mode: 'N', navStatus: 'V' },
        fix ? { type: 'VTG', talker: 'GN', courseTrueDeg: course, speedKnots: knots, speedKmh: Math.round(speedKmh * 1000) / 1000, mode: 'A' } : { type: 'VTG', talker: 'GN', mode: 'N' },
        fix
          ? { type: 'GGA', talker: 'GN', time, ...ll, quality: 1, satellites: nUsed, hdop, altM: alt, geoidSepM: -28.4 }
          : { type: 'GGA', talker: 'GN', time, quality: 0, satellites: 0 },
        { type: 'GSA', talker: 'GN', selection: 'A', fix: fix ? 3 : 1, svids: usedGps, ...(fix ? { pdop: Math.round(hdop * 14) / 10, hdop, vdop: Math.round(hdop * 11) / 10 } : {}), systemId: 1 },
        { type: 'GSA', talker: 'GN', selection: 'A', fix: fix ? 3 : 1, svids: usedBds, ...(fix ? { pdop: Math.round(hdop * 14) / 10, hdop, vdop: Math.round(hdop * 11) / 10 } : {}), systemId: 4 },
        ...gsv('GP', gps, 1),
        ...gsv(bdTalker, bds, 1),
        fix ? { type: 'GLL', talker: 'GN', ...ll, time, status: 'A', mode: 'A' } : { type: 'GLL', talker: 'GN', time, status: 'V', mode: 'N' },
        { type: 'ZDA', talker: 'GN', time, date, zoneHours: 0, zoneMinutes: 0 },
      ]
      return {
        lines: sentences.map((s) => encodeSentence(s, { coordDecimals: cd })),
        truth: { time: t, fix, lat: pos.lat, lon: pos.lon, courseDeg: course, speedKmh, alongM: along },
      }
    },
  }
}
