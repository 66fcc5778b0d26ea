/**
 * A simulated JT/T 808 vehicle terminal (bus, taxi, sanitation truck): dials the platform, registers
 * (0x0100 -> 0x8100 auth code), authenticates (0x0102), then drives its route reporting 0x0200 every
 * `intervalSec` with mileage, fuel, recorder speed, signal strength and satellites, sends heartbeats
 * (0x0002) when idle, and now and then raises an alarm (overspeed, emergency, fatigue) that clears on the
 * next report. Every frame is built with the same codec the gateway decodes with.
 */
import type { Socket } from 'node:net'
import {
  createJt808Framer,
  decodeJt808,
  encodeJt808,
  type Jt808Header,
  type Jt808Location,
  type Jt808Message,
  JT808_MSG,
  JT808_STATUS,
  type LocationItem,
} from '../../devices/position/jt808/index.ts'
import { createMatcher } from '../../gateway/transports/matcher.ts'
import { dialFramed, hangUp } from '../common/link.ts'

export type VehicleType = 'bus' | 'taxi' | 'sanitation'

export interface TerminalOptions {
  host: string
  port: number
  /** Dial from this local address (tests: a loopback alias per terminal, to tell its address from a proxy's). */
  localAddress?: string
  /** Terminal phone number (digits). */
  phone: string
  vehicle: VehicleType
  version?: 2013 | 2019
  plate?: string
  /** Route waypoints [lat, lon]; the vehicle loops through them. */
  route: readonly (readonly [number, number])[]
  intervalSec?: number
  /** How far the vehicle drives per report, as seconds of driving (default `intervalSec`; a faster run keeps the route's pace). */
  modelIntervalSec?: number
  heartbeatSec?: number
  /** Probability per report of raising an alarm (cleared on the next report). */
  alarmProbability?: number
  /** Use this code instead of registering (a terminal provisioned by the operator). */
  authCode?: string
  /** Stop reporting after this many locations (tests count exactly). */
  maxReports?: number
  /** Report on a timer every `intervalSec` (default); false: only when `report()` is called. */
  autoReport?: boolean
  /** Reconnect after a lost connection (demo); tests switch it off. */
  reconnect?: boolean
  random?: () => number
  /** Clock for the reported GNSS time (tests inject one that steps). */
  now?: () => number
  onError?: (err: Error) => void
  /** Called with each location the platform acknowledged (result 0): ground truth for `smartcity simulate`. */
  onAcked?: (phone: string, location: Jt808Location) => void
}

export interface TerminalStats {
  sent: number
  acked: number
  refused: number
  alarms: number
  connects: number
  authCode?: string
  authenticated: boolean
}

export interface Terminal {
  start(): Promise<void>
  /** Send one location now (tests); resolves when the platform acknowledged it. */
  report(): Promise<number>
  stop(): Promise<void>
  stats(): TerminalStats
  /** Resolves once `maxReports` locations were acknowledged. */
  done(): Promise<void>
  /** Send raw bytes on the connection (fault injection: a frame with a wrong check code, cut short, garbage). */
  raw(bytes: Buffer): boolean
}

const SPEED_KMH: Record<VehicleType, number> = { bus: 30, taxi: 45, sanitation: 15 }

