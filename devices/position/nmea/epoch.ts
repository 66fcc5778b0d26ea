/**
 * NMEA 0183 epoch assembly: the sentences of one fix epoch (GGA/GNS + RMC, satellites from GSA/GSV) combined
 * into one `PositionEpoch`. One assembler per serial port (or per capture file): it is per-port state.
 */
import type { GnssSystem } from '../schema.ts'
import { type Constellation, type NmeaDate, type NmeaSentence, SYSTEM_IDS, TALKERS, type Talker } from './sentences.ts'


/** Satellites of one constellation in one epoch. */
export interface ConstellationSats {
  inView: number
  used: number
  /** Mean SNR (dB-Hz) over the satellites in view that report one. */
  snrMeanDb?: number
}

/** One fix epoch: everything the receiver said about one instant. */
export interface PositionEpoch {
  /** Epoch ms UTC (date from RMC/ZDA, else the day nearest to the receive time). */
  time: number
  system: GnssSystem
  fixQuality: number
  /** 1 no fix, 2 2D, 3 3D (GSA, else inferred from GGA as gpsd does). */
  fixMode: number
  lat?: number
  lon?: number
  altM?: number
  speedKmh?: number
  courseDeg?: number
  satellitesUsed?: number
  hdop?: number
  satellites: Partial<Record<Constellation, ConstellationSats>>
  /** Sentences that made this epoch. */
  sentences: number
}

const DAY_MS = 86_400_000

function systemOfPrn(talker: Talker, prn: number, systemId: number | undefined): Constellation {
  if (systemId !== undefined && SYSTEM_IDS[systemId]) return SYSTEM_IDS[systemId]!
  const t = TALKERS[talker]
  if (t === 'GPS') {
    if (prn >= 33 && prn <= 64) return 'SBAS'
    if (prn >= 193 && prn <= 202) return 'QZSS'
    return 'GPS'
  }
  if (t !== 'GNSS') return t
  // GN talker without a system id: NMEA's PRN ranges (and SiRF's 201+ for BeiDou)
  if (prn >= 1 && prn <= 32) return 'GPS'
  if (prn >= 33 && prn <= 64) return 'SBAS'
  if (prn >= 65 && prn <= 96) return 'GLONASS'
  if (prn >= 193 && prn <= 200) return 'QZSS'
  if (prn >= 201 && prn <= 263) return 'BDS'
  if (prn >= 301 && prn <= 336) return 'GALILEO'
  return 'GNSS'
}

interface Pending {
  timeOfDay?: number
  date?: NmeaDate
  gga?: Extract<NmeaSentence, { type: 'GGA' }>
  gns?: Extract<NmeaSentence, { type: 'GNS' }>
  rmc?: Extract<NmeaSentence, { type: 'RMC' }>
  gll?: Extract<NmeaSentence, { type: 'GLL' }>
  vtg?: Extract<NmeaSentence, { type: 'VTG' }>
  gsa: Extract<NmeaSentence, { type: 'GSA' }>[]
  /** system -> prn -> snr */
  inView: Map<Constellation, Map<number, number | undefined>>
  sentences: number
  receivedAt: number
}

export interface EpochAssembler {
  /** Add a decoded sentence; returns the epochs this sentence closed (usually none or one). */
  push(s: NmeaSentence, receivedAt: number): PositionEpoch[]
  /** Close the epoch being collected (the source calls it when the line goes quiet). */
  flush(): PositionEpoch[]
  reset(): void
}

function sentenceTime(s: NmeaSentence): number | undefined {
  return s.type === 'GGA' || s.type === 'GNS' || s.type === 'RMC' || s.type === 'GLL' || s.type === 'ZDA' ? s.time : undefined
}

/**
 * Groups sentences into fix epochs by their time of day: a sentence stamped with a new time closes the
 * epoch before it; sentences without a time (GSA, GSV, VTG) join the epoch being collected. An epoch is
 * emitted only when it has a GGA, RMC or GLL.
 */
