/**
 * The DL/T 645 bus simulator on a serial port (one end of a socat pty pair): answers the master's requests
 * after a short turnaround delay, like meters on RS-485.
 */
import { SerialPort } from 'serialport'
import { createMeterBus, type MeterBus, type SimMeterOptions } from './bus.ts'

export type { SimMeterOptions } from './bus.ts'

export interface Dlt645SimulatorOptions {
  /** The serial device to answer on (the simulator's end of the pty pair). */
  path: string
  meters: SimMeterOptions[]
  baudRate?: number
  parity?: 'none' | 'even' | 'odd'
  /** Turnaround before a meter answers (ms, default 15). */
  replyDelayMs?: number
  preamble?: number
  now?: () => number
  /** A bus to keep answering with (the same meters after the port was re-plugged). */
  bus?: MeterBus
  /** Fault state to keep across a re-plug (Dlt645Simulator corruptNext, slowMs). */
  faults?: { corruptNext: Map<string, number>; slowMs: Map<string, number> }
  /** Each reply as it goes out (after its delay): what `smartcity simulate` takes as ground truth of a poll. */
  onReply?: (reply: Buffer, corrupt: boolean, delayMs: number, sent: Buffer) => void
}

export interface Dlt645Simulator {
  bus: MeterBus
  /** By meter address: its next this many read replies go out with a wrong checksum (a noisy line). */
  corruptNext: Map<string, number>
  /** By meter address: extra delay of its replies, ms (slow answers). */
  slowMs: Map<string, number>
  stop(): Promise<void>
}

/** A reply with its checksum byte (before the 0x16 end) off by one: the frame no longer adds up. */
export function corruptChecksum(reply: Buffer): Buffer {
  const b = Buffer.from(reply)
  b[b.length - 2] = (b[b.length - 2]! + 1) & 0xff
  return b
}

export async function startDlt645Simulator(o: Dlt645SimulatorOptions): Promise<Dlt645Simulator> {
  const now = o.now ?? Date.now
  const bus = o.bus ?? createMeterBus({ meters: o.meters, startMs: now(), ...(o.preamble !== undefined ? { preamble: o.preamble } : {}) })
  const port = new SerialPort({ path: o.path, baudRate: o.baudRate ?? 2400, dataBits: 8, parity: o.parity ?? 'even', stopBits: 1, autoOpen: false })
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())))
  port.on('error', () => {
    // the pty went away: the simulator is being stopped
  })
  const sim: Dlt645Simulator = {
    bus,
    corruptNext: o.faults?.corruptNext ?? new Map(),
    slowMs: o.faults?.slowMs ?? new Map(),
    async stop() {
      if (!port.isOpen) return
      await new Promise<void>((resolve) => port.close(() => resolve()))
    },
  }
  port.on('data', (chunk: Buffer) => {
    for (const good of bus.receive(chunk, now())) {
      const address = bus.replyFields(good)?.address
      const left = address === undefined ? 0 : (sim.corruptNext.get(address) ?? 0)
      const corrupt = left > 0
      if (corrupt) sim.corruptNext.set(address!, left - 1)
      const reply = corrupt ? corruptChecksum(good) : good
      const delayMs = (o.replyDelayMs ?? 15) + (address === undefined ? 0 : (sim.slowMs.get(address) ?? 0))
      setTimeout(() => {
        if (!port.isOpen) return
        port.write(reply)
        o.onReply?.(good, corrupt, delayMs, reply)
      }, delayMs)
    }
  })
  return sim
}