export function createTerminal(o: TerminalOptions): Terminal {
  const random = o.random ?? Math.random
  const now = o.now ?? Date.now
  const version = o.version ?? 2013
  const phone = version === 2019 ? o.phone.padStart(20, '0') : o.phone.padStart(12, '0')
  const st: TerminalStats = { sent: 0, acked: 0, refused: 0, alarms: 0, connects: 0, authenticated: false, ...(o.authCode ? { authCode: o.authCode } : {}) }
  let socket: Socket | undefined
  let serial = 0
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  let hbTimer: NodeJS.Timeout | undefined
  let lastSent = 0
  // An answer (0x8001 / 0x8100) acknowledges the serial of the request it answers.
  const waiting = createMatcher<number, Jt808Message>({
    keyOf: (m) => (m.body.type === 'platform_response' || m.body.type === 'register_response' ? m.body.ackSerial : undefined),
  })
  let pos = 0 // distance along the route in waypoint units
  let mileage01 = Math.floor(random() * 1_000_000)
  let fuel01 = 400 + Math.floor(random() * 600)
  let alarm = 0
  let doneResolve: () => void = () => {}
  const donePromise = new Promise<void>((r) => {
    doneResolve = r
  })

  function header(msgId: number): Jt808Header {
    const h: Jt808Header = { msgId, version, protocolVersion: version === 2019 ? 1 : 0, phone, serial, encryption: 0 }
    serial = (serial + 1) & 0xffff
    return h
  }

  /** Send and wait for the answer that acknowledges this serial (0x8001 or 0x8100). */
  function request(msg: Jt808Message, timeoutMs = 10_000): Promise<Jt808Message> {
    const s = socket
    if (!s || s.destroyed) return Promise.reject(new Error('not connected'))
    const answer = waiting.wait(msg.header.serial, { timeoutMs, what: `answer to 0x${msg.header.msgId.toString(16)} serial ${msg.header.serial}` })
    lastSent = Date.now()
    s.write(encodeJt808(msg))
    return answer
  }

  function onFrame(frame: Buffer): void {
    const m = decodeJt808(frame)
    if (!m.ok) return
    waiting.settle(m.value)
  }

  function location(): Jt808Location {
    const route = o.route
    const n = route.length
    const i = Math.floor(pos) % n
    const a = route[i]!
    const bpt = route[(i + 1) % n]!
    const f = pos - Math.floor(pos)
    const lat = a[0] + (bpt[0] - a[0]) * f
    const lon = a[1] + (bpt[1] - a[1]) * f
    const speed = Math.max(0, SPEED_KMH[o.vehicle] * (0.6 + random() * 0.8))
    // Roughly 1 km between waypoints.
    const step = (speed * (o.modelIntervalSec ?? o.intervalSec ?? 10)) / 3600
    pos += step
    mileage01 += Math.round(step * 10)
    fuel01 = Math.max(0, fuel01 - (random() < 0.3 ? 1 : 0))
    const course = Math.round(((Math.atan2(bpt[1] - a[1], bpt[0] - a[0]) * 180) / Math.PI + 360) % 360) % 360
    const p = o.alarmProbability ?? 0.02
    if (alarm !== 0) alarm = 0
    else if (random() < p) {
      alarm = 1 << [0, 1, 2][Math.floor(random() * 3)]!
      st.alarms++
    }
    const status = JT808_STATUS.acc | JT808_STATUS.positioned | JT808_STATUS.bds | (random() < 0.5 ? JT808_STATUS.gps : 0)
    const items: LocationItem[] = [
      { id: 0x01, value: mileage01 },
      { id: 0x02, value: fuel01 },
      { id: 0x03, value: Math.round(speed * 10) },
      { id: 0x30, value: 15 + Math.floor(random() * 17) },
      { id: 0x31, value: 8 + Math.floor(random() * 16) },
    ]
    return {
      alarm,
      status,
      latE6: Math.round(Math.abs(lat) * 1e6),
      lonE6: Math.round(Math.abs(lon) * 1e6),
      altitudeM: 400 + Math.floor(random() * 20),
      speed01: Math.round(speed * 10),
      courseDeg: course,
      time: Math.floor(now() / 1000) * 1000,
      items,
    }
  }

  async function report(): Promise<number> {
    const h = header(JT808_MSG.location)
    st.sent++
    const loc = location()
    const r = await request({ header: h, body: { type: 'location', ...loc } })
    if (r.body.type === 'platform_response' && r.body.result === 0) {
      st.acked++
      o.onAcked?.(o.phone, loc)
    }
    else st.refused++
    if (o.maxReports !== undefined && st.acked + st.refused >= o.maxReports) doneResolve()
    return r.body.type === 'platform_response' ? r.body.result : -1
  }

  async function login(): Promise<void> {
    if (st.authCode === undefined) {
      const r = await request({
        header: header(JT808_MSG.register),
        body: { type: 'register', province: 61, city: 100, makerId: 'SIMUL', model: `SC-${o.vehicle}`.slice(0, 20), terminalId: phone.slice(-7), plateColor: o.vehicle === 'taxi' ? 2 : 1, plate: o.plate ?? '陕A00000' },
      })
      if (r.body.type !== 'register_response' || r.body.result !== 0 || r.body.authCode === undefined) throw new Error(`registration refused (${JSON.stringify(r.body)})`)
      st.authCode = r.body.authCode
    }
    const a = await request({ header: header(JT808_MSG.auth), body: version === 2019 ? { type: 'auth', authCode: st.authCode, imei: '860000000000000', softwareVersion: 'sim-1.0' } : { type: 'auth', authCode: st.authCode } })
    if (a.body.type !== 'platform_response' || a.body.result !== 0) throw new Error('authentication refused')
    st.authenticated = true
  }

  function schedule(): void {
    const every = (o.intervalSec ?? 10) * 1000
    const tick = () => {
      if (stopped) return
      if (o.maxReports !== undefined && st.sent >= o.maxReports) return
      report().catch((e: Error) => o.onError?.(e))
      timer = setTimeout(tick, every)
    }
    // Spread terminals over the interval so a fleet does not report in lock-step.
    timer = setTimeout(tick, Math.floor(random() * every))
    const hbEvery = (o.heartbeatSec ?? 60) * 1000
    hbTimer = setInterval(() => {
      if (stopped || !st.authenticated || Date.now() - lastSent < hbEvery) return
      request({ header: header(JT808_MSG.heartbeat), body: { type: 'heartbeat' } }).catch((e: Error) => o.onError?.(e))
    }, hbEvery)
  }

  async function dial(): Promise<void> {
    socket = await dialFramed({
      host: o.host,
      port: o.port,
      localAddress: o.localAddress,
      framer: createJt808Framer(),
      onFrame,
      onError: o.onError,
      onClose() {
        st.authenticated = false
        waiting.failAll(new Error('connection closed'))
        if (!stopped && o.reconnect) {
          clearTimeout(timer)
          clearInterval(hbTimer)
          setTimeout(() => {
            if (!stopped) start().catch((e: Error) => o.onError?.(e))
          }, 1000 + Math.floor(random() * 2000)).unref()
        }
      },
    })
    st.connects++
  }

  async function start(): Promise<void> {
    await dial()
    await login()
    if (o.autoReport !== false) schedule()
  }

  return {
    start,
    async report() {
      return report()
    },
    async stop() {
      stopped = true
      clearTimeout(timer)
      clearInterval(hbTimer)
      await hangUp(socket)
    },
    stats: () => ({ ...st }),
    done: () => donePromise,
    raw(bytes) {
      if (!socket || socket.destroyed || !st.authenticated) return false
      socket.write(bytes)
      return true
    },
  }
}
