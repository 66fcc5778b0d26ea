import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { readRecording, readRecordings, recordingFiles } from '../../cli/replay/recording.ts'
import { createRecorder, RECORDING_FORMAT } from '../../gateway/core/recorder.ts'
import { createLink } from '../../gateway/transports/address.ts'
import { createTcpServer } from '../../gateway/transports/tcp-server.ts'
import { tempDir } from '../helpers/env.ts'
import { freePort, waitFor } from '../helpers/net.ts'

const tmps: { cleanup(): void }[] = []
const tmp = () => {
  const t = tempDir('rec-')
  tmps.push(t)
  return t.dir
}
afterEach(() => {
  for (const t of tmps.splice(0)) t.cleanup()
})

const allFiles = (dir: string): string[] => recordingFiles(dir)

describe('recorder (gateway/core/recorder.ts)', () => {
  it('writes a header, then each chunk both ways and each MQTT message, as JSON lines', async () => {
    const dir = tmp()
    let t = Date.UTC(2026, 11, 1, 12, 0, 0)
    const rec = createRecorder({ dir, maxFileBytes: 1 << 20, maxTotalBytes: 1 << 20, gatewayId: 'gw-1', now: () => t++ })
    const tap = rec.tap({ id: 'jt808-a', type: 'jt808' })
    const c = tap.connection({ transport: 'tcp', peer: '127.0.0.1:40000' })!
    c.in(Buffer.from([0x7e, 0x01, 0x02, 0x7e]))
    c.out(Buffer.from('7e8001', 'hex'))
    c.close()
    const m = rec.tap({ id: 'mqtt', type: 'mqtt' })
    m.message('city/d/water_quality/wq-1/telemetry', Buffer.from('{"ph":7.1}'), 1)
    m.message('city/d/water_quality/wq-1/telemetry', Buffer.from([0xff, 0x00]), 0)
    await rec.close()
    const files = allFiles(dir)
    expect(files).toHaveLength(2)
    const jt = readRecording(files.find((f) => f.includes('jt808-a'))!)
    expect(jt.header).toMatchObject({ format: RECORDING_FORMAT, version: 1, source: 'jt808-a', type: 'jt808', transport: 'tcp', peer: '127.0.0.1:40000', part: 1, gateway: 'gw-1', started: '2026-12-01T12:00:00.000Z' })
    expect(jt.records.map((r) => [r.dir, r.bytes.toString('hex')])).toEqual([
      ['in', '7e01027e'],
      ['out', '7e8001'],
    ])
    // The file itself: one JSON object per line, the raw record as documented.
    expect(readFileSync(jt.file, 'utf8').split('\n')[1]).toBe(`{"t":${Date.UTC(2026, 11, 1, 12, 0, 0) + 1},"dir":"in","hex":"7e01027e"}`)
    const mq = readRecording(files.find((f) => f.includes('mqtt'))!)
    expect(mq.header.transport).toBe('mqtt')
    const lines = readFileSync(mq.file, 'utf8').trim().split('\n').slice(1).map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines[0]).toMatchObject({ dir: 'in', topic: 'city/d/water_quality/wq-1/telemetry', qos: 1, text: '{"ph":7.1}' })
    expect(lines[1]).toMatchObject({ qos: 0, b64: Buffer.from([0xff, 0x00]).toString('base64') })
    expect(rec.stats().dropped).toEqual({ total_cap: 0, backlog: 0, write_failed: 0 })
  })

  it('rotates a connection over maxFileBytes into parts that replay joins back in order', async () => {
    const dir = tmp()
    const rec = createRecorder({ dir, maxFileBytes: 4096, maxTotalBytes: 1 << 20 })
    const c = rec.tap({ id: 'hj212', type: 'hj212' }).connection({ transport: 'tcp', peer: '10.0.0.7:5000' })!
    for (let i = 0; i < 100; i++) c.in(Buffer.alloc(100, i))
    c.close()
    await rec.close()
    const files = allFiles(dir)
    expect(files.length).toBeGreaterThan(3)
    for (const f of files) expect(statSync(f).size).toBeLessThanOrEqual(4096)
    const parts = files.map((f) => readRecording(f).header.part).sort((a, b) => a - b)
    expect(parts).toEqual(parts.map((_, i) => i + 1))
    const [joined, ...more] = readRecordings(dir)
    expect(more).toEqual([])
    expect(joined!.records.map((r) => r.bytes[0])).toEqual(Array.from({ length: 100 }, (_, i) => i))
  })

  it('stops at maxTotalBytes with one warning, counts what it left out, and keeps the files under the cap', async () => {
    const dir = tmp()
    const warnings: string[] = []
    const dropped: Record<string, number> = {}
    const rec = createRecorder({
      dir,
      maxFileBytes: 4096,
      maxTotalBytes: 10_000,
      log: { warn: (_o, msg) => warnings.push(msg) },
      onDropped: (reason, n) => {
        dropped[reason] = (dropped[reason] ?? 0) + n
      },
    })
    const tap = rec.tap({ id: 'jt808', type: 'jt808' })
    const a = tap.connection({ transport: 'tcp', peer: 'a:1' })!
    for (let i = 0; i < 200; i++) a.in(Buffer.alloc(50, 1))
    // After the stop, new connections are not recorded at all.
    expect(tap.connection({ transport: 'tcp', peer: 'b:2' })).toBeUndefined()
    tap.message('t', Buffer.from('x'), 0)
    await rec.close()
    const total = allFiles(dir).reduce((n, f) => n + statSync(f).size, 0)
    expect(total).toBeLessThanOrEqual(10_000)
    expect(total).toBeGreaterThan(8_000)
    expect(warnings).toEqual(['recording stopped: the recordings reached record.maxTotalBytes'])
    expect(rec.stats().stopped).toBe(true)
    expect(dropped['total_cap']).toBeGreaterThan(50)
    expect(rec.stats().dropped.total_cap).toBe(dropped['total_cap'])
  })

  it('a directory it cannot create: one warning, the records counted as write_failed, nothing thrown', async () => {
    const dir = tmp()
    writeFileSync(join(dir, 'taken'), 'a file where the directory should be')
    const warnings: string[] = []
    const rec = createRecorder({ dir: join(dir, 'taken'), maxFileBytes: 1 << 20, maxTotalBytes: 1 << 20, log: { warn: (_o, msg) => warnings.push(msg) } })
    const c = rec.tap({ id: 'hj212', type: 'hj212' }).connection({ transport: 'tcp', peer: 'a:1' })!
    for (let i = 0; i < 3; i++) c.in(Buffer.from('2323', 'hex'))
    c.close()
    await rec.close()
    expect(warnings).toEqual(['recording: cannot create the directory'])
    expect(rec.stats().dropped.write_failed).toBe(3)
  })

  it('the TCP server records what a device sends and what the gateway answers, per connection', async () => {
    const dir = tmp()
    const rec = createRecorder({ dir, maxFileBytes: 1 << 20, maxTotalBytes: 1 << 20 })
    const port = await freePort()
    const server = createTcpServer(
      { host: '127.0.0.1', port, idleTimeoutSec: 30, ratePerSec: 100, maxBadFrames: 3, log: { error: () => {} }, record: rec.tap({ id: 'tcp-a', type: 'hj212' }) },
      (conn) => ({
        data: (chunk) => conn.send(Buffer.concat([Buffer.from('ack:'), chunk])),
        closed: () => {},
      }),
    )
    await server.listen()
    for (const msg of ['one', 'two']) {
      const s = connect({ host: '127.0.0.1', port })
      const got: Buffer[] = []
      s.on('data', (d: Buffer) => got.push(d))
      await new Promise<void>((r) => s.once('connect', () => r()))
      s.write(msg)
      await waitFor(() => Buffer.concat(got).toString() === `ack:${msg}`, 5_000, 'the answer')
      s.end()
      await new Promise<void>((r) => s.once('close', () => r()))
    }
    await waitFor(() => server.connections() === 0, 5_000, 'connections closed')
    await server.stop()
    await rec.close()
    const recs = readRecordings(dir)
    expect(recs).toHaveLength(2)
    expect(recs.map((r) => r.records.map((x) => `${x.dir}:${x.bytes.toString()}`))).toEqual([
      ['in:one', 'out:ack:one'],
      ['in:two', 'out:ack:two'],
    ])
    expect(recs[0]!.header.peer).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(new Set(recs.map((r) => r.header.connection)).size).toBe(2)
  })

  it('a link (address.ts) records the stream it opens: writes on it out, its data in', async () => {
    const dir = tmp()
    const rec = createRecorder({ dir, maxFileBytes: 1 << 20, maxTotalBytes: 1 << 20 })
    const peers: Socket[] = []
    const srv = createServer((s) => {
      peers.push(s)
      s.on('data', (d: Buffer) => s.write(Buffer.from(d.toString().toUpperCase())))
    })
    const port = await freePort()
    await new Promise<void>((r) => srv.listen(port, '127.0.0.1', () => r()))
    const link = createLink(`tcp://127.0.0.1:${port}`, { record: rec.tap({ id: 'bus', type: 'modbus-tcp' }), recordAs: 'modbus-tcp' })
    const got: Buffer[] = []
    link.on('open', (s) => s.on('data', (d: Buffer) => got.push(d)))
    const s = await link.open({ waitMs: 5_000 })
    s.write(Buffer.from('poll'))
    await waitFor(() => Buffer.concat(got).toString() === 'POLL', 5_000, 'the answer')
    await link.close()
    for (const p of peers) p.destroy()
    await new Promise<void>((r) => srv.close(() => r()))
    await rec.close()
    const [r, ...more] = readRecordings(dir)
    expect(more).toEqual([])
    expect(r!.header).toMatchObject({ transport: 'modbus-tcp', peer: `127.0.0.1:${port}`, address: `tcp://127.0.0.1:${port}` })
    expect(r!.records.map((x) => `${x.dir}:${x.bytes.toString()}`)).toEqual(['out:poll', 'in:POLL'])
    expect(readdirSync(join(dir, 'bus'))).toHaveLength(1)
  })
})
