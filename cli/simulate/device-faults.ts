/**
 * Device-level faults of a scenario (README "Simulated districts in CI"): the handlers by fault type that
 * the fault scheduler (cli/simulate/faults.ts) calls at `at`, each resolving once the fault is over with the
 * refusals it caused the gateway to make (reason -> count: what the `no_unexpected_refusals` assertion
 * allows, up to that count). The work is the demo parts' hooks (cli/demo-parts/types.ts DemoPartHandle):
 *
 * - `bad_frames` (`kind` crc | truncated | garbage; `count`, or `rate` per device period for `for`): the
 *   device sends broken frames (MQTT JSON: garbage or cut-off payloads; JT/T 808, HJ 212, ETC RSU, NMEA:
 *   wrong check code, cut short, garbage) or its next answers go out broken (Modbus, DL/T 645: a wrong
 *   CRC/checksum). The refusals expected are what the protocol's own framer and decoder say of the bytes.
 * - `slow_answers` (`delay_ms`, `for`): a polled device answers late; answers the gateway may have given up
 *   on are refusals it is allowed (late or misframed replies), and no ground truth.
 * - `serial_unplug` (`for`): the pty closed and made again at the same path (a USB adapter pulled and
 *   plugged back); what the device sent meanwhile is no ground truth.
 * - `clock_skew` (`offset_ms`, `for`): the device's clock runs off; its readings carry the skewed time and
 *   must be stored with it.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { rng } from '../../simulators/water-quality/model.ts'
import { addRefusals } from '../demo-parts/bad-frames.ts'
import type { Planned } from './devices.ts'
import type { DeviceFault } from './scenario.ts'

export interface DeviceFaultEnv {
  speed: number
  note(s: string): void
}

export type DeviceFaultHandler = (f: DeviceFault, target: Planned, env: DeviceFaultEnv) => Promise<{ expectedRefusals?: Record<string, number> }>

/** A device's reporting (or polling) period on the wall clock. */
function periodOf(p: Planned, speed: number): number {
  return Math.max(50, (p.entry.period ?? 1_000) / speed)
}

const secs = (ms: number) => `${Math.round(ms / 100) / 10} s`

/** Answers of `device` are no ground truth until `until` (wall ms). */
function unheard(p: Planned, device: string, until: number): void {
  p.unheard?.set(device, Math.max(p.unheard.get(device) ?? 0, until))
}

function hook<K extends 'badFrame' | 'slowAnswers' | 'unplug' | 'clockSkew'>(p: Planned, name: K, what: string): NonNullable<NonNullable<Planned['handle']>[K]> {
  const h = p.handle
  if (!h) throw new Error(`${what}: the simulator of ${p.label} is not running`)
  const f = h[name]
  if (!f) throw new Error(`${what}: ${p.label} devices cannot do this`)
  return f.bind(h) as NonNullable<NonNullable<Planned['handle']>[K]>
}

export const deviceFaults: Record<DeviceFault['type'], DeviceFaultHandler> = {
  async bad_frames(f, p, env) {
    if (f.type !== 'bad_frames') throw new Error('not a bad_frames fault')
    const send = hook(p, 'badFrame', `bad_frames ${f.kind} ${f.device}`)
    const period = periodOf(p, env.speed)
    const expected: Record<string, number> = {}
    let sent = 0
    const one = async () => {
      const r = await send(f.device, f.kind)
      if (r === undefined) throw new Error(`bad_frames ${f.kind} ${f.device}: ${p.label} cannot send ${f.kind} frames (or is not connected)`)
      addRefusals(expected, r)
      sent++
    }
    if (f.count !== undefined) {
      env.note(`fault: device ${f.device} sends ${f.count} bad frame(s) (${f.kind})`)
      for (let i = 0; i < f.count; i++) {
        await one()
        if (i < f.count - 1) await sleep(period)
      }
    } else {
      const forMs = (f.for ?? 0) / env.speed
      env.note(`fault: device ${f.device} sends bad frames (${f.kind}) at rate ${f.rate} for ${secs(forMs)}`)
      // Seeded by the device id: a scenario breaks the same periods every run.
      const r = rng([...f.device].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16_777_619), 2_166_136_261))
      const end = Date.now() + forMs
      while (Date.now() < end) {
        if (r() < (f.rate ?? 0)) await one()
        await sleep(Math.min(period, Math.max(0, end - Date.now())))
      }
    }
    env.note(`fault over: device ${f.device} sent ${sent} bad frame(s); refusals allowed: ${Object.entries(expected).map(([k, v]) => `${k} x${v}`).join(', ') || 'none'}`)
    return { expectedRefusals: expected }
  },

  async slow_answers(f, p, env) {
    if (f.type !== 'slow_answers') throw new Error('not a slow_answers fault')
    const forMs = f.for / env.speed
    if (!hook(p, 'slowAnswers', `slow_answers ${f.device}`)(f.device, f.delay_ms, forMs)) throw new Error(`slow_answers ${f.device}: no such device in ${p.label}`)
    unheard(p, f.device, Date.now() + forMs + f.delay_ms + 1_000)
    p.truth?.forget(f.device, Date.now() - 2 * periodOf(p, env.speed) - 1_000)
    env.note(`fault: device ${f.device} answers ${f.delay_ms} ms late for ${secs(forMs)}`)
    await sleep(forMs)
    env.note(`fault over: device ${f.device} answers in time again`)
    // Every request in the window may meet a late or misframed reply: at most one per 20 ms of it.
    const n = Math.ceil((forMs + f.delay_ms) / 20)
    return { expectedRefusals: { unexpected_reply: n, bad_response: n, crc_mismatch: n, unexpected_function: n, bad_mbap_header: n } }
  },

  async serial_unplug(f, p, env) {
    if (f.type !== 'serial_unplug') throw new Error('not a serial_unplug fault')
    const forMs = f.for / env.speed
    const unplug = hook(p, 'unplug', `serial_unplug ${f.device}`)
    unheard(p, f.device, Number.POSITIVE_INFINITY)
    p.truth?.forget(f.device, Date.now() - 2 * periodOf(p, env.speed) - 1_000)
    env.note(`fault: serial port of ${f.device} pulled for ${secs(forMs)}`)
    if (!(await unplug(f.device, forMs))) throw new Error(`serial_unplug ${f.device}: ${p.label} has no serial port to pull`)
    // The gateway reopens the port with back-off: what came before it is back is no ground truth.
    p.unheard?.set(f.device, Date.now() + 3_000)
    env.note(`fault over: serial port of ${f.device} plugged back`)
    // A frame the pull cut in two reaches the gateway as pieces: at most a couple of framing refusals.
    return { expectedRefusals: { garbage: 2, truncated: 1, too_short: 1, no_end: 1, missing_checksum: 1, bad_checksum: 1, crc_mismatch: 1 } }
  },

  async clock_skew(f, p, env) {
    if (f.type !== 'clock_skew') throw new Error('not a clock_skew fault')
    const forMs = f.for / env.speed
    const skew = hook(p, 'clockSkew', `clock_skew ${f.device}`)
    if (!skew(f.device, f.offset_ms)) throw new Error(`clock_skew ${f.device}: no such device in ${p.label}`)
    env.note(`fault: clock of ${f.device} ${f.offset_ms >= 0 ? '+' : ''}${f.offset_ms} ms for ${secs(forMs)}`)
    await sleep(forMs)
    skew(f.device, 0)
    env.note(`fault over: clock of ${f.device} right again`)
    return {}
  },
}

/** Whether a fault is one of the device faults handled here. */
export const isDeviceFault = (f: { type: string }): f is DeviceFault => f.type in deviceFaults
