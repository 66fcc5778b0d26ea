import { writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { PassThrough } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { encodeMbap } from '../../devices/common/modbus/mbap.ts'
import { answerPolls, answerTable, playStream, steps } from '../../cli/replay/play.ts'
import { planReplay, replay } from '../../cli/replay.ts'
import type { RecordItem, Recording } from '../../cli/replay/recording.ts'
import { createRecorder } from '../../gateway/core/recorder.ts'
import { tempDir } from '../helpers/env.ts'
import { freePort, waitFor } from '../helpers/net.ts'

const item = (t: number, dir: 'in' | 'out', hex: string): RecordItem => ({ t, dir, bytes: Buffer.from(hex, 'hex') })
const header = (o: Partial<Recording['header']>): Recording['header'] => ({ format: 'smartcity-recording', version: 1, source: 's', type: 'jt808', transport: 'tcp', peer: 'p', connection: 1, part: 1, started: '2026-12-01T00:00:00.000Z', ...o })

const tmps: { cleanup(): void }[] = []
afterEach(() => {
  for (const t of tmps.splice(0)) t.cleanup()
})

describe('replay: the players (cli/replay/play.ts)', () => {
  it('steps: each in record with the bytes the gateway answered it with', () => {
    expect(steps([item(1, 'in', 'aa'), item(2, 'out', '0102'), item(3, 'out', '03'), item(4, 'in', 'bb'), item(5, 'in', 'cc'), item(6, 'out', '04')]).map((s) => [s.rec.bytes.toString('hex'), s.answerBytes])).toEqual([
      ['aa', 3],
      ['bb', 0],
      ['cc', 1],
    ])
  })

  it('keeps the recorded gaps divided by --speed, and waits for each answer the gateway gave then', async () => {
    const port = await freePort()
    const arrivals: { at: number; data: string }[] = []
    const srv = createServer((s) =>
      s.on('data', (d: Buffer) => {
        arrivals.push({ at: Date.now(), data: d.toString('hex') })
        // Answer the first chunk only, late: the player must wait for it before sending the second.
        if (d.toString('hex') === 'aa') setTimeout(() => s.write(Buffer.from('ffff', 'hex')), 300)
      }),
    )
    await new Promise<void>((r) => srv.listen(port, '127.0.0.1', () => r()))
    const s = connect({ port, host: '127.0.0.1' })
    await new Promise((r) => s.once('connect', r))
    const rec: Recording = { file: 'x', header: header({}), records: [item(1000, 'in', 'aa'), item(1001, 'out', 'ffff'), item(1100, 'in', 'bb'), item(1800, 'in', 'cc')] }
    const startedAt = Date.now()
    const r = await playStream(rec, s, { speed: 2, fast: false, answerTimeoutMs: 2_000, startedAt, t0: 1000 })
    await waitFor(() => arrivals.length === 3, 5_000, 'three chunks')
    s.destroy()
    await new Promise<void>((res) => srv.close(() => res()))
    expect(r).toEqual({ sent: 3, bytes: 3, unanswered: 0 })
    expect(arrivals.map((a) => a.data)).toEqual(['aa', 'bb', 'cc'])
    // bb waited for the answer (300 ms), not only its 50 ms slot; cc came at its slot, 700/2 = 350 ms.
    expect(arrivals[1]!.at - startedAt).toBeGreaterThanOrEqual(290)
    expect(arrivals[2]!.at - startedAt).toBeGreaterThanOrEqual(340)
    expect(arrivals[2]!.at - startedAt).toBeLessThan(1_500)
  })

  it('counts an answer the gateway no longer gives, without making the later waits time out', async () => {
    const s = new PassThrough()
    const rec: Recording = { file: 'x', header: header({}), records: [item(1, 'in', 'aa'), item(2, 'out', 'ffff'), item(3, 'in', 'bb')] }
    const r = await playStream(rec, s, { speed: 1, fast: true, answerTimeoutMs: 200, startedAt: Date.now(), t0: 1 })
    expect(r).toEqual({ sent: 2, bytes: 2, unanswered: 1 })
  })

  it('Modbus TCP: a request is answered with its recorded answer under the new transaction id; repeats get the next answers, then the last again', () => {
    const req = (tid: number) => encodeMbap(tid, 1, Buffer.from('0300000002', 'hex'))
    const ans = (tid: number, v: number) => encodeMbap(tid, 1, Buffer.from([3, 4, 0, v, 0, 0]))
    const table = answerTable([item(1, 'out', req(7).toString('hex')), item(2, 'in', ans(7, 11).toString('hex')), item(3, 'out', req(8).toString('hex')), item(4, 'in', ans(8, 12).toString('hex'))], true)
    const s = new PassThrough()
    const written: Buffer[] = []
    s.write = ((chunk: Buffer) => {
      written.push(chunk)
      return true
    }) as typeof s.write
    answerPolls(s, table, true)
    // Two requests in one read, then one split across two reads.
    s.emit('data', Buffer.concat([req(100), req(101)]))
    const third = req(102)
    s.emit('data', third.subarray(0, 5))
    s.emit('data', third.subarray(5))
    s.emit('data', encodeMbap(103, 9, Buffer.from('0300000002', 'hex')))
    expect(written.map((b) => b.toString('hex'))).toEqual([ans(100, 11), ans(101, 12), ans(102, 12)].map((b) => b.toString('hex')))
    expect(table.answered).toBe(3)
    expect(table.unmatched).toBe(1)
    expect(table.exhausted()).toBe(true)
  })

  it('RTU: a request unanswered when recorded (a dead slave) stays unanswered, the next one is answered', () => {
    const table = answerTable([item(1, 'out', '0403'), item(2, 'out', '0103'), item(3, 'in', '0199')], false)
    const s = new PassThrough()
    const written: string[] = []
    s.write = ((chunk: Buffer) => {
      written.push(chunk.toString('hex'))
      return true
    }) as typeof s.write
    answerPolls(s, table, false)
    s.emit('data', Buffer.from('0403', 'hex'))
    s.emit('data', Buffer.from('01', 'hex'))
    s.emit('data', Buffer.from('03', 'hex'))
    expect(written).toEqual(['0199'])
  })
})

describe('replay: where each recording goes (planReplay) and bad input', () => {
  it('dial-in TCP to --to, MQTT to --mqtt, the gateway-dialled address listened on, serial needs --serial', () => {
    const r = (o: Partial<Recording['header']>): Recording => ({ file: `${o.type}.jsonl`, header: header(o), records: [] })
    const { plans, problems } = planReplay(
      [r({ type: 'jt808' }), r({ type: 'mqtt', transport: 'mqtt' }), r({ type: 'modbus-tcp', transport: 'modbus-tcp', address: 'tcp://127.0.0.1:1502' }), r({ type: 'nmea', transport: 'serial', address: 'serial:///dev/ttyUSB0?baud=4800&dataBits=8&parity=none&stopBits=1' })],
      { to: '127.0.0.1:7808', mqtt: 'mqtt://127.0.0.1:1883' },
    )
    expect(plans.map((p) => p.kind)).toEqual(['dial', 'mqtt', 'listen'])
    expect(plans[2]).toMatchObject({ kind: 'listen', mbap: true })
    expect(problems).toEqual([expect.stringMatching(/nmea.*needs --serial PATH/)])
    // Several serial ports: one path per recorded source.
    const nmea = r({ source: 'gnss', type: 'nmea', transport: 'serial', address: 'serial:///dev/ttyUSB0?baud=4800&dataBits=8&parity=none&stopBits=1' })
    const meters = r({ source: 'meters', type: 'dlt645', transport: 'serial', address: 'serial:///dev/ttyUSB1?baud=2400&dataBits=8&parity=even&stopBits=1' })
    const two = planReplay([nmea, meters], { serial: 'gnss=/dev/pts/7,meters=/dev/pts/9' })
    expect(two.problems).toEqual([])
    expect(two.plans).toMatchObject([
      { kind: 'serial', path: '/dev/pts/7', polled: false, baudRate: 4800 },
      { kind: 'serial', path: '/dev/pts/9', polled: true, baudRate: 2400 },
    ])
    expect(planReplay([nmea, meters], { serial: 'gnss=/dev/pts/7' }).problems).toEqual([expect.stringMatching(/meters.*--serial meters=PATH/)])
    // --to also names where a device the gateway dials is played.
    expect(planReplay([r({ type: 'modbus-tcp', transport: 'modbus-tcp', address: 'tcp://127.0.0.1:1502' })], { to: '127.0.0.1:2502' }).plans[0]).toMatchObject({ kind: 'listen', port: 2502 })
  })

  it('exits 2 with the reason for a file that is not a recording, a bad --speed, and a recording with nowhere to go', async () => {
    const t = tempDir('replay-')
    tmps.push(t)
    writeFileSync(`${t.dir}/x.jsonl`, '{"hello":1}\n')
    const out: string[] = []
    const sink = { write: (s: string) => out.push(s) } as unknown as NodeJS.WritableStream
    expect((await replay(`${t.dir}/x.jsonl`, {}, sink)).code).toBe(2)
    expect(out.join('')).toContain('not a recording')
    const rec = createRecorder({ dir: `${t.dir}/rec`, maxFileBytes: 1 << 20, maxTotalBytes: 1 << 20 })
    rec.tap({ id: 'jt808', type: 'jt808' }).connection({ transport: 'tcp', peer: 'a:1' })!.in(Buffer.from('7e7e', 'hex'))
    await rec.close()
    out.length = 0
    expect((await replay(`${t.dir}/rec`, { speed: '0' }, sink)).code).toBe(2)
    expect(out.join('')).toContain('--speed 0')
    out.length = 0
    expect((await replay(`${t.dir}/rec`, {}, sink)).code).toBe(2)
    expect(out.join('')).toContain('needs --to host:port or --gateway-config')
  })
})