export function createEpochAssembler(): EpochAssembler {
  let cur: Pending | undefined
  let lastDate: NmeaDate | undefined
  const fresh = (receivedAt: number): Pending => ({ gsa: [], inView: new Map(), sentences: 0, receivedAt })

  const close = (): PositionEpoch[] => {
    const p = cur
    cur = undefined
    if (!p || (!p.gga && !p.gns && !p.rmc && !p.gll)) return []
    return [finish(p, lastDate)]
  }

  return {
    push(s, receivedAt) {
      if (s.type === 'proprietary' || s.type === 'other') return []
      const t = sentenceTime(s)
      let out: PositionEpoch[] = []
      if (cur && t !== undefined && cur.timeOfDay !== undefined && t !== cur.timeOfDay) out = close()
      // a second GGA or RMC without a time (receivers before their first fix) starts a new epoch; with the
      // same time (dual-mode modules send $GPGGA and $BDGGA) it belongs to this one and the first is kept
      else if (cur && ((s.type === 'GGA' && cur.gga) || (s.type === 'GNS' && cur.gns) || (s.type === 'RMC' && cur.rmc)) && t === undefined) out = close()
      if (!cur) cur = fresh(receivedAt)
      const p = cur
      p.sentences++
      if (t !== undefined && p.timeOfDay === undefined) p.timeOfDay = t
      switch (s.type) {
        case 'GGA':
          if (!p.gga) p.gga = s
          break
        case 'GNS':
          if (!p.gns) p.gns = s
          break
        case 'RMC':
          if (!p.rmc) p.rmc = s
          if (s.date) {
            p.date = s.date
            lastDate = s.date
          }
          break
        case 'GLL':
          p.gll = s
          break
        case 'VTG':
          p.vtg = s
          break
        case 'ZDA':
          if (s.date) {
            p.date = s.date
            lastDate = s.date
          }
          break
        case 'GSA':
          p.gsa.push(s)
          break
        case 'GSV':
          for (const sat of s.satellites) {
            const sys = systemOfPrn(s.talker, sat.prn, undefined)
            let m = p.inView.get(sys)
            if (!m) {
              m = new Map()
              p.inView.set(sys, m)
            }
            // the same satellite on a second signal: keep the stronger SNR
            const prev = m.get(sat.prn)
            m.set(sat.prn, prev === undefined ? sat.snrDb : sat.snrDb === undefined ? prev : Math.max(prev, sat.snrDb))
          }
          break
      }
      return out
    },
    flush: close,
    reset() {
      cur = undefined
      lastDate = undefined
    },
  }
}

/** A GNS read as the GGA it stands for: the same fix fields, quality from the mode characters. */
function ggaOfGns(s: Extract<NmeaSentence, { type: 'GNS' }>): Extract<NmeaSentence, { type: 'GGA' }> {
  const { type: _t, mode: _m, navStatus: _n, ...rest } = s
  return { type: 'GGA', ...rest }
}

