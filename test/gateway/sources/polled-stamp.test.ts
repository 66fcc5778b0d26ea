/**
 * A polled device's reading carries the time it was read (docs/data-model.md: without a device time, "the
 * moment the gateway received the frame"), not the time the bus's ordered queue hands it to a slow pipeline.
 * Before, a DL/T 645 or Modbus cycle was stamped when its ingest began: behind a slow spool commit (a busy
 * disk) its time was late by the commit's latency, and the gateway's record of a poll (cli/simulate/truth.ts
 * matches a cycle with the point stamped for it) depended on the disk, not on when the device was read.
 */
import { Duplex } from 'node:stream'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { setTimeout as delay } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { encodeMbap } from '../../../devices/common/modbus/mbap.ts'
import { encodeResponse } from '../../../devices/common/modbus/pdu.ts'
import { decodeMessage, encodeDataValue, encodeMessage } from '../../../devices/energy-meter/dlt645/index.ts'
import type { IngestBatch } from '../../../gateway/core/types.ts'
import { createDlt645Source, Dlt645SourceConfig } from '../../../gateway/sources/dlt645/index.ts'
import { ModbusTcpSourceConfig } from '../../../gateway/sources/modbus/config.ts'
import { createModbusSource } from '../../../gateway/sources/modbus/index.ts'
import { startMbapPeer } from '../../helpers/mbap-peer.ts'
import { waitFor } from '../../helpers/net.ts'
import { recordingContext } from '../../helpers/recording-context.ts'

/** Each batch with when its ingest began, through a pipeline that takes `slowMs` per batch (a busy disk). */
function slowIngest(ctx: ReturnType<typeof recordingContext>, slowMs: number) {
  const seen: { batch: IngestBatch; began: number }[] = []
  const record = ctx.ingest.bind(ctx)
  ctx.ingest = async (b: IngestBatch) => {
    seen.push({ batch: b, began: Date.now() })
    await delay(slowMs)
    return record(b)
  }
  return seen
}

const stamps = (seen: { batch: IngestBatch; began: number }[]) => seen.map((s) => ({ at: (s.batch.readings[0] as { receivedAt?: number }).receivedAt, began: s.began }))

function expectReadTimes(list: { at: number | undefined; began: number }[]) {
  expect(list.length).toBeGreaterThanOrEqual(4)
  for (const s of list) {
    expect(s.at).toBeTypeOf('number')
    expect(s.at!).toBeLessThanOrEqual(s.began)
  }
  // Distinct and in order: no two cycles share a millisecond however long the queue was.
  const at = list.map((s) => s.at!)
  expect(new Set(at).size).toBe(at.length)
  expect(at).toEqual([...at].sort((a, b) => a - b))
  // The later ones waited in the queue: their stamp is the read, well before their ingest began.
  expect(list.some((s) => s.began - s.at! >= 100)).toBe(true)
}

describe('polled readings are stamped when read', () => {
  it('DL/T 645: each meter cycle with its own read time, however slow the pipeline', { timeout: 20_000 }, async () => {
    const meter: Duplex = new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        const r = decodeMessage(chunk)
        if (r.ok && r.value.message.kind === 'read_request') {
          const m = r.value.message
          const data = encodeDataValue('2007', m.di, { import_energy_kwh: 12.5 })
          if (data) setImmediate(() => meter.push(encodeMessage({ kind: 'read_reply', version: '2007', address: m.address, di: m.di, data, more: false })))
        }
        cb()
      },
    })
    const ctx = recordingContext()
    const seen = slowIngest(ctx, 300)
    const src = createDlt645Source(Dlt645SourceConfig.parse({ type: 'dlt645', serial: { path: '/dev/mem-rs485' }, meters: [{ address: '000000000161' }], dis: ['00010000'], pollIntervalMs: 100, responseTimeoutMs: 200 }), {
      open: async () => meter,
    })
    await src.start(ctx)
    try {
      await waitFor(() => (seen.length >= 5 ? true : undefined), 10_000, 'five cycles handed to ingest')
    } finally {
      await src.stop()
    }
    expectReadTimes(stamps(seen))
  })

  it('Modbus: each poll with its own read time, however slow the pipeline', { timeout: 20_000 }, async () => {
    let reg = 0
    const peer = await startMbapPeer((frame, sock) => sock.write(encodeMbap(frame.transaction, frame.unit, encodeResponse({ fc: 3, registers: [700 + reg++] }))))
    const ctx = recordingContext([{ id: 'wq-1', kind: 'water_quality' }])
    const seen = slowIngest(ctx, 200)
    const profile = { name: 'one', kind: 'water_quality', points: [{ name: 'ph', function: 'holding', address: 0, type: 'uint16', scale: 0.01, field: 'ph' }] }
    const file = `${mkdtempSync(`${tmpdir()}/mb-stamp-`)}/one.json`
    writeFileSync(file, JSON.stringify(profile))
    const src = createModbusSource(ModbusTcpSourceConfig.parse({ type: 'modbus-tcp', port: peer.port, timeoutMs: 500, devices: [{ device: 'wq-1', unit: 1, profile: file, intervalMs: 50 }] }))
    await src.start(ctx)
    try {
      await waitFor(() => (seen.length >= 5 ? true : undefined), 10_000, 'five polls handed to ingest')
    } finally {
      await src.stop()
      await peer.close()
    }
    expectReadTimes(stamps(seen))
  })
})
