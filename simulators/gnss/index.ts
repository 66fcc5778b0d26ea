/**
 * The GNSS receiver simulator on a serial port (one end of a socat pty pair): writes one NMEA epoch per
 * second (or `rateHz`), on whole seconds of the clock, like a real receiver at 9600 baud.
 */
import { SerialPort } from 'serialport'
import { createGnssReceiver, type EpochTruth, type GnssReceiver, type GnssReceiverOptions } from './receiver.ts'

export type { EpochTruth, GnssReceiverOptions } from './receiver.ts'

export interface GnssSimulatorOptions extends GnssReceiverOptions {
  path: string
  /** A receiver to keep driving (the same vehicle after its port was re-plugged). */
  receiver?: GnssReceiver
  baudRate?: number
  rateHz?: number
  now?: () => number
  /** Called with every epoch written (tests compare it with what the gateway and gpsd saw). */
  onEpoch?: (e: { lines: string[]; truth: EpochTruth }) => void
}

export interface GnssSimulator {
  receiver: GnssReceiver
  readonly epochs: number
  /** Write raw text on the line now (fault injection: a sentence with a wrong checksum, cut short, garbage). */
  write(text: string): boolean
  stop(): Promise<void>
}

export async function startGnssSimulator(o: GnssSimulatorOptions): Promise<GnssSimulator> {
  const now = o.now ?? Date.now
  const receiver = o.receiver ?? createGnssReceiver(o)
  const port = new SerialPort({ path: o.path, baudRate: o.baudRate ?? 9600, autoOpen: false })
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())))
  port.on('error', () => {
    // the pty went away: the simulator is being stopped
  })
  port.on('data', () => {
    // receivers ignore what they do not understand (gpsd sends probes)
  })
  const periodMs = 1000 / (o.rateHz ?? 1)
  let epochs = 0
  let timer: NodeJS.Timeout | undefined
  let running = true
  const tick = () => {
    if (!running) return
    const e = receiver.epoch(now())
    epochs++
    o.onEpoch?.(e)
    if (port.isOpen) port.write(e.lines.join(''))
    timer = setTimeout(tick, periodMs - (now() % periodMs) + 5)
  }
  timer = setTimeout(tick, periodMs - (now() % periodMs) + 5)
  return {
    receiver,
    get epochs() {
      return epochs
    },
    write(text) {
      if (!port.isOpen) return false
      port.write(text)
      return true
    },
    async stop() {
      running = false
      if (timer) clearTimeout(timer)
      if (!port.isOpen) return
      await new Promise<void>((resolve) => port.close(() => resolve()))
    },
  }
}
