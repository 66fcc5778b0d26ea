/**
 * A simulated HJ 212-2017 water-quality station data logger: dials the platform, sends 2011 real-time data
 * every `realtimeSec` (30 s by default) from the shared river model and 2051 minute data (Avg/Min/Max of its samples) every `minuteSec`,
 * Flag=5 (answer wanted), and waits for the 9014 answers. Now and then an instrument is in maintenance (M)
 * or calibration (C), and its values carry that flag. Frames are built with the gateway's own codec.
 */
import type { Socket } from 'node:net'
import {
  createHj212Framer,
  dataCp,
  decodeHj212,
  EXE_RTN,
  encodeHj212,
  executionResult,
  type FactorValues,
  formatHj212Time,
  type Hj212Message,
  QN_RTN,
  requestAnswer,
  wantsAnswer,
} from '../../devices/water-quality/hj212/index.ts'
import { createMatcher } from '../../gateway/transports/matcher.ts'
import { dialFramed, hangUp } from '../common/link.ts'
import { createStationModel, type StationModel } from '../water-quality/model.ts'

export interface StationOptions {
  host: string
  port: number
  /** Device unique id (MN). */
  mn: string
  pw: string
  /** ST system code: 21 surface water quality (default), 32 surface-water pollution source. */
  st?: string
  realtimeSec?: number
  minuteSec?: number
  /** Probability per upload that one instrument is flagged M (maintenance) or C (calibration). */
  flagProbability?: number
  /** Upload on timers (default); false: only when `upload()` is called. */
  autoUpload?: boolean
  reconnect?: boolean
  random?: () => number
  /** Seed of the river model (simulators/water-quality/model.ts). */
  seed?: number
  now?: () => number
  /** The river model's clock (default `now`); a stepping clock (cli/simulate/clock.ts) makes values reproducible. */
  modelNow?: () => number
  onError?: (err: Error) => void
  /** Called with each upload the platform answered 9014 (accepted): ground truth for `smartcity simulate`. */
  onAcked?: (upload: Hj212Message) => void
}

export interface StationStats {
  /** Real-time upload interval now in force (a platform 1062 changes it). */
  realtimeSec: number
  sent: number
  answered: number
  refused: number
  flagged: number
  connects: number
}

export interface Station {
  start(): Promise<void>
  /** Send one upload now (CN 2011 or 2051); resolves with the answer's CN (9014 accepted, 9011 refused). */
  upload(cn?: '2011' | '2051'): Promise<string>
  /** Send raw bytes on the connection (tests). */
  raw(bytes: Buffer): void
  /** A connection to the platform is open. */
  connected(): boolean
  stop(): Promise<void>
  stats(): StationStats
}

/**
 * Factor code and decimals sent for each field. The seven fields of the shared river model
 * (simulators/water-quality/model.ts: day cycle, oxygen solubility, pollution events) plus CODMn, TP and
 * TN, which the model does not carry and are drawn around typical values.
 */
const FACTORS: readonly (readonly [string, keyof Reading, number])[] = [
  ['w01001', 'ph', 2],
  ['w01010', 'water_temp_c', 1],
  ['w01009', 'dissolved_oxygen_mg_l', 2],
  ['w01003', 'turbidity_ntu', 1],
  ['w01014', 'conductivity_us_cm', 1],
  ['w01018', 'cod_mg_l', 1],
  ['w21003', 'ammonia_nitrogen_mg_l', 3],
  ['w01019', 'codmn_mg_l', 2],
  ['w21011', 'total_phosphorus_mg_l', 3],
  ['w21001', 'total_nitrogen_mg_l', 2],
]

type Reading = ReturnType<StationModel['read']> & { codmn_mg_l: number; total_phosphorus_mg_l: number; total_nitrogen_mg_l: number }

