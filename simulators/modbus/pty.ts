/**
 * A pair of connected pseudo-terminals from socat: whatever is written to one end comes out of the other, as on
 * a null-modem cable. The gateway opens one end as its serial port; the RTU simulator the other.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'

export interface PtyPair {
  /** The gateway's end. */
  a: string
  /** The simulator's end. */
  b: string
  stop(): Promise<void>
}

export async function startPtyPair(dir: string, name = 'rtu'): Promise<PtyPair> {
  const a = join(dir, `${name}-gw`)
  const b = join(dir, `${name}-sim`)
  const child: ChildProcess = spawn('socat', ['-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)))
  const deadline = Date.now() + 10_000
  while (!(existsSync(a) && existsSync(b))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill()
      throw new Error(`socat did not create ${a} and ${b}: ${err}`)
    }
    await new Promise((r) => setTimeout(r, 20))
  }
  return {
    a,
    b,
    async stop() {
      if (child.exitCode !== null) return
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      })
    },
  }
}
