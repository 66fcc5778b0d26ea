import { tmpdir } from 'node:os'
import { pino } from 'pino'
import type { KindName } from '../../devices/common/point.ts'
import type { DeviceInfo, DeviceState, RejectInput, SourceContext } from '../../gateway/core/types.ts'
import { normalized, type RecordedBatch } from './normalized.ts'

/** A SourceContext that records what a source hands the gateway (ingest, reject, online/offline), for tests. */
export interface RecordingContext extends SourceContext {
  /** What the source handed over, with the points the pipeline would make of its readings. */
  batches: (RecordedBatch & { at: number })[]
  rejects: RejectInput[]
  states: { device: string; online: boolean; reason?: string; at: number }[]
  /** Batches of one device. */
  of(device: string): (RecordedBatch & { at: number })[]
}

export function recordingContext(devices: { id: string; kind: KindName; options?: Record<string, unknown> }[] = []): RecordingContext {
  const inventory = new Map<string, DeviceState>(
    devices.map((d) => [
      d.id,
      { id: d.id, kind: d.kind, district: 'test', options: d.options ?? {}, configured: true, online: false, lastSeenMs: null, framesOk: 0, framesRejected: 0 },
    ]),
  )
  const batches: RecordingContext['batches'] = []
  const rejects: RejectInput[] = []
  const states: RecordingContext['states'] = []
  return {
    log: pino({ level: 'silent' }),
    batches,
    rejects,
    states,
    of: (device) => batches.filter((b) => b.device === device),
    async ingest(b) {
      const info = inventory.get(b.device)
      const { batch, result } = normalized(b, info ? { receivedAt: Date.now(), options: info.options } : { receivedAt: Date.now() })
      batches.push({ ...batch, at: Date.now() })
      return result
    },
    async reject(input) {
      rejects.push(input)
    },
    devices: {
      get: (id): DeviceInfo | undefined => inventory.get(id),
      list: () => [...inventory.values()],
      setOnline(id, online, reason) {
        const was = [...states].reverse().find((s) => s.device === id)?.online
        states.push({ device: id, online, at: Date.now(), ...(reason !== undefined ? { reason } : {}) })
        const d = inventory.get(id)
        if (d) d.online = online
        return was !== online
      },
    },
    async publish() {},
    dataDir: tmpdir(),
    now: () => Date.now(),
  }
}