export function createStation(o: StationOptions): Station {
  const random = o.random ?? Math.random
  const model = createStationModel(o.seed ?? Math.floor(random() * 2 ** 31))
  const now = o.now ?? Date.now
  const st: Omit<StationStats, 'realtimeSec'> = { sent: 0, answered: 0, refused: 0, flagged: 0, connects: 0 }
  let socket: Socket | undefined
  let stopped = false
  const timers: NodeJS.Timeout[] = []
  let lastQn = 0
  let realtimeSec = o.realtimeSec ?? 30
  let rtTimer: NodeJS.Timeout | undefined
  const waiting = createMatcher<string, Hj212Message>({ keyOf: (m) => m.qn })
  /** Samples since the last minute upload, per factor. */
  const samples = new Map<string, number[]>()

  function qn(): string {
    // QN must be unique per request: milliseconds, bumped when two uploads share one.
    let t = now()
    if (t <= lastQn) t = lastQn + 1
    lastQn = t
    return formatHj212Time(t, true)
  }

  function sample(t: number): { factors: Record<string, FactorValues>; flagged: boolean } {
    const factors: Record<string, FactorValues> = {}
    const r: Reading = { ...model.read(o.modelNow ? o.modelNow() : t), codmn_mg_l: 2.5 + random() * 2, total_phosphorus_mg_l: 0.05 + random() * 0.1, total_nitrogen_mg_l: 0.8 + random() * 0.6 }
    let flagCode: string | undefined
    let flag = 'N'
    if (random() < (o.flagProbability ?? 0.05)) {
      flagCode = FACTORS[Math.floor(random() * FACTORS.length)]![0]
      flag = random() < 0.5 ? 'M' : 'C'
    }
    for (const [code, field, digits] of FACTORS) {
      const v = r[field]
      const list = samples.get(code) ?? []
      list.push(v)
      samples.set(code, list)
      factors[code] = { Rtd: v.toFixed(digits), Flag: code === flagCode ? flag : 'N' }
    }
    return { factors, flagged: flagCode !== undefined }
  }

  function minute(): Record<string, FactorValues> {
    const factors: Record<string, FactorValues> = {}
    for (const [code, , digits] of FACTORS) {
      const list = samples.get(code)
      if (!list || list.length === 0) continue
      const avg = list.reduce((a, b) => a + b, 0) / list.length
      factors[code] = { Avg: avg.toFixed(digits), Min: Math.min(...list).toFixed(digits), Max: Math.max(...list).toFixed(digits), Flag: 'N' }
    }
    samples.clear()
    return factors
  }

  function upload(cn: '2011' | '2051' = '2011'): Promise<string> {
    const t = now()
    let factors: Record<string, FactorValues>
    if (cn === '2011') {
      const s = sample(t)
      factors = s.factors
      if (s.flagged) st.flagged++
    } else {
      // No sample since the last minute upload: nothing to average (drawing one here would shift the
      // real-time values' random sequence by timer order, and a seeded run would not repeat).
      if (samples.size === 0) return Promise.resolve('none')
      factors = minute()
    }
    // 2051 DataTime is the start of the minute; 2011 the sample instant (seconds).
    const dataTime = cn === '2051' ? Math.floor(t / 60_000) * 60_000 : Math.floor(t / 1000) * 1000
    const m: Hj212Message = { qn: qn(), st: o.st ?? '21', cn, pw: o.pw, mn: o.mn, flag: 5, cp: dataCp(dataTime, factors) }
    st.sent++
    const s = socket
    if (!s || s.destroyed) return Promise.reject(new Error('not connected'))
    const answer = waiting.wait(m.qn!, { timeoutMs: 10_000, what: `answer to QN ${m.qn}` }).then((a) => {
      if (a.cn === '9014') {
        st.answered++
        o.onAcked?.(m)
      }
      else st.refused++
      return a.cn
    })
    s.write(encodeHj212(m))
    return answer
  }

  async function dial(): Promise<void> {
    socket = await dialFramed({
      host: o.host,
      port: o.port,
      framer: createHj212Framer(),
      onFrame(frame) {
        const m = decodeHj212(frame)
        if (!m.ok || m.value.qn === undefined) return
        if (m.value.cn.startsWith('9')) waiting.settle(m.value)
        else onRequest(m.value)
      },
      onError: o.onError,
      onClose() {
        waiting.failAll(new Error('connection closed'))
        if (!stopped && o.reconnect) {
          for (const t of timers.splice(0)) clearInterval(t)
          setTimeout(() => {
            if (!stopped) start().catch((e: Error) => o.onError?.(e))
          }, 1000 + Math.floor(random() * 2000)).unref()
        }
      },
    })
    st.connects++
  }

  /**
   * A platform request: 9011 (QnRtn 1 ready, or 8 for a CN this logger does not do), the requested upload
   * under the request's QN, then 9012 (ExeRtn 1). Supported: 1011 get time, 1061 get / 1062 set the
   * real-time interval.
   */
  function onRequest(req: Hj212Message): void {
    const s = socket
    if (!s || s.destroyed) return
    const send = (m: Hj212Message) => s.write(encodeHj212(m))
    const supported = req.cn === '1011' || req.cn === '1061' || req.cn === '1062'
    if (wantsAnswer(req)) send(requestAnswer(req, supported ? QN_RTN.ready : QN_RTN.badCn))
    if (!supported) return
    const reply = (cp: Hj212Message['cp']) => send({ qn: req.qn!, st: o.st ?? '21', cn: req.cn, pw: o.pw, mn: o.mn, flag: 4, cp })
    if (req.cn === '1011') reply([[['SystemTime', formatHj212Time(now())]]])
    else if (req.cn === '1061') reply([[['RtdInterval', String(realtimeSec)]]])
    else {
      const v = Number(req.cp.flat().find(([k]) => k === 'RtdInterval')?.[1])
      if (!Number.isInteger(v) || v < 30 || v > 3600) {
        send(executionResult(req, EXE_RTN.condition))
        return
      }
      realtimeSec = v
      if (rtTimer) {
        clearInterval(rtTimer)
        rtTimer = setInterval(() => upload('2011').catch((e: Error) => o.onError?.(e)), realtimeSec * 1000)
        timers.push(rtTimer)
      }
    }
    send(executionResult(req, EXE_RTN.ok))
  }

  async function start(): Promise<void> {
    await dial()
    if (o.autoUpload === false) return
    const rt = realtimeSec * 1000
    const mi = (o.minuteSec ?? 60) * 1000
    const fail = (e: Error) => o.onError?.(e)
    rtTimer = setInterval(() => upload('2011').catch(fail), rt)
    timers.push(rtTimer)
    timers.push(setInterval(() => upload('2051').catch(fail), mi))
    // First real-time upload soon after connecting, spread across stations.
    timers.push(setTimeout(() => upload('2011').catch(fail), Math.floor(random() * Math.min(rt, 3000))))
  }

  return {
    start,
    upload,
    raw(bytes) {
      socket?.write(bytes)
    },
    connected: () => socket !== undefined && !socket.destroyed,
    async stop() {
      stopped = true
      for (const t of timers.splice(0)) clearInterval(t)
      await hangUp(socket)
    },
    stats: () => ({ ...st, realtimeSec }),
  }
}

export function createStations(o: Omit<StationOptions, 'mn'> & { count: number; firstMn?: number }): Station[] {
  const first = o.firstMn ?? 1
  return Array.from({ length: o.count }, (_, i) => {
    const { count: _c, firstMn: _f, ...rest } = o
    return createStation({ ...rest, mn: `SIMWQ${String(first + i).padStart(9, '0')}` })
  })
}
