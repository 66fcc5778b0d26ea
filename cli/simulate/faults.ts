/**
 * Faults of a simulated run on a schedule (`at`, `for`): the scheduler and the handlers by fault type.
 *
 * System faults (the gateway, InfluxDB) are handled here with the runner's processes; device faults go
 * through `deviceFaults`, one handler per device fault type, called with the fault, the device entry that
 * has the fault's `device` (its simulator running) and the run's speed and notes. A device handler applies
 * the fault, waits for it to be over (or returns at once for a fault without a duration) and says which
 * refusals the fault made the gateway give (`expectedRefusals`: reason -> count), so that
 * `no_unexpected_refusals` allows exactly those. It throws an Error whose message says why it could not
 * apply the fault (the scheduler names the fault and the device before it).
 *
 * Times in the scenario are scenario time: the scheduler divides them by `--speed`.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Influxd } from '../influxd.ts'
import type { Planned } from './devices.ts'
import type { gatewayProcess } from './gateway-process.ts'
import type { Fault } from './scenario.ts'

/** A fault on one device (it names the device). */
export type DeviceFault = Extract<Fault, { device: string }>

/** What a device fault handler gets besides the fault and its device entry. */
export interface DeviceFaultEnv {
  speed: number
  note(s: string): void
}

export interface DeviceFaultResult {
  /** Refusals the fault made the gateway give (e.g. bad frames sent): reason -> count. */
  expectedRefusals?: Record<string, number>
}

export type DeviceFaultHandler<F extends DeviceFault = DeviceFault> = (f: F, target: Planned, env: DeviceFaultEnv) => Promise<DeviceFaultResult>

/** One handler per device fault type (a new device fault type in scenario.ts needs its entry here). */
export type DeviceFaults = { [K in DeviceFault['type']]: DeviceFaultHandler<Extract<DeviceFault, { type: K }>> }

const lasting = (ms: number, speed: number) => `${Math.round(ms / speed / 100) / 10} s`

export const deviceFaults: DeviceFaults = {
  async device_silent(f, target, env) {
    if (!target.handle?.silence?.(f.device, f.for / env.speed)) throw new Error('this kind of device cannot be silenced yet')
    env.note(`fault: device ${f.device} silent for ${lasting(f.for, env.speed)}`)
    await sleep(f.for / env.speed)
    env.note(`fault over: device ${f.device} reporting again`)
    return {}
  },
}

type GatewayProcess = ReturnType<typeof gatewayProcess>

/** The runner's processes the system faults act on (absent: the runner did not start it). */
export interface FaultTargets {
  plan: Planned[]
  gateway?: GatewayProcess | undefined
  influx?: Influxd | undefined
  /** The gateway was started again after a kill. */
  onGatewayRestart?(): void
}

export interface FaultSchedule {
  /** Stop scheduling what has not started, wait for the faults under way to end. */
  stop(): Promise<void>
  /** Faults that could not be applied, and why. */
  problems: string[]
  /** Refusals the device faults caused: reason -> count. */
  expectedRefusals: Map<string, number>
  /** Fault occurrences started so far. */
  applied(): number
  /** Fault occurrences the schedule holds. */
  planned: number
}

export interface ScheduleOptions {
  speed: number
  note(s: string): void
  targets: FaultTargets
  /** Device fault handlers (default: `deviceFaults`). */
  devices?: DeviceFaults
}

const isDeviceFault = (f: Fault): f is DeviceFault => 'device' in f

/** Start the faults' timers now (the run's start); `stop` at the end of the run. */
export function scheduleFaults(faults: readonly Fault[], o: ScheduleOptions): FaultSchedule {
  const { speed, note, targets } = o
  const handlers = o.devices ?? deviceFaults
  const problems: string[] = []
  const expectedRefusals = new Map<string, number>()
  const pending: Promise<void>[] = []
  const timers: NodeJS.Timeout[] = []
  let applied = 0

  async function device(f: DeviceFault): Promise<void> {
    const p = targets.plan.find((x) => x.ids.includes(f.device))
    if (!p?.handle) {
      problems.push(`${f.type} ${f.device}: ${p ? 'its simulator is not running' : 'no such device in the scenario'}`)
      return
    }
    const handler = handlers[f.type] as DeviceFaultHandler
    try {
      const r = await handler(f, p, { speed, note })
      for (const [reason, n] of Object.entries(r.expectedRefusals ?? {})) expectedRefusals.set(reason, (expectedRefusals.get(reason) ?? 0) + n)
    } catch (err) {
      problems.push(`${f.type} ${f.device}: ${(err as Error).message}`)
    }
  }

  async function apply(f: Fault): Promise<void> {
    if (isDeviceFault(f)) return device(f)
    if (f.type === 'gateway_kill') {
      const gw = targets.gateway
      if (!gw) {
        problems.push('gateway_kill: the runner did not start the gateway (--gateway URL)')
        return
      }
      const pid = gw.pid()
      await gw.kill('SIGKILL')
      note(`fault: gateway killed (SIGKILL, pid ${pid})`)
      await sleep(f.restart / speed)
      try {
        await gw.start()
        targets.onGatewayRestart?.()
        note(`fault over: gateway started again from its spool (pid ${gw.pid()})`)
      } catch (err) {
        problems.push(`gateway_kill: the gateway did not start again: ${(err as Error).message}`)
      }
      return
    }
    const db = targets.influx
    if (!db) {
      problems.push('influxdb_stop: the runner did not start InfluxDB (the configuration names one)')
      return
    }
    await db.stop()
    note(`fault: InfluxDB stopped for ${lasting(f.for, speed)}`)
    await sleep(f.for / speed)
    await db.start()
    note('fault over: InfluxDB started again')
  }

  for (const f of faults) {
    timers.push(
      setTimeout(() => {
        applied++
        pending.push(apply(f).catch((err: Error) => void problems.push(`${f.type}: ${err.message}`)))
      }, f.at / speed),
    )
  }
  return {
    problems,
    expectedRefusals,
    applied: () => applied,
    planned: faults.length,
    async stop() {
      for (const t of timers) clearTimeout(t)
      await Promise.all(pending)
    },
  }
}
