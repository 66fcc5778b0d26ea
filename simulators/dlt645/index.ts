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
}

export interface Dlt645Simulator {
  bus: MeterBus
  stop(): Promise<void>
}

export async function startDlt645Simulator(o: Dlt645SimulatorOptions): Promise<Dlt645Simulator> {
  const now = o.now ?? Date.now
  const bus = createMeterBus({ meters: o.meters, startMs: now(), ...(o.preamble !== undefined ? { preamble: o.preamble } : {}) })
  const port = new SerialPort({ path: o.path, baudRate: o.baudRate ?? 2400, dataBits: 8, parity: o.parity ?? 'even', stopBits: 1, autoOpen: false })
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())))
  port.on('error', () => {
    // the pty went away: the simulator is being stopped
  })
  port.on('data', (chunk: Buffer) => {
    for (const reply of bus.receive(chunk, now())) {
      setTimeout(() => {
        if (port.isOpen) port.write(reply)
      }, o.replyDelayMs ?? 15)
    }
  })
  return {
    bus,
    async stop() {
      if (!port.isOpen) return
      await new Promise<void>((resolve) => port.close(() => resolve()))
    },
  }
}
