/**
 * JT/T 808 terminal alarms as a pipeline processor, the same way as every other alarm: fed by the `position`
 * points that carry `alarm_flags` (the JT/T 808 source decodes and answers; it derives nothing), it keeps
 * each terminal's last alarm word and turns every bit that changes into
 * - an `alarm` point (tags `rule=jt808_<name>`, `severity`; fields `active`, `value` = the bit, `message`),
 *   returned to the pipeline, which gives it the terminal's device tags;
 * - an MQTT message on `city/<district>/alarms/jt808_<name>` and an entry `jt808_<name>/<terminal>` in the
 *   alarm store (`/api/alarms`, acknowledgement), both through `emitAlarm`.
 * A bit going 0 -> 1 raises, 1 -> 0 clears; one alarm per terminal and bit. Severity per bit is the table
 * `JT808_ALARMS` in devices/position/jt808/readings.ts (devices/position/README.md lists it). Before a terminal's
 * first location every bit counts as clear, so the bits set in its first location are raised.
 * The alarm time is the location's time (the terminal's clock, as the points are stored).
 */
import { alarmChanges, alarmPoint } from '../../devices/position/jt808/index.ts'
import type { Point } from '../../devices/common/point.ts'
import { type AlarmStore, emitAlarm, type PublishFn } from '../alarms/store.ts'
import type { Logger, Processor } from '../core/types.ts'

export interface Jt808AlarmProcessorDeps {
  publish?: PublishFn
  store?: AlarmStore
  log?: Logger
}

export function createJt808AlarmProcessor(deps: Jt808AlarmProcessorDeps): Processor & { terminals(): string[] } {
  const log = deps.log?.child({ component: 'processor.jt808-alarms' })
  /** The last alarm word seen, per terminal (device id). */
  const last = new Map<string, number>()
  let publishErrors = 0
  const emitDeps = {
    ...(deps.publish ? { publish: deps.publish } : {}),
    ...(deps.store ? { store: deps.store } : {}),
    onError: () => {
      publishErrors++
    },
  }

  return {
    id: 'jt808-alarms',
    process(batch) {
      // Runs for every accepted batch: other kinds, and locations whose alarm word did not change, allocate nothing.
      if (batch.kind !== 'position') return undefined
      let out: Point[] | undefined
      let prev = last.get(batch.device) ?? 0
      let seen = false
      for (const p of batch.points) {
        if (p.measurement !== 'position') continue
        const flags = p.fields['alarm_flags']
        if (typeof flags !== 'number') continue
        seen = true
        const cur = flags >>> 0
        if (cur === prev) continue
        for (const c of alarmChanges(prev, cur)) {
          out ??= []
          out.push(alarmPoint(c, p.time))
          emitAlarm(
            {
              rule: c.rule,
              severity: c.severity,
              active: c.active,
              device: batch.device,
              kind: batch.kind,
              district: batch.district,
              ...(batch.site === undefined ? {} : { site: batch.site }),
              value: c.bit,
              message: c.message,
              time: p.time,
            },
            emitDeps,
          )
        }
        prev = cur
      }
      if (seen) last.set(batch.device, prev)
      return out
    },
    terminals: () => [...last.keys()],
    stop() {
      if (publishErrors > 0) log?.warn({ publishErrors }, 'alarm publishes failed')
    },
  }
}
