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
  /** Each reply as it goes out (after its delay): what `smartcity simulate` takes as ground truth of a poll. */
  onReply?: (reply: Buffer, corrupt: boolean, delayMs: number) => void
}

export interface Dlt645Simulator {
  bus: MeterBus
  /** The next this many replies go out with a wrong checksum (a noisy line). */
  corruptNext: number
  /** Extra delay of every reply, ms (slow answers). */
  slowMs: number
  stop(): Promise<void>
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
    corruptNext: 0,
    slowMs: 0,
    async stop() {
      if (!port.isOpen) return
      await new Promise<void>((resolve) => port.close(() => resolve()))
    },
  }
  port.on('data', (chunk: Buffer) => {
    for (const good of bus.receive(chunk, now())) {
      let reply = good
      const corrupt = sim.corruptNext > 0
      if (corrupt) {
        sim.corruptNext--
        // The checksum byte (before the 0x16 end) off by one: the frame no longer adds up.
        reply = Buffer.from(good)
        reply[reply.length - 2] = (reply[reply.length - 2]! + 1) & 0xff
      }
      const delayMs = (o.replyDelayMs ?? 15) + sim.slowMs
      setTimeout(() => {
        if (!port.isOpen) return
        port.write(reply)
        o.onReply?.(good, corrupt, delayMs)
      }, delayMs)
    }
  })
  return sim
}
