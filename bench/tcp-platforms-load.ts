/**
 * Load generator for bench/tcp-platforms.ts, run in its own process so the gateway's RSS and CPU are its own:
 * N JT/T 808 terminals (register, authenticate, then a 0x0200 every `interval` s) and M HJ 212 stations (a
 * 2011 upload every `hjInterval` s, Flag=5). Measures frame -> acknowledgement time on the client side and
 * prints one JSON line with the results.
 *
 * argv: jtPort hjPort terminals stations seconds interval hjInterval
 */
import { connect, type Socket } from 'node:net'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createJt808Framer, decodeJt808, encodeJt808, type Jt808Header, type Jt808Message } from '../devices/position/jt808/index.ts'
import { createHj212Framer, dataCp, decodeHj212, encodeHj212, formatHj212Time } from '../devices/water-quality/hj212/index.ts'

const [jtPort, hjPort, terminals, stations, seconds, interval, hjInterval] = process.argv.slice(2).map(Number) as [number, number, number, number, number, number, number]

const latencies: number[] = []
/** This report window's acknowledgement times (a line every `REPORT_SEC` s). */
let windowLat: number[] = []
const REPORT_SEC = Number(process.env['BENCH_REPORT_SEC'] ?? 10)
let sent = 0
let acked = 0
let refused = 0
let hjSent = 0
let hjAcked = 0
let errors = 0
let sending = true
const timers: NodeJS.Timeout[] = []

function terminal(i: number): Promise<Socket> {
  const phone = String(14_000_000_000 + i).padStart(12, '0')
  let serial = 0
  const pending = new Map<number, number>()
  let onAuth: ((ok: boolean) => void) | undefined
  let code: string | undefined
  const s = connect({ host: '127.0.0.1', port: jtPort })
  const framer = createJt808Framer()
  const h = (msgId: number): Jt808Header => {
    serial = (serial + 1) & 0xffff
    return { msgId, version: 2013, protocolVersion: 0, phone, serial, encryption: 0 }
  }
  s.on('error', () => errors++)
  // A refused or failed connection must not hang the whole connect phase.
  s.on('close', () => onAuth?.(false))
  const onMsg = (m: Jt808Message) => {
    const b = m.body
    if (b.type === 'register_response') {
      code = b.authCode
      s.write(encodeJt808({ header: h(0x0102), body: { type: 'auth', authCode: code ?? '' } }))
    } else if (b.type === 'platform_response') {
      if (b.ackMsgId === 0x0102) onAuth?.(b.result === 0)
      else if (b.ackMsgId === 0x0200) {
        const t0 = pending.get(b.ackSerial)
        if (t0 !== undefined) {
          pending.delete(b.ackSerial)
          const ms = performance.now() - t0
          latencies.push(ms)
          windowLat.push(ms)
          if (b.result === 0) acked++
          else refused++
        }
      }
    }
  }
  s.on('data', (d: Buffer) => {
    for (const e of framer.push(d)) {
      if (!e.ok) continue
      const m = decodeJt808(e.frame)
      if (m.ok) onMsg(m.value)
    }
  })
  return new Promise((resolve, reject) => {
    onAuth = (ok) => (ok ? resolve(s) : reject(new Error('auth refused')))
    s.once('connect', () => {
      s.write(encodeJt808({ header: h(0x0100), body: { type: 'register', province: 61, city: 100, makerId: 'BENCH', model: 'B1', terminalId: String(i).slice(-7), plateColor: 1, plate: '陕A12345' } }))
    })
    const report = () => {
      if (!sending) return
      const t = Date.now()
      const header = h(0x0200)
      pending.set(header.serial, performance.now())
      sent++
      s.write(
        encodeJt808({
          header,
          body: { type: 'location', alarm: 0, status: 2 | (1 << 19), latE6: 34_200_000 + (i % 1000) * 10, lonE6: 108_900_000 + (sent % 1000) * 10, altitudeM: 400, speed01: 300, courseDeg: 90, time: Math.floor(t / 1000) * 1000, items: [{ id: 1, value: sent }, { id: 0x31, value: 12 }] },
        }),
      )
    }
    onAuthStart.push(() => {
      const start = setTimeout(() => {
        report()
        timers.push(setInterval(report, interval * 1000))
      }, Math.random() * interval * 1000)
      timers.push(start)
    })
  })
}

