import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { describe, expect, it } from 'vitest'
import { encodeMbap } from '../../../../devices/common/modbus/mbap.ts'
import { encodeResponse } from '../../../../devices/common/modbus/pdu.ts'
import { ModbusTcpSourceConfig } from '../../../../gateway/sources/modbus/config.ts'
import { createModbusSource } from '../../../../gateway/sources/modbus/index.ts'
import { startMbapPeer } from '../../../helpers/mbap-peer.ts'
import { waitFor } from '../../../helpers/net.ts'
import { recordingContext } from '../../../helpers/recording-context.ts'

/**
 * A Modbus TCP peer that answers badly in every way we can think of, then well: the source must reject each
 * with a reason, never throw, and read on.
 */
describe('modbus-tcp source against a misbehaving peer', () => {
  it('dead-letters wrong answers with a reason and keeps polling', async () => {
    let n = 0
    const peer = await startMbapPeer((frame, sock) => {
      const { transaction: t, unit } = frame
      const q = frame.pdu.readUInt16BE(3)
      const good = encodeResponse({ fc: 3, registers: Array.from({ length: q }, () => 712) })
      const answers = [
        encodeMbap(t, unit, Buffer.from([0x03, 0x05, 1, 2, 3, 4, 5])), // odd byte count
        encodeMbap(t, unit, Buffer.from([0x04, 0x02, 0, 1])), // another function
        encodeMbap(t, unit, encodeResponse({ fc: 3, registers: [] })), // too few registers
        encodeMbap(t, unit, Buffer.from([0x83])), // truncated exception
        Buffer.from([0, 1, 0x12, 0x34, 0, 9, 1, 2, 3]), // protocol id not 0: out of step, connection dropped
        encodeMbap(t, unit, good),
      ]
      sock.write(answers[Math.min(n++, answers.length - 1)]!)
    })
    const { port } = peer
    const ctx = recordingContext([{ id: 'wq-bad', kind: 'water_quality' }])
    const profile = { name: 'one', kind: 'water_quality', points: [{ name: 'ph', function: 'holding', address: 0, type: 'uint16', scale: 0.01, field: 'ph' }] }
    const file = `${mkdtempSync(`${tmpdir()}/mb-bad-`)}/one.json`
    writeFileSync(file, JSON.stringify(profile))
    const src = createModbusSource(
      ModbusTcpSourceConfig.parse({ type: 'modbus-tcp', port, timeoutMs: 300, retries: 0, failuresBeforeBackoff: 10, devices: [{ device: 'wq-bad', unit: 1, profile: file, intervalMs: 50 }] }),
    )
    await src.start(ctx)
    try {
      const b = await waitFor(() => ctx.of('wq-bad')[0], 10_000, 'a good reading after the bad ones')
      expect(b.points[0]!.fields['ph']).toBe(7.12)
      expect(ctx.rejects.map((r) => r.reason)).toEqual(['bad_response', 'bad_response', 'bad_response', 'bad_response', 'bad_response'])
      expect(ctx.rejects.every((r) => r.raw instanceof Uint8Array && r.raw.length > 0 && r.detail)).toBe(true)
      expect(ctx.rejects[4]!.detail).toMatch(/bad_mbap_header/)
    } finally {
      await src.stop()
      await peer.close()
    }
  })
})
