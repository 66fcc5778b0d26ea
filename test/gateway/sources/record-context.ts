import pino from 'pino'
import type { DeviceInfo, DeviceState, IngestBatch, RejectInput, SourceContext } from '../../../gateway/core/types.ts'

/** A SourceContext that records what a source ingests, rejects and reports, for testing a source alone. */
export interface RecordingContext extends SourceContext {
  batches: IngestBatch[]
  rejects: RejectInput[]
  online: { id: string; online: boolean; reason?: string }[]
  /** Latest online state per device. */
  state(id: string): boolean | undefined
}

export function recordingContext(dataDir = '/tmp'): RecordingContext {
  const batches: IngestBatch[] = []
  const rejects: RejectInput[] = []
  const online: { id: string; online: boolean; reason?: string }[] = []
  const states = new Map<string, boolean>()
  return {
    log: pino({ level: 'silent' }),
    async ingest(b) {
      batches.push(b)
    },
    async reject(r) {
      rejects.push(r)
    },
    devices: {
      get: (): DeviceInfo | undefined => undefined,
      list: (): DeviceState[] => [],
      setOnline(id, on, reason) {
        online.push(reason === undefined ? { id, online: on } : { id, online: on, reason })
        states.set(id, on)
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
