/**
 * Modbus simulators: devices from the built-in profiles (or any profile) on a Modbus TCP server or an RTU bus
 * on a pseudo-terminal, with injectable faults.
 */
import { SerialPort } from 'serialport'
import type { ModbusProfile } from '../../devices/common/modbus/profile.ts'
import { type RtuSimulator, attachRtuSimulator, type ServerOptions, startRtuOverTcpSimulator, startTcpSimulator, type TcpSimulator } from './servers.ts'
import { createSlave, type Fault, type Slave } from './slave.ts'
import type { ModelOptions } from './model.ts'

export { createModel, loadCurve } from './model.ts'
export { startPtyPair, type PtyPair } from './pty.ts'
export { type AnswerEvent, attachRtuSimulator, type ServerOptions, startRtuOverTcpSimulator, startTcpSimulator } from './servers.ts'
export { createSlave, type Fault, type Slave } from './slave.ts'

export interface SimDevice {
  unit: number
  profile: ModbusProfile
  fault?: Fault
  faultRate?: number
  /** The behaviour model's seed and rating (model.ts; default: seeded by the unit). */
  model?: ModelOptions
}

function slaves(devices: SimDevice[]): Map<number, Slave> {
  return new Map(
    devices.map((d) => {
      const s = createSlave(d.profile, d.unit, d.model ?? {})
      if (d.fault) s.fault = d.fault
      if (d.faultRate !== undefined) s.faultRate = d.faultRate
      return [d.unit, s]
    }),
  )
}

export async function simulateTcp(opts: { port: number; host?: string; devices: SimDevice[] } & ServerOptions): Promise<TcpSimulator & { slaves: Map<number, Slave> }> {
  const map = slaves(opts.devices)
  const sim = await startTcpSimulator({ ...opts, slaves: map })
  return { ...sim, slaves: map }
}

/** RTU slaves behind a transparent serial server (RTU frames over TCP). */
export async function simulateRtuOverTcp(opts: { port: number; host?: string; devices: SimDevice[] } & ServerOptions): Promise<TcpSimulator & { slaves: Map<number, Slave> }> {
  const map = slaves(opts.devices)
  const sim = await startRtuOverTcpSimulator({ ...opts, slaves: map })
  return { ...sim, slaves: map }
}

/** RTU slaves on a serial device (one end of a socat pty pair); `slaves` keeps the devices' state across a re-plug. */
export async function simulateRtu(opts: { path: string; baudRate?: number; devices: SimDevice[]; slaves?: Map<number, Slave> } & ServerOptions): Promise<RtuSimulator & { slaves: Map<number, Slave>; close(): Promise<void> }> {
  const map = opts.slaves ?? slaves(opts.devices)
  const port = new SerialPort({ path: opts.path, baudRate: opts.baudRate ?? 9600, autoOpen: false })
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())))
  const sim = attachRtuSimulator(port, map, opts)
  return {
    ...sim,
    slaves: map,
    async close() {
      sim.stop()
      if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()))
    },
  }
}
