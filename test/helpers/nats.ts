import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { join } from 'node:path'
import { which } from './env.ts'
import { freePort, waitFor } from './net.ts'

/** One real nats-server (Debian's, 2.9.10 here) with JetStream, on a loopback port, its store in `dir`. */
export interface NatsServer {
  url: string
  port: number
  storeDir: string
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>
  /** Start again on the same port with the same store (after `stop`). */
  restart(): Promise<void>
}

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port })
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })

/** TLS on the client port (PEM files) and one user with a password, as a city's server would have them. */
export interface NatsSecure {
  tls: { cert: string; key: string }
  user: string
  password: string
}

export async function startNats(dir: string, fixedPort?: number, secure?: NatsSecure): Promise<NatsServer> {
  const bin = which('nats-server')
  if (!bin) throw new Error('nats-server not found')
  const port = fixedPort ?? (await freePort())
  const storeDir = join(dir, `nats-${port}`)
  mkdirSync(storeDir, { recursive: true })
  const args = ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir, '-n', `test-${port}`]
  if (secure) {
    const conf = join(dir, `nats-${port}.conf`)
    // JSON is a valid NATS configuration file (its format is a superset of JSON).
    writeFileSync(conf, JSON.stringify({ tls: { cert_file: secure.tls.cert, key_file: secure.tls.key }, authorization: { user: secure.user, password: secure.password } }))
    args.push('-c', conf)
  }
  let child: ChildProcess | undefined
  const start = async () => {
    const p = spawn(bin, args, { stdio: 'ignore' })
    child = p
    await waitFor(async () => {
      if (p.exitCode !== null) throw new Error(`nats-server exited ${p.exitCode}`)
      return listening(port)
    }, 15_000, 'nats-server')
  }
  await start()
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    async stop() {
      const p = child
      if (!p || p.exitCode !== null) return
      await new Promise<void>((resolve) => {
        p.once('exit', () => resolve())
        p.kill('SIGTERM')
      })
    },
    restart: start,
  }
}
