import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { setTimeout as delay } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { encodeMbap } from '../../../../devices/common/modbus/mbap.ts'
import { encodeResponse } from '../../../../devices/common/modbus/pdu.ts'
import type { IngestBatch } from '../../../../gateway/core/types.ts'
import { ModbusTcpSourceConfig } from '../../../../gateway/sources/modbus/config.ts'
import { createModbusSource } from '../../../../gateway/sources/modbus/index.ts'
import { startMbapPeer } from '../../../helpers/mbap-peer.ts'
import { waitFor } from '../../../helpers/net.ts'
import { recordingContext } from '../../../helpers/recording-context.ts'

/**
 * Issue 11: a bus hands its readings to the pipeline one after the other, in poll order (the transports'
 * ordered queue), and `stop()` waits for the ones in flight. Before, each poll's ingest was fire-and-forget:
 * a slow pipeline saw several of one bus at once, and stop() returned with ingests still running.
 */
describe('modbus source: ordered ingest per bus', () => {
  it('never overlaps two ingests of one bus, keeps poll order, and stop() waits for them', async () => {
    let reg = 0
    // Each answer one higher: pH 7.00, 7.01, ... tells the poll order.
    const peer = await startMbapPeer((frame, sock) => sock.write(encodeMbap(frame.transaction, frame.unit, encodeResponse({ fc: 3, registers: [700 + reg++] }))))
    const { port } = peer
    const ctx = recordingContext([{ id: 'wq-1', kind: 'water_quality' }])
    const record = ctx.ingest.bind(ctx)
    let inFlight = 0
    let maxInFlight = 0
    let started = 0
    let finished = 0
    const phs: number[] = []
    ctx.ingest = async (b: IngestBatch) => {
      started++
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      // A pipeline slower than the poll interval (a busy disk).
      await delay(120)
      const r = await record(b)
      const v = (b.readings?.[0] as { value?: { ph?: number } } | undefined)?.value?.ph
      if (v !== undefined) phs.push(v)
      inFlight--
      finished++
      return r
    }
    const profile = { name: 'one', kind: 'water_quality', points: [{ name: 'ph', function: 'holding', address: 0, type: 'uint16', scale: 0.01, field: 'ph' }] }
    const file = `${mkdtempSync(`${tmpdir()}/mb-ord-`)}/one.json`
    writeFileSync(file, JSON.stringify(profile))
    const src = createModbusSource(ModbusTcpSourceConfig.parse({ type: 'modbus-tcp', port, timeoutMs: 500, devices: [{ device: 'wq-1', unit: 1, profile: file, intervalMs: 50 }] }))
    await src.start(ctx)
    try {
      await waitFor(() => (started >= 4 ? true : undefined), 10_000, 'four polls handed to ingest')
    } finally {
      await src.stop()
      await peer.close()
    }
    expect(finished).toBe(started)
    expect(maxInFlight).toBe(1)
    expect(phs.length).toBeGreaterThanOrEqual(4)
    expect(phs).toEqual([...phs].sort((a, b) => a - b))
    expect(ctx.of('wq-1')[0]!.points[0]!.fields['ph']).toBe(7)
  })
})
