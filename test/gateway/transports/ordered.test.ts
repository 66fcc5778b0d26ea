import { createConnection, createServer, type Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import { createOrdered } from '../../../gateway/transports/ordered.ts'
import { waitFor } from '../../helpers/net.ts'

const tick = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

describe('ordered work queue', () => {
  it('runs jobs in arrival order, one at a time, even when later ones are faster; a failing job does not stop the rest', async () => {
    const errors: unknown[] = []
    const q = createOrdered({ onError: (e) => errors.push(e) })
    const log: string[] = []
    let running = 0
    let maxRunning = 0
    const job = (name: string, ms: number, fail = false) => async () => {
      running++
      maxRunning = Math.max(maxRunning, running)
      await tick(ms)
      log.push(name)
      running--
      if (fail) throw new Error(name)
    }
    q.push(job('a', 30))
    q.push(job('b', 1, true))
    q.push(() => {
      log.push('sync')
    })
    q.push(job('c', 5))
    expect(q.size).toBe(4)
    await q.idle()
    expect(log).toEqual(['a', 'b', 'sync', 'c'])
    expect(maxRunning).toBe(1)
    expect(errors).toEqual([new Error('b')])
    expect(q.size).toBe(0)
  })

  it('pauses at the high water mark and resumes at the low one', async () => {
    const calls: string[] = []
    const q = createOrdered({ high: 4, low: 1, pause: () => calls.push('pause'), resume: () => calls.push('resume') })
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => {
      release = r
    })
    q.push(() => gate)
    for (let i = 0; i < 2; i++) q.push(() => {})
    expect(q.paused).toBe(false)
    q.push(() => {})
    expect(q.paused).toBe(true)
    q.push(() => {})
    expect(calls).toEqual(['pause'])
    release()
    await q.idle()
    expect(calls).toEqual(['pause', 'resume'])
    expect(q.paused).toBe(false)
    expect(() => createOrdered({ high: 2, low: 2 })).toThrow(RangeError)
  })

  it('pushes back on a real TCP sender: the socket pauses while work is queued, and every chunk is handled in order', async () => {
    const handled: number[] = []
    let paused = 0
    let done: () => void = () => {}
    const finished = new Promise<void>((r) => {
      done = r
    })
    const server = createServer((s: Socket) => {
      const q = createOrdered({
        high: 3,
        low: 1,
        pause: () => {
          paused++
          s.pause()
        },
        resume: () => s.resume(),
      })
      let buf = ''
      s.setEncoding('latin1')
      s.on('data', (chunk: string) => {
        buf += chunk
        const lines = buf.split('\n')
        buf = lines.pop() ?? ''
        for (const l of lines) q.push(async () => {
          await tick(2)
          handled.push(Number(l))
        })
      })
      s.on('end', () => void q.idle().then(done))
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as { port: number }).port
    const c = createConnection({ host: '127.0.0.1', port })
    const N = 200
    for (let i = 0; i < N; i++) c.write(`${i}\n`)
    c.end()
    await finished
    await waitFor(() => handled.length === N, 10_000, 'every line handled')
    expect(handled).toEqual(Array.from({ length: N }, (_, i) => i))
    expect(paused).toBeGreaterThan(0)
    await new Promise<void>((r) => server.close(() => r()))
  })
})
