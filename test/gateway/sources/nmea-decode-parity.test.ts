/**
 * Issue 11: `smartcity decode nmea` and the running NMEA source give the same points for the same capture.
 * Before, decode read each sentence on its own (a GGA gave the point that GGA alone carries: no RMC speed,
 * no GSA system tag, no satellites points) while the source combined whole epochs; now both run
 * devices/position/nmea/ `nmeaCodec` with one epoch assembler per file or port, and the gateway's answer won.
 */
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { codecLineDecoder } from '../../../devices/common/codec-lines.ts'
import type { DecodeSession } from '../../../devices/common/kind.ts'
import type { Point } from '../../../devices/common/point.ts'
import { deviceKind } from '../../../devices/index.ts'
import { nmeaCodec } from '../../../devices/position/nmea/index.ts'
import { createNmeaSource, NmeaSourceConfig } from '../../../gateway/sources/nmea/index.ts'
import { createGnssReceiver } from '../../../simulators/gnss/receiver.ts'
import { waitFor } from '../../helpers/net.ts'
import { recordingContext } from './record-context.ts'

// The source hands readings without the tags the pipeline adds from the batch (device, kind, protocol);
// decode prints those too (device as the codec names it), so they are left out of the comparison here.
const key = (p: Point) => {
  const { device: _d, kind: _k, protocol: _p, ...own } = p.tags
  return JSON.stringify([p.measurement, own, p.time, Object.entries(p.fields).sort()])
}

describe('NMEA: decode and the source store the same points', () => {
  it('five simulated epochs (GGA, RMC, GSA, GSV of GPS and BeiDou)', async () => {
    const rx = createGnssReceiver()
    const t0 = Date.UTC(2026, 10, 22, 2, 0, 0)
    const lines = Array.from({ length: 5 }, (_, i) => rx.epoch(t0 + i * 1000).lines).flat()

    // decode: one session for the file, its end flushed as `smartcity decode` does
    const session: DecodeSession = codecLineDecoder(nmeaCodec, deviceKind).session!()
    const decoded: Point[] = []
    for (const l of lines) {
      const r = session(l.replace(/\r?\n$/, ''), { receivedAt: t0 })
      expect(r.ok).toBe(true)
      if (r.ok) decoded.push(...r.points)
    }
    const end = session.end?.({ receivedAt: t0 })
    if (end?.ok) decoded.push(...end.points)

    // the source, on an in-memory port
    const stream = new PassThrough()
    const src = createNmeaSource(NmeaSourceConfig.parse({ type: 'nmea', device: 'rx', serial: { path: '/dev/mem-gnss' }, idleFlushMs: 20 }), { open: async () => stream })
    const ctx = recordingContext()
    await src.start(ctx)
    await new Promise((r) => setImmediate(r))
    stream.write(lines.join(''))
    const stored = () => ctx.batches.flatMap((b) => b.points)
    await waitFor(() => stored().filter((p) => p.measurement === 'position').length >= 5, 5_000, 'five epochs stored')
    await src.stop()

    expect(decoded.filter((p) => p.measurement === 'position')).toHaveLength(5)
    expect(decoded.some((p) => p.measurement === 'satellites')).toBe(true)
    expect(decoded.map(key).sort()).toEqual(stored().map(key).sort())
    expect(ctx.rejects).toEqual([])
  })
})
