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

/**
 * A central broker as a city runs one: TLS on the listener (server certificate and key, PEM files), a
 * password file (made with mosquitto_passwd) instead of anonymous access, and persistence in `dir` so
 * sessions and queued messages survive a restart of the broker.
 */
export interface MosquittoSecure {
  tls: { ca: string; cert: string; key: string }
  users: Record<string, string>
  persistence?: boolean
}

export async function startMosquitto(dir: string, fixedPort?: number, secure?: MosquittoSecure): Promise<MosquittoServer> {
  const bin = which('mosquitto')
  if (!bin) throw new Error('mosquitto not found')
  const port = fixedPort ?? (await freePort())
  const conf = join(dir, `mosquitto-${port}.conf`)
  // Persistent sessions must survive the gateway's absence; queue generously for the tests.
  let text = `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\nmax_inflight_messages 100\nlog_type error\n`
  let probe: string[] = []
  if (secure) {
    const pw = join(dir, `mosquitto-${port}.passwd`)
    writeFileSync(pw, '')
    for (const [u, p] of Object.entries(secure.users)) await run('mosquitto_passwd', ['-b', pw, u, p])
    const [u, p] = Object.entries(secure.users)[0] ?? []
    probe = ['--cafile', secure.tls.ca, ...(u ? ['-u', u, '-P', p ?? ''] : [])]
    // `user root`: the test's files are root's; without it mosquitto drops to its own user and cannot read them.
    text =
      `user root\nlistener ${port} 127.0.0.1\ncafile ${secure.tls.ca}\ncertfile ${secure.tls.cert}\nkeyfile ${secure.tls.key}\n` +
      `allow_anonymous false\npassword_file ${pw}\n` +
      (secure.persistence ? `persistence true\npersistence_location ${dir}/\npersistence_file mosquitto-${port}.db\n` : 'persistence false\n') +
      'max_queued_messages 100000\nmax_inflight_messages 100\nlog_type error\n'
  }
  writeFileSync(conf, text)
  const child: ChildProcess = spawn(bin, ['-c', conf], { stdio: 'ignore' })
  const url = `mqtt://127.0.0.1:${port}`
  await waitFor(async () => {
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), ...probe, '-t', 'probe', '-m', 'x'])
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