function station(i: number): Promise<Socket> {
  const mn = `BENCHWQ${String(i).padStart(10, '0')}`
  const pending = new Map<string, number>()
  let lastQn = 0
  const s = connect({ host: '127.0.0.1', port: hjPort })
  const framer = createHj212Framer()
  s.on('error', () => errors++)
  s.on('data', (d: Buffer) => {
    for (const e of framer.push(d)) {
      if (!e.ok) continue
      const m = decodeHj212(e.frame)
      if (!m.ok || m.value.qn === undefined) continue
      const t0 = pending.get(m.value.qn)
      if (t0 !== undefined) {
        pending.delete(m.value.qn)
        const ms = performance.now() - t0
        latencies.push(ms)
        windowLat.push(ms)
        if (m.value.cn === '9014') hjAcked++
      }
    }
  })
  const upload = () => {
    if (!sending) return
    let t = Date.now()
    if (t <= lastQn) t = lastQn + 1
    lastQn = t
    const qn = formatHj212Time(t, true)
    pending.set(qn, performance.now())
    hjSent++
    s.write(encodeHj212({ qn, st: '21', cn: '2011', pw: 'bench', mn, flag: 5, cp: dataCp(Math.floor(t / 1000) * 1000, { w01001: { Rtd: '7.31', Flag: 'N' }, w01009: { Rtd: '8.2', Flag: 'N' }, w21003: { Rtd: '0.31', Flag: 'N' }, w01010: { Rtd: '17.5', Flag: 'N' } }) }))
  }
  return new Promise((resolve) => {
    s.once('connect', () => {
      onAuthStart.push(() => {
        timers.push(
          setTimeout(() => {
            upload()
            timers.push(setInterval(upload, hjInterval * 1000))
          }, Math.random() * hjInterval * 1000),
        )
      })
      resolve(s)
    })
  })
}

const onAuthStart: (() => void)[] = []

async function main(): Promise<void> {
  const t0 = performance.now()
  const socks: Socket[] = []
  const batch = 500
  for (let i = 0; i < terminals; i += batch) {
    socks.push(...(await Promise.all(Array.from({ length: Math.min(batch, terminals - i) }, (_, k) => terminal(i + k)))))
  }
  for (let i = 0; i < stations; i += batch) {
    socks.push(...(await Promise.all(Array.from({ length: Math.min(batch, stations - i) }, (_, k) => station(i + k)))))
  }
  const connectMs = performance.now() - t0
  process.stdout.write(`${JSON.stringify({ phase: 'connected', connectMs: Math.round(connectMs) })}\n`)
  // Wait for the parent to start its measurement window.
  await new Promise<void>((r) => process.stdin.once('data', () => r()))
  const lag = monitorEventLoopDelay({ resolution: 10 })
  lag.enable()
  for (const f of onAuthStart) f()
  const started = performance.now()
  const report = setInterval(() => {
    const w = windowLat.sort((a, b) => a - b)
    windowLat = []
    const wq = (p: number) => Math.round((w[Math.min(w.length - 1, Math.floor(p * w.length))] ?? 0) * 100) / 100
    process.stdout.write(
      `${JSON.stringify({ phase: 'window', t: Math.round((performance.now() - started) / 1000), acks: w.length, ackP50Ms: wq(0.5), ackP99Ms: wq(0.99), ackMaxMs: wq(1), sent: sent + hjSent, acked: acked + refused + hjAcked, errors })}\n`,
    )
  }, REPORT_SEC * 1000)
  await new Promise((r) => setTimeout(r, seconds * 1000))
  clearInterval(report)
  sending = false
  lag.disable()
  for (const t of timers) clearTimeout(t)
  // Let the last acknowledgements arrive.
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline && (acked + refused < sent || hjAcked < hjSent)) await new Promise((r) => setTimeout(r, 100))
  latencies.sort((a, b) => a - b)
  const q = (p: number) => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0) * 100) / 100
  process.stdout.write(
    `${JSON.stringify({ phase: 'done', jt808Sent: sent, jt808Acked: acked, jt808Refused: refused, hj212Sent: hjSent, hj212Acked: hjAcked, errors, ackP50Ms: q(0.5), ackP99Ms: q(0.99), ackMaxMs: q(1), clientLoopLagP99Ms: Math.round(lag.percentile(99) / 1e4) / 100, connectMs: Math.round(connectMs) })}\n`,
  )
  for (const s of socks) s.destroy()
  process.exit(0)
}

main().catch((err: unknown) => {
  process.stdout.write(`${JSON.stringify({ phase: 'error', error: String(err) })}\n`)
  process.exit(1)
})
