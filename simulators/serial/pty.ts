/**
 * A pair of connected pseudo-terminals made by socat: what one end writes the other reads, like a null-modem
 * cable. A simulator opens one end, the gateway opens the other as a real serial port. `stop()` kills
 * socat, which removes both links: to the gateway this is a USB adapter being pulled.
 *
 *   socat -d -d pty,raw,echo=0,link=A pty,raw,echo=0,link=B
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, lstatSync } from 'node:fs'

export interface PtyPair {
  /** Path of end A (a symlink to /dev/pts/N). */
  a: string
  b: string
  pid: number
  /** Kill socat and wait for it to exit (the links disappear). */
  stop(): Promise<void>
  readonly exited: boolean
}

export class PtyError extends Error {
  constructor(
    readonly code: 'PTY_SOCAT_FAILED',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'PtyError'
  }
}

const isLink = (p: string) => {
  try {
    return lstatSync(p).isSymbolicLink() && existsSync(p)
  } catch {
    return false
  }
}

/** Start socat with links at `a` and `b` (put them in a temp dir) and wait until both exist. */
export async function createPtyPair(a: string, b: string, opts: { socat?: string; timeoutMs?: number } = {}): Promise<PtyPair> {
  const child: ChildProcess = spawn(opts.socat ?? 'socat', ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000)
  })
  let exited = false
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true
      resolve()
    })
    child.once('error', (err) => {
      stderr += String(err)
      exited = true
      resolve()
    })
  })
  const deadline = Date.now() + (opts.timeoutMs ?? 5000)
  // socat logs "starting data transfer loop" once both ptys exist; the links are made before that
  while (!(stderr.includes('starting data transfer loop') && isLink(a) && isLink(b))) {
    if (exited || Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new PtyError('PTY_SOCAT_FAILED', `socat did not make ${a} and ${b}: ${stderr.trim()}`)
    }
    await new Promise((r) => setTimeout(r, 20))
  }
  return {
    a,
    b,
    pid: child.pid!,
    get exited() {
      return exited
    },
    async stop() {
      if (exited) return
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 2000)
      await exit
      clearTimeout(t)
    },
  }
}
