import pino from 'pino'
import type { DeviceInfo, DeviceState, IngestBatch, RejectInput, SourceContext } from '../../gateway/core/types.ts'

/** A SourceContext that records what a source ingests, rejects and publishes (no spool, no broker). */
export function recordingContext(devices: DeviceInfo[] = []) {
  const batches: IngestBatch[] = []
  const rejects: RejectInput[] = []
  const published: { topic: string; payload: string }[] = []
  const online = new Map<string, boolean>()
  const ctx: SourceContext = {
    log: pino({ level: process.env['TEST_LOG'] ?? 'silent' }),
    async ingest(b) {
      batches.push(b)
    },
    async reject(r) {
      rejects.push(r)
    },
    devices: {
      get: (id) => devices.find((d) => d.id === id),
      list: () => devices.map((d): DeviceState => ({ ...d, online: online.get(d.id) ?? false, lastSeenMs: null, framesOk: 0, framesRejected: 0 })),
      setOnline: (id, on) => {
        online.set(id, on)
      },
    },
    async publish(topic, payload) {
      published.push({ topic, payload: String(payload) })
    },
    dataDir: '.',
    now: () => Date.now(),
  }
  return { ctx, batches, rejects, published, online, points: () => batches.flatMap((b) => b.points) }
}
