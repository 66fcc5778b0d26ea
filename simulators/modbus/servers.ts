/**
 * Transports of the simulators: a Modbus TCP server (MBAP) and an RTU bus on any Duplex (a pseudo-terminal
 * from socat, a serial port). Our own small servers rather than modbus-serial's ServerTCP: they run the very
 * codecs the gateway reads with, and they can misbehave on purpose (no answer, exceptions, CRC errors, slow
 * answers), which ServerTCP cannot.
 */
import { createServer, type Server, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { createMbapFramer, encodeMbap } from '../../devices/common/modbus/mbap.ts'
import { decodeRequest, encodeResponse, type Request, type Response } from '../../devices/common/modbus/pdu.ts'
import type { RegisterValue } from '../../devices/common/modbus/registers.ts'
import { createRtuFramer, encodeRtu } from '../../devices/common/modbus/rtu.ts'
import { faultNow, type Slave } from './slave.ts'

export interface SimCounters {
  requests: number
  answers: number
  faults: number
  badFrames: number
}

/** One answer a simulator sent (or broke): what `smartcity simulate` takes as ground truth of a poll. */
export interface AnswerEvent {
  unit: number
  request: Request
  response: Response
  /** The model time the answer was computed at (the simulator's clock). */
  t: number
  /** The device model's values at `t`, by point name (what the registers were filled from). */
  values?: ReadonlyMap<string, RegisterValue>
  corrupt: boolean
  delayMs: number
}

export interface ServerOptions {
  now?: () => number
  /** Each answer, as it is sent (after its delay). */
  onAnswer?: (a: AnswerEvent) => void
}

function answer(slave: Slave, pdu: Buffer, now: () => number): { res: Response; delayMs: number; corrupt: boolean; req?: Request; t: number; values?: ReadonlyMap<string, RegisterValue> } | undefined {
  const f = faultNow(slave)
  if (f.kind === 'silent') return undefined
  const d = decodeRequest(pdu)
  if (!d.ok) return { res: { fc: pdu[0] ?? 0, exception: d.reason === 'unsupported_function' ? 1 : 3, name: d.reason }, delayMs: 0, corrupt: false, t: 0 }
  if (f.kind === 'exception') return { res: { fc: d.value.fc, exception: f.code, name: '' }, delayMs: 0, corrupt: false, req: d.value, t: 0 }
  const t = now()
  const res = slave.handle(d.value, t)
  let corrupt = f.kind === 'crc'
  if (slave.corruptNext > 0) {
    slave.corruptNext--
    corrupt = true
  }
  return { res, delayMs: f.kind === 'slow' ? f.delayMs : 0, corrupt, req: d.value, t, values: slave.model.values(t) }
}

const report = (o: ServerOptions, unit: number, a: NonNullable<ReturnType<typeof answer>>) => {
  if (a.req) o.onAnswer?.({ unit, request: a.req, response: a.res, t: a.t, corrupt: a.corrupt, delayMs: a.delayMs, ...(a.values ? { values: a.values } : {}) })
}

export interface TcpSimulator {
  host: string
  port: number
  counters: SimCounters
  close(): Promise<void>
}

/** A Modbus TCP server serving `slaves` by unit id (a TCP gateway to an RS-485 bus, or one device). */
export async function startTcpSimulator(opts: { host?: string; port: number; slaves: Map<number, Slave> } & ServerOptions): Promise<TcpSimulator> {
  const host = opts.host ?? '127.0.0.1'
  const now = opts.now ?? Date.now
  const counters: SimCounters = { requests: 0, answers: 0, faults: 0, badFrames: 0 }
  const sockets = new Set<Socket>()
  const server: Server = createServer((sock) => {
    sockets.add(sock)
    sock.setNoDelay(true)
    const framer = createMbapFramer()
    sock.on('close', () => sockets.delete(sock))
    sock.on('error', () => sock.destroy())
    sock.on('data', (chunk: Buffer) => {
      for (const ev of framer.push(chunk)) {
        if (!ev.ok) {
          counters.badFrames++
          sock.destroy()
          return
        }
        counters.requests++
        const slave = opts.slaves.get(ev.frame.unit)
        // A unit nobody answers for: a TCP gateway would say "target failed to respond" (exception 11).
        const a = slave ? answer(slave, ev.frame.pdu, now) : { res: { fc: ev.frame.pdu[0] ?? 0, exception: 11, name: '' }, delayMs: 0, corrupt: false, t: 0 }
        if (!a) {
          counters.faults++
          continue
        }
        let bytes = encodeMbap(ev.frame.transaction, ev.frame.unit, encodeResponse(a.res))
        if (a.corrupt) {
          // No CRC on TCP: corruption shows as a header that breaks the rules.
          bytes = Buffer.from(bytes)
          bytes[2] = 0xff
          counters.faults++
        }
        const send = () => {
          if (!sock.destroyed) sock.write(bytes)
          counters.answers++
          report(opts, ev.frame.unit, a)
        }
        if (a.delayMs > 0) {
          counters.faults++
          setTimeout(send, a.delayMs)
        } else send()
      }
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port, host, () => resolve())
  })
  const addr = server.address()
  return {
    host,
    port: addr && typeof addr === 'object' ? addr.port : opts.port,
    counters,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}

export interface RtuSimulator {
  counters: SimCounters
  stop(): void
}

/**
 * RTU slaves on one bus (any Duplex). Only units present answer; a request to another unit meets silence,
 * as on a real RS-485 line. The answer follows after a short turnaround, like a real device.
 */
export function attachRtuSimulator(stream: Duplex, slaves: Map<number, Slave>, opts: ServerOptions & { turnaroundMs?: number } = {}): RtuSimulator {
  const now = opts.now ?? Date.now
  const counters: SimCounters = { requests: 0, answers: 0, faults: 0, badFrames: 0 }
  const framer = createRtuFramer('request')
  const timers = new Set<NodeJS.Timeout>()
  const onData = (chunk: Buffer) => {
    for (const ev of framer.push(chunk)) {
      if (!ev.ok) {
        counters.badFrames++
        continue
      }
      counters.requests++
      const slave = slaves.get(ev.frame.unit)
      if (!slave) continue
      const a = answer(slave, ev.frame.pdu, now)
      if (!a) {
        counters.faults++
        continue
      }
      const bytes = Buffer.from(encodeRtu(ev.frame.unit, encodeResponse(a.res)))
      if (a.corrupt) {
        bytes[bytes.length - 1]! ^= 0x5a
        counters.faults++
      }
      if (a.delayMs > 0) counters.faults++
      const t = setTimeout(() => {
        timers.delete(t)
        if (!stream.destroyed) stream.write(bytes)
        counters.answers++
        report(opts, ev.frame.unit, a)
      }, (opts.turnaroundMs ?? 2) + a.delayMs)
      timers.add(t)
    }
  }
  stream.on('data', onData)
  return {
    counters,
    stop() {
      stream.off('data', onData)
      for (const t of timers) clearTimeout(t)
    },
  }
}

/**
 * A transparent serial server (RS-485 to Ethernet converter): RTU frames over TCP, one bus shared by every
 * connection, as the gateway's `modbus-rtu-over-tcp` source expects.
 */
export async function startRtuOverTcpSimulator(opts: { host?: string; port: number; slaves: Map<number, Slave> } & ServerOptions): Promise<TcpSimulator> {
  const host = opts.host ?? '127.0.0.1'
  const counters: SimCounters = { requests: 0, answers: 0, faults: 0, badFrames: 0 }
  const sockets = new Set<Socket>()
  const server: Server = createServer((sock) => {
    sockets.add(sock)
    const sim = attachRtuSimulator(sock, opts.slaves, opts)
    sock.on('error', () => sock.destroy())
    sock.on('close', () => {
      sockets.delete(sock)
      sim.stop()
      for (const k of Object.keys(counters) as (keyof SimCounters)[]) counters[k] += sim.counters[k]
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port, host, () => resolve())
  })
  return {
    host,
    port: opts.port,
    counters,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}
