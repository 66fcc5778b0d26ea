import pino from 'pino'
import type { DeviceInfo, DeviceState, RejectInput, SourceContext } from '../../../gateway/core/types.ts'
import { normalized, type RecordedBatch } from '../../helpers/normalized.ts'

/** A SourceContext that records what a source ingests (with the points the pipeline would make), rejects and reports. */
export interface RecordingContext extends SourceContext {
  batches: RecordedBatch[]
  rejects: RejectInput[]
  online: { id: string; online: boolean; reason?: string }[]
  /** Latest online state per device. */
  state(id: string): boolean | undefined
}

export function recordingContext(dataDir = '/tmp'): RecordingContext {
  const batches: RecordedBatch[] = []
  const rejects: RejectInput[] = []
  const online: { id: string; online: boolean; reason?: string }[] = []
  const states = new Map<string, boolean>()
  return {
    log: pino({ level: 'silent' }),
    async ingest(b) {
      const { batch, result } = normalized(b, { receivedAt: Date.now() })
      batches.push(batch)
      return result
    },
    async reject(r) {
      rejects.push(r)
    },
    devices: {
      get: (): DeviceInfo | undefined => undefined,
      list: (): DeviceState[] => [],
      setOnline(id, on, reason) {
        online.push(reason === undefined ? { id, online: on } : { id, online: on, reason })
        const changed = states.get(id) !== on
        states.set(id, on)
        return changed
      },
    },
    async publish() {},
    dataDir,
    now: () => Date.now(),
    batches,
    rejects,
    online,
    state: (id) => states.get(id),
  }
}
