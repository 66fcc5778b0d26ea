import { type ChildProcess, spawn } from 'node:child_process'
import { openSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const ROOT = join(import.meta.dirname, '..', '..')

/** A gateway instance as a child process (`smartcity gateway --config FILE`), as production runs it. */
export interface GatewayProcess {
  readonly id: string
  readonly child: ChildProcess
  /** The HTTP API's base URL (`http.port` of the config). */
  readonly http: string
  /** Everything the gateway wrote on stderr (its human lines and any crash). */
  stderr(): string
  /** SIGKILL: no stop, no flush; what it had acknowledged is in its spool. */
  kill(): Promise<void>
  /** SIGTERM and wait for the exit (the gateway's orderly stop). */
  stop(): Promise<void>
  /** A counter or gauge of `/metrics`, summed over its labels (0 when absent). */
  metric(name: string): Promise<number>
}

/**
 * Write `yaml` to `<dir>/<id>.yaml` and start the gateway on it; resolves once it says it is up (its
 * `gateway <id>: mqtt ...` line on stderr), rejects if it exits first or takes longer than `timeoutMs`.
 */
export async function startGatewayProcess(dir: string, id: string, yaml: string, httpPort: number, timeoutMs = 60_000): Promise<GatewayProcess> {
  const file = join(dir, `${id}.yaml`)
  writeFileSync(file, yaml)
  // stdout is the JSON log: kept in <dir>/<id>.log (appended across restarts) for a failed run.
  const log = openSync(join(dir, `${id}.log`), 'a')
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'smartcity.js'), 'gateway', '--config', file], { stdio: ['ignore', log, 'pipe'] })
  let err = ''
  child.stderr!.on('data', (d: Buffer) => {
    if (err.length < 200_000) err += d.toString()
  })
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`gateway ${id} did not start within ${timeoutMs} ms: ${err}`)), timeoutMs)
    const onData = () => {
      if (err.includes(`gateway ${id}: `)) {
        clearTimeout(t)
        child.stderr!.off('data', onData)
        child.off('exit', onExit)
        resolve()
      }
    }
    const onExit = (c: number | null) => {
      clearTimeout(t)
      reject(new Error(`gateway ${id} exited ${c}: ${err}`))
    }
    child.stderr!.on('data', onData)
    child.once('exit', onExit)
  })
  const exited = () => child.exitCode !== null || child.signalCode !== null
  const ends = (sig: NodeJS.Signals) =>
    exited()
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          child.once('exit', () => resolve())
          child.kill(sig)
        })
  const http = `http://127.0.0.1:${httpPort}`
  return {
    id,
    child,
    http,
    stderr: () => err,
    kill: () => ends('SIGKILL'),
    stop: async () => {
      const t = setTimeout(() => child.kill('SIGKILL'), 30_000)
      await ends('SIGTERM')
      clearTimeout(t)
    },
    async metric(name) {
      const res = await fetch(`${http}/metrics`, { signal: AbortSignal.timeout(5_000) })
      const text = await res.text()
      let sum = 0
      for (const line of text.split('\n')) {
        if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1))
      }
      return sum
    },
  }
}
