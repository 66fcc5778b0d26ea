/**
 * Faults of a simulated run on a schedule (`at`, `every`, `for`): the scheduler and the handlers by fault
 * type. A fault with `every` comes again every so often until the end of the run (one occurrence at a time:
 * the scenario refuses an `every` not longer than `for`).
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
import { deviceFaults as deviceLevel } from './device-faults.ts'
import type { gatewayProcess } from './gateway-process.ts'
import type { Mosquitto } from './mosquitto.ts'
import type { TcpProxy } from './proxy.ts'
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
  // Broken frames, slow answers, a pulled serial port, a skewed clock: cli/simulate/device-faults.ts.
  bad_frames: deviceLevel.bad_frames,
  slow_answers: deviceLevel.slow_answers,
  serial_unplug: deviceLevel.serial_unplug,
  clock_skew: deviceLevel.clock_skew,
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
  /** The external Mosquitto the runner started (scenarios with `broker_restart`). */
  broker?: Mosquitto | undefined
  /** The proxy between the gateway and InfluxDB (scenarios with `influx_network`). */
  influxProxy?: TcpProxy | undefined
  /** Just before the gateway is killed (read what dies with it: its metrics). */
  beforeGatewayKill?(): Promise<void>
  /** The gateway was started again after a kill. */
  onGatewayRestart?(): void
}

/** One occurrence of a fault: which (`index` in `faults:`), when it started and ended (epoch ms). */
export interface Occurrence {
  index: number
  type: Fault['type']
  start: number
  end?: number
  /** Not applied (see the schedule's problems). */
  failed?: boolean
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
  /** Every occurrence so far, in order of start. */
  occurrences: Occurrence[]
  /** Fault occurrences the schedule holds. */
  planned: number
}

export interface ScheduleOptions {
  speed: number
  /** The run's length in wall-clock ms (`every` repeats until then). */
  durationMs: number
  note(s: string): void
  targets: FaultTargets
  /** Device fault handlers (default: `deviceFaults`). */
  devices?: Partial<DeviceFaults>
}

const isDeviceFault = (f: Fault): f is DeviceFault => 'device' in f

/** Start the faults' timers now (the run's start); `stop` at the end of the run. */
export function scheduleFaults(faults: readonly Fault[], o: ScheduleOptions): FaultSchedule {
  const { speed, note, targets } = o
  const handlers = o.devices ?? deviceFaults
  const problems: string[] = []
  const expectedRefusals = new Map<string, number>()
  const occurrences: Occurrence[] = []
  const pending: Promise<void>[] = []
  const ac = new AbortController()
  const t0 = Date.now()

  /** Apply one occurrence; false when it could not be applied (the reason is in `problems`). */
  async function device(f: DeviceFault): Promise<boolean> {
    const p = targets.plan.find((x) => x.ids.includes(f.device))
    if (!p?.handle) {
      problems.push(`${f.type} ${f.device}: ${p ? 'its simulator is not running' : 'no such device in the scenario'}`)
      return false
    }
    const handler = handlers[f.type] as DeviceFaultHandler | undefined
    if (!handler) {
      problems.push(`${f.type} ${f.device}: no handler for this fault type`)
      return false
    }
    try {
      const r = await handler(f, p, { speed, note })
      for (const [reason, n] of Object.entries(r.expectedRefusals ?? {})) expectedRefusals.set(reason, (expectedRefusals.get(reason) ?? 0) + n)
      return true
    } catch (err) {
      problems.push(`${f.type} ${f.device}: ${(err as Error).message}`)
      return false
    }
  }

  const missing = (what: string): false => {
    problems.push(what)
    return false
  }

  async function apply(f: Fault): Promise<boolean> {
    if (isDeviceFault(f)) return device(f)
    if (f.type === 'gateway_kill') {
      const gw = targets.gateway
      if (!gw) return missing('gateway_kill: the runner did not start the gateway (--gateway URL)')
      await targets.beforeGatewayKill?.().catch(() => undefined)
      const pid = gw.pid()
      await gw.kill('SIGKILL')
      note(`fault: gateway killed (SIGKILL, pid ${pid})`)
      await sleep(f.restart / speed)
      try {
        await gw.start()
        targets.onGatewayRestart?.()
        note(`fault over: gateway started again from its spool (pid ${gw.pid()})`)
      } catch (err) {
        return missing(`gateway_kill: the gateway did not start again: ${(err as Error).message}`)
      }
      return true
    }
    if (f.type === 'influxdb_stop') {
      const db = targets.influx
      if (!db) return missing('influxdb_stop: the runner did not start InfluxDB (the configuration names one)')
      await db.stop()
      note(`fault: InfluxDB stopped for ${lasting(f.for, speed)}`)
      await sleep(f.for / speed)
      await db.start()
      note('fault over: InfluxDB started again')
      return true
    }
    if (f.type === 'broker_restart') {
      const b = targets.broker
      if (!b) return missing('broker_restart: the runner has no MQTT broker of its own to restart (--gateway URL, or Mosquitto missing or not starting)')
      const pid = b.pid()
      await b.stop()
      note(`fault: MQTT broker stopped (Mosquitto pid ${pid}) for ${lasting(f.for, speed)}`)
      await sleep(f.for / speed)
      await b.start()
      note(`fault over: MQTT broker started again (pid ${b.pid()})`)
      return true
    }
    const px = targets.influxProxy
    if (!px) return missing('influx_network: the runner does not own the network to InfluxDB (--gateway URL)')
    px.set(f.mode === 'drop' ? { mode: 'drop' } : { mode: 'delay', delayMs: f.delay_ms })
    note(`fault: network to InfluxDB ${f.mode === 'drop' ? 'dropped (connections refused)' : `delayed by ${f.delay_ms} ms each way`} for ${lasting(f.for, speed)}`)
    await sleep(f.for / speed)
    px.set({ mode: 'pass' })
    note('fault over: network to InfluxDB back to normal')
    return true
  }

  /** The times (scenario ms) a fault starts at: `at`, then every `every` before the end of the run. */
  const times = (f: Fault): number[] => {
    if (f.every === undefined || f.every <= 0) return [f.at]
    const out: number[] = []
    for (let t = f.at; t < o.durationMs * speed && out.length < 10_000; t += f.every) out.push(t)
    return out
  }

  let planned = 0
  faults.forEach((f, index) => {
    const at = times(f)
    planned += at.length
    const run = async () => {
      for (const t of at) {
        const wait = t0 + t / speed - Date.now()
        if (wait > 0) await sleep(wait, undefined, { signal: ac.signal })
        if (ac.signal.aborted) return
        const occ: Occurrence = { index, type: f.type, start: Date.now() }
        occurrences.push(occ)
        const ok = await apply(f).catch((err: Error) => missing(`${f.type}: ${err.message}`))
        occ.end = Date.now()
        if (!ok) occ.failed = true
      }
    }
    pending.push(run().catch((err: Error) => void (err.name === 'AbortError' ? undefined : problems.push(`${f.type}: ${err.message}`))))
  })
  return {
    problems,
    expectedRefusals,
    applied: () => occurrences.length,
    occurrences,
    planned,
    async stop() {
      ac.abort()
      await Promise.all(pending)
    },
  }
}
