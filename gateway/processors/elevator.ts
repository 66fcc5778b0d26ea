/**
 * Elevator fault detection as a pipeline processor: one `CarMonitor` (devices/elevator/faults.ts) per car,
 * fed by `elevator_status` points and by the monitor's own `elevator_event_report` points; every start and
 * clear becomes an `elevator_event` point and an alarm on `city/<district>/alarms/elevator_<event>`.
 * Timers run on the gateway's clock (`now`), so a monitor with a wrong clock cannot fake or hide an event.
 * Car profiles (rated speed, floors, durations) come from the device's inventory `options`.
 */
import { z } from 'zod'
import { reportFromPoint } from '../../devices/elevator/index.ts'
import { CarProfile, type CarMonitor, createCarMonitor, EVENT_SEVERITY, type EventChange, eventPoint } from '../../devices/elevator/faults.ts'
import type { ElevatorStatusReading } from '../../devices/elevator/schema.ts'
import type { Point } from '../../devices/common/point.ts'
import { type AlarmStore, emitAlarm, type PublishFn } from '../alarms/store.ts'
import type { DeviceRegistry, Logger, Processor } from '../core/types.ts'

export const ElevatorProcessorConfig = z.strictObject({
  /** Defaults for every car; a device's inventory `options` override them key by key. */
  defaults: CarProfile.partial().default({}),
})
export type ElevatorProcessorConfig = z.infer<typeof ElevatorProcessorConfig>

export interface ElevatorProcessorDeps {
  publish?: PublishFn
  store?: AlarmStore
  devices?: Pick<DeviceRegistry, 'get'>
  now: () => number
  log?: Logger
}

interface Car {
  monitor: CarMonitor
  district: string
  site?: string
  protocol: string
}

const PROFILE_KEYS = Object.keys(CarProfile.shape) as (keyof CarProfile)[]

export function createElevatorProcessor(cfg: z.input<typeof ElevatorProcessorConfig>, deps: ElevatorProcessorDeps): Processor & { cars(): string[] } {
  const conf = ElevatorProcessorConfig.parse(cfg)
  const log = deps.log?.child({ component: 'processor.elevator' })
  const cars = new Map<string, Car>()
  let publishErrors = 0

  function profileFor(device: string): z.input<typeof CarProfile> {
    const opts = deps.devices?.get(device)?.options ?? {}
    const merged: Record<string, unknown> = { ...conf.defaults }
    for (const k of PROFILE_KEYS) if (opts[k] !== undefined) merged[k] = opts[k]
    const r = CarProfile.safeParse(merged)
    if (r.success) return r.data
    log?.warn({ device, problems: z.prettifyError(r.error) }, 'bad elevator options; using defaults')
    return conf.defaults
  }

  function car(device: string, district: string, site: string | undefined, protocol: string): Car {
    let c = cars.get(device)
    if (!c) {
      c = { monitor: createCarMonitor(profileFor(device)), district, protocol, ...(site === undefined ? {} : { site }) }
      cars.set(device, c)
    } else {
      c.district = district
      if (site !== undefined) c.site = site
    }
    return c
  }

  /**
   * Points returned from `process` get the batch's device tags from the pipeline; points from `tick` are
   * written as they are, so they carry the device tags themselves (`withDeviceTags`).
   */
  function emit(device: string, c: Car, changes: EventChange[], out: Point[], withDeviceTags: boolean): void {
    for (const ch of changes) {
      const p = eventPoint(ch)
      if (withDeviceTags) p.tags = { ...p.tags, device, kind: 'elevator', district: c.district, protocol: c.protocol, ...(c.site === undefined ? {} : { site: c.site }) }
      out.push(p)
      emitAlarm(
        {
          rule: `elevator_${ch.event}`,
          severity: EVENT_SEVERITY[ch.event],
          active: ch.active,
          device,
          kind: 'elevator',
          district: c.district,
          ...(c.site === undefined ? {} : { site: c.site }),
          ...(ch.floor === undefined ? {} : { value: ch.floor }),
          message: `${ch.event}${ch.active ? '' : ' cleared'}: ${ch.detail}${ch.floor === undefined ? '' : ` (floor ${ch.floor})`}`,
          time: ch.time,
        },
        {
          ...(deps.publish ? { publish: deps.publish } : {}),
          ...(deps.store ? { store: deps.store } : {}),
          onError: () => {
            publishErrors++
          },
        },
      )
    }
  }

  return {
    id: 'elevator',
    process(batch) {
      if (batch.kind !== 'elevator') return undefined
      const c = car(batch.device, batch.district, batch.site, batch.protocol)
      const out: Point[] = []
      const t = deps.now()
      for (const p of batch.points) {
        if (p.measurement === 'elevator_status') {
          // The fields of a status point are a reading the source has validated with ElevatorStatusReading.
          emit(batch.device, c, c.monitor.status(p.fields as ElevatorStatusReading, t), out, false)
        } else if (p.measurement === 'elevator_event_report') {
          const m = reportFromPoint(p)
          if (m) emit(batch.device, c, c.monitor.report(m, t), out, false)
        }
      }
      return out.length > 0 ? out : undefined
    },
    tick(now) {
      const out: Point[] = []
      for (const [device, c] of cars) emit(device, c, c.monitor.tick(now), out, true)
      return out.length > 0 ? out : undefined
    },
    cars: () => [...cars.keys()],
    stop() {
      if (publishErrors > 0) log?.warn({ publishErrors }, 'alarm publishes failed')
    },
  }
}
