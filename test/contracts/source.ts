/**
 * The source contract (issue 11, docs/style.md section 4): one suite every source type must pass, as the spool
 * and sink suites do for theirs. A fixture knows how to configure its source on free loopback ports or a socat
 * pseudo-terminal and how to make its simulated device send good readings and one bad frame; the suite checks
 *  (a) ingest stays in order per device (reading times never go back, per device and measurement);
 *  (b) `stop()` waits for work in flight: with an `ingest` that settles late, `stop()` resolves only after every
 *      started ingest settled, and nothing is ingested once it resolved;
 *  (c) every refusal (ctx.reject, and readings the pipeline refuses) carries a catalogued reason;
 *  (d) `health()` says what the source sees: 'ok' with a detail while its device talks, not 'ok' once stopped
 *      (or a detail that says it stopped).
 * Sources are built only through `createSource` and the `SourceConfig` schema (gateway/sources/index.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import type { z } from 'zod'
import type { KindName } from '../../devices/common/point.ts'
import { isReason } from '../../devices/common/reasons.ts'
import type { IngestBatch, IngestResult, Source, SourceContext } from '../../gateway/core/types.ts'
import { createSource, SourceConfig, type SourceDeps } from '../../gateway/sources/index.ts'
import { type RecordingContext, recordingContext } from '../helpers/recording-context.ts'
import { waitFor } from '../helpers/net.ts'

export interface FixtureDevice {
  id: string
  kind: KindName
  options?: Record<string, unknown>
}

/** One run of a fixture: its simulated devices are up (servers listening, ptys open) before the source starts. */
export interface FixtureRun {
  config: z.input<typeof SourceConfig>
  /** The devices the simulators speak as (the recording context's inventory). */
  devices: FixtureDevice[]
  /** What the factory needs besides its config (the MQTT broker). */
  deps?: Partial<SourceDeps>
  /** Once the source has started: make the devices send (at least) `n` good readings each. Polled devices answer polls. */
  talk(n: number): Promise<void>
  /** Make a device send one bad frame (bad checksum, bad JSON, a corrupt answer). */
  bad(): Promise<void>
  /** Stop the simulators and remove what the run made. */
  stop(): Promise<void>
}

export interface SourceFixture {
  start(): Promise<FixtureRun>
  /** How long a wait for `n` readings may take (slow serial lines, 1 Hz receivers). Default 15 s. */
  waitMs?: number
}

/** Readings of a device that reached ingest (batches with points). */
function readingBatches(rec: RecordingContext, device: string) {
  return rec.of(device).filter((b) => b.points.length > 0)
}

/** The refusals a recording context saw: ctx.reject and the readings the pipeline's normalize refused. */
function refusals(rec: RecordingContext): string[] {
  return [...rec.rejects.map((r) => r.reason as string), ...rec.batches.flatMap((b) => b.refused.map((r) => r.reason as string))]
}

const N = 4

export function sourceContract(name: string, fixture: SourceFixture): void {
  const waitMs = fixture.waitMs ?? 15_000
  describe(`source contract: ${name}`, () => {
    const cleanups: (() => Promise<unknown>)[] = []
    afterEach(async () => {
      for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined)
    })

    async function open(wrap?: (rec: RecordingContext) => SourceContext): Promise<{ run: FixtureRun; source: Source; rec: RecordingContext }> {
      const run = await fixture.start()
      cleanups.push(() => run.stop())
      const cfg = SourceConfig.parse(run.config)
      const source = createSource(cfg, { ...(run.deps as SourceDeps) })
      const rec = recordingContext(run.devices)
      await source.start(wrap ? wrap(rec) : rec)
      cleanups.push(() => source.stop())
      return { run, source, rec }
    }

    async function talked(run: FixtureRun, rec: RecordingContext, n: number): Promise<void> {
      await run.talk(n)
      for (const d of run.devices) await waitFor(() => readingBatches(rec, d.id).length >= n, waitMs, `${n} readings of ${d.id}`)
    }

    it('(a) hands the readings of each device to ingest in the order the device sent them', async () => {
      const { run, rec } = await open()
      await talked(run, rec, N)
      for (const d of run.devices) {
        const times = new Map<string, number[]>()
        for (const b of readingBatches(rec, d.id)) for (const p of b.points) times.set(p.measurement, [...(times.get(p.measurement) ?? []), p.time])
        expect(times.size, `points of ${d.id}`).toBeGreaterThan(0)
        for (const [m, ts] of times) {
          const sorted = [...ts].sort((x, y) => x - y)
          expect(ts, `${d.id} ${m} times in ingest order`).toEqual(sorted)
        }
      }
    })

    it('(b) stop() waits for every ingest in flight, and nothing is ingested after it resolved', async () => {
      let started = 0
      let settled = 0
      let stopped = false
      let afterStop = 0
      const { run, source } = await open((rec) => ({
        ...rec,
        async ingest(b: IngestBatch): Promise<IngestResult> {
          if (stopped) afterStop++
          started++
          try {
            await sleep(300)
            return await rec.ingest(b)
          } finally {
            settled++
          }
        },
      }))
      // Not awaited: a device that waits for the gateway's answer (JT/T 808, HJ 212) only hears it once ingest settled.
      const talking = run.talk(N).catch(() => undefined)
      await waitFor(() => started >= 1 && started > settled, waitMs, 'an ingest in flight', 10)
      await source.stop()
      stopped = true
      const atStop = started
      expect(settled, 'ingests settled when stop() resolved').toBe(started)
      await Promise.race([talking, sleep(2_000)])
      await Promise.race([run.talk(2).catch(() => undefined), sleep(2_000)])
      await sleep(1_000)
      expect(afterStop, 'ingests started after stop() resolved').toBe(0)
      expect(started).toBe(atStop)
    })

    it('(c) every refusal carries a catalogued reason, and the bad frame is refused', async () => {
      const { run, rec } = await open()
      await talked(run, rec, 1)
      await run.bad()
      await waitFor(() => refusals(rec).length > 0, waitMs, 'a refusal of the bad frame')
      await run.talk(1).catch(() => undefined)
      await sleep(300)
      const reasons = refusals(rec)
      expect(reasons.length).toBeGreaterThan(0)
      for (const r of reasons) expect(isReason(r), `reason ${r} is in devices/common/reasons.ts`).toBe(true)
    })

    it('(d) health() reports ok with a detail while the device talks, and not ok once stopped', async () => {
      const { run, source, rec } = await open()
      await talked(run, rec, 1)
      const live = source.health?.()
      expect(live, 'the source reports its health').toBeDefined()
      expect(live?.status).toBe('ok')
      expect(live?.detail ?? '').not.toBe('')
      await source.stop()
      const after = source.health?.()
      expect(after?.status !== 'ok' || /stop|closed|not started/i.test(after?.detail ?? ''), `health after stop: ${JSON.stringify(after)}`).toBe(true)
    })
  })
}