function finish(p: Pending, lastDate: NmeaDate | undefined): PositionEpoch {
  const { rmc, gll, vtg } = p
  // GGA, else GNS (a receiver may send both for one epoch: GGA is kept, as for two GGAs)
  const gga = p.gga ?? (p.gns ? ggaOfGns(p.gns) : undefined)
  // fix quality: GGA's (or GNS's), else derived from RMC/GLL status and mode
  let fixQuality: number
  if (gga) fixQuality = gga.quality
  else {
    const st = rmc ?? gll
    fixQuality = st && st.status === 'A' && st.mode !== 'N' ? (st.mode === 'D' ? 2 : st.mode === 'E' ? 6 : 1) : 0
  }
  if (fixQuality > 0 && rmc && rmc.status === 'V' && !gga) fixQuality = 0
  const hasFix = fixQuality > 0

  // satellites used per constellation (GSA), in view (GSV)
  const used = new Map<Constellation, Set<number>>()
  let gsaFix = 0
  let gsaHdop: number | undefined
  for (const g of p.gsa) {
    gsaFix = Math.max(gsaFix, g.fix)
    if (gsaHdop === undefined) gsaHdop = g.hdop
    for (const sv of g.svids) {
      const sys = systemOfPrn(g.talker, sv, g.systemId)
      let set = used.get(sys)
      if (!set) {
        set = new Set()
        used.set(sys, set)
      }
      set.add(sv)
    }
  }
  const satellites: Partial<Record<Constellation, ConstellationSats>> = {}
  for (const sys of new Set<Constellation>([...p.inView.keys(), ...used.keys()])) {
    const view = p.inView.get(sys)
    const snrs = view ? [...view.values()].filter((v): v is number => v !== undefined && v > 0) : []
    const c: ConstellationSats = { inView: view?.size ?? 0, used: used.get(sys)?.size ?? 0 }
    if (snrs.length > 0) c.snrMeanDb = Math.round((snrs.reduce((a, b) => a + b, 0) / snrs.length) * 10) / 10
    satellites[sys] = c
  }

  // the system tag: constellations with satellites used, else the talker of the fix sentence
  const usedSystems = new Set<GnssSystem>()
  for (const [sys, set] of used) {
    if (set.size === 0) continue
    if (sys === 'GPS' || sys === 'GLONASS' || sys === 'GALILEO' || sys === 'BDS') usedSystems.add(sys)
    else if (sys === 'QZSS' || sys === 'SBAS') usedSystems.add('GPS') // augmentations of GPS
    else usedSystems.add('GNSS')
  }
  let system: GnssSystem
  if (usedSystems.size === 1) system = [...usedSystems][0]!
  else if (usedSystems.size > 1) system = 'GNSS'
  else {
    const t = TALKERS[(gga ?? rmc ?? gll)!.talker]
    system = t === 'QZSS' ? 'GPS' : t
  }

  const altM = hasFix ? gga?.altM : undefined
  let fixMode = gsaFix
  if (!hasFix) fixMode = 1
  else if (fixMode < 2) fixMode = altM !== undefined ? 3 : 2

  // time: the receiver's date and time of day; without a date, the UTC day nearest to the receive time
  const tod = p.timeOfDay
  let time: number
  const date = p.date ?? (rmc?.date || lastDate)
  if (tod === undefined) time = p.receivedAt
  else if (date) time = Date.UTC(date.year, date.month - 1, date.day) + tod
  else {
    const day = Math.floor(p.receivedAt / DAY_MS) * DAY_MS
    time = [day - DAY_MS, day, day + DAY_MS].map((d) => d + tod).reduce((a, b) => (Math.abs(b - p.receivedAt) < Math.abs(a - p.receivedAt) ? b : a))
  }

  const e: PositionEpoch = { time, system, fixQuality, fixMode, satellites, sentences: p.sentences }
  if (hasFix) {
    const pos = gga?.lat !== undefined ? gga : rmc?.lat !== undefined ? rmc : gll
    if (pos?.lat !== undefined && pos.lon !== undefined) {
      e.lat = pos.lat
      e.lon = pos.lon
    }
    if (altM !== undefined) e.altM = altM
    const kmh = rmc?.speedKnots !== undefined ? rmc.speedKnots * 1.852 : (vtg?.speedKmh ?? (vtg?.speedKnots !== undefined ? vtg.speedKnots * 1.852 : undefined))
    if (kmh !== undefined) e.speedKmh = Math.round(kmh * 1000) / 1000
    const course = rmc?.courseDeg ?? vtg?.courseTrueDeg
    if (course !== undefined) e.courseDeg = course
    const hdop = gga?.hdop ?? gsaHdop
    if (hdop !== undefined && hdop > 0) e.hdop = hdop
  }
  const usedCount = gga?.satellites ?? (used.size > 0 ? [...used.values()].reduce((a, s) => a + s.size, 0) : undefined)
  if (usedCount !== undefined) e.satellitesUsed = usedCount
  return e
}
