import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { which } from './env.ts'
import { freePort, waitFor } from './net.ts'

const run = promisify(execFile)

/** A real Mosquitto broker on a free loopback port. */
export interface MosquittoServer {
  url: string
  port: number
  stop(): Promise<void>
}

export async function startMosquitto(dir: string, fixedPort?: number): Promise<MosquittoServer> {
  const bin = which('mosquitto')
  if (!bin) throw new Error('mosquitto not found')
  const port = fixedPort ?? (await freePort())
  const conf = join(dir, `mosquitto-${port}.conf`)
  // Persistent sessions must survive the gateway's absence; queue generously for the tests.
  writeFileSync(
    conf,
    `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\nmax_inflight_messages 100\nlog_type error\n`,
  )
  const child: ChildProcess = spawn(bin, ['-c', conf], { stdio: 'ignore' })
  const url = `mqtt://127.0.0.1:${port}`
  await waitFor(async () => {
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-t', 'probe', '-m', 'x'])
    return true
  }, 10_000, 'mosquitto')
  return {
    url,
    port,
    async stop() {
      if (child.exitCode !== null) return
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      })
    },
  }
}

/**
 * Publish with Debian's mosquitto_pub (an independent MQTT client). With `lines`, every line of stdin is
 * one message (`-l`), so thousands of messages cost one process.
 */
export async function mosquittoPub(port: number, topic: string, opts: { message?: string; lines?: string[]; qos?: 0 | 1 | 2 }): Promise<void> {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-t', topic, '-q', String(opts.qos ?? 1)]
  if (opts.lines) {
    await new Promise<void>((resolve, reject) => {
      const p = spawn('mosquitto_pub', [...args, '-l'], { stdio: ['pipe', 'ignore', 'pipe'] })
      let err = ''
      p.stderr.on('data', (d: Buffer) => (err += d.toString()))
      p.on('error', reject)
      p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`mosquitto_pub exited ${code}: ${err}`))))
      p.stdin.end(`${opts.lines!.join('\n')}\n`)
    })
  } else {
    await run('mosquitto_pub', [...args, '-m', opts.message ?? ''])
  }
}
