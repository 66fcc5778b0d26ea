/**
 * The gateway a scenario runs against, as a child process of the runner (so a fault can kill it with
 * SIGKILL and start it again from its spool), its peak RSS sampled from /proc.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createWriteStream, existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'

/** bin/smartcity.js of this checkout (from cli/simulate/ or dist/cli/simulate/). */
function smartcityBin(): string {
  for (const up of ['../..', '../../..']) {
    const p = resolve(import.meta.dirname, up, 'bin', 'smartcity.js')
    if (existsSync(p)) return p
  }
  throw new Error('bin/smartcity.js not found')
}

/** A gateway child process: started, killed, started again; its peak RSS sampled from /proc. */
export function gatewayProcess(configFile: string, logFile: string) {
  let child: ChildProcess | undefined
  let stderr = ''
  let peakKb = 0
  /** Exits the runner did not cause (a crash, a start failure after a restart). */
  const unexpected: string[] = []
  let killing = false
  const sampler = setInterval(() => {
    const pid = child?.pid
    if (pid === undefined || child?.exitCode !== null) return
    try {
      const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
      if (m) peakKb = Math.max(peakKb, Number(m[1]))
    } catch {
      // exited between the check and the read
    }
  }, 250)
  sampler.unref()
  return {
    stderr: () => stderr,
    pid: () => child?.pid,
    unexpectedExits: () => [...unexpected],
    peakRssMb: () => (peakKb > 0 ? peakKb / 1024 : undefined),
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    async start(timeoutMs = 60_000): Promise<void> {
      const out = createWriteStream(logFile, { flags: 'a' })
      // SMARTCITY_GATEWAY_NODE_OPTIONS: Node options for the gateway alone (not the runner and its simulators),
      // e.g. a heap limit as a unit file would set it (bench/load.ts measures with and without).
      const gwOptions = process.env['SMARTCITY_GATEWAY_NODE_OPTIONS']
      const env = gwOptions !== undefined ? { ...process.env, NODE_OPTIONS: gwOptions } : process.env
      const c = spawn(process.execPath, [smartcityBin(), 'gateway', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'], env })
      child = c
      c.stdout?.pipe(out)
      c.once('exit', (code, sig) => {
        if (!killing) unexpected.push(`the gateway exited on its own (${sig ?? `exit ${code}`}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`)
      })
      await new Promise<void>((ok, fail) => {
        const timer = setTimeout(() => fail(new Error(`the gateway did not start within ${timeoutMs / 1000} s: ${stderr.trim()}`)), timeoutMs)
        c.stderr?.on('data', (d: Buffer) => {
          stderr = (stderr + d.toString()).slice(-8000)
          if (/^gateway \S+: mqtt /m.test(stderr)) {
            clearTimeout(timer)
            ok()
          }
        })
        c.once('exit', (code, sig) => {
          clearTimeout(timer)
          fail(new Error(`the gateway exited (${sig ?? code}) before it was up: ${stderr.trim()}`))
        })
      })
    },
    async kill(signal: NodeJS.Signals, waitMs = 15_000): Promise<void> {
      const c = child
      if (!c || c.exitCode !== null || c.signalCode !== null) return
      killing = true
      await new Promise<void>((ok) => {
        c.once('exit', () => {
          killing = false
          ok()
        })
        c.kill(signal)
        setTimeout(() => c.kill('SIGKILL'), waitMs).unref()
      })
    },
    close: () => clearInterval(sampler),
  }
}
