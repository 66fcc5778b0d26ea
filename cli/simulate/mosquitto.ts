/**
 * An external Mosquitto the runner starts for a scenario with a `broker_restart` fault: on a free loopback
 * port, as the current user (`user`: Mosquitto would otherwise drop root to a `mosquitto` user that cannot
 * write the run directory), persistence in a private directory, so the gateway's persistent session and
 * the QoS 1 messages queued for it survive a restart (Mosquitto writes its database on SIGTERM). The
 * gateway reads it as its `external` broker; the simulators publish to it.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { userInfo } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { findProgram } from '../programs.ts'

/** The mosquitto to run: `SMARTCITY_MOSQUITTO` (a path, or `none`), else the PATH (Debian puts it in /usr/sbin). */
export const findMosquitto = (): string | undefined => findProgram('mosquitto', { env: 'SMARTCITY_MOSQUITTO', debianPath: '/usr/sbin/mosquitto' })

export interface Mosquitto {
  url: string
  port: number
  start(): Promise<void>
  stop(): Promise<void>
  running(): boolean
  pid(): number | undefined
}

export function mosquitto(o: { bin: string; dir: string; port: number }): Mosquitto {
  mkdirSync(o.dir, { recursive: true })
  const conf = join(o.dir, 'mosquitto.conf')
  writeFileSync(
    conf,
    [
      `listener ${o.port} 127.0.0.1`,
      'allow_anonymous true',
      `user ${userInfo().username}`,
      'persistence true',
      `persistence_location ${o.dir}/`,
      'autosave_interval 1',
      // The gateway's session queues what arrives while it is away (a kill fault): queue generously.
      'max_queued_messages 1000000',
      'max_inflight_messages 100',
      `log_dest file ${join(o.dir, 'mosquitto.log')}`,
      'log_type error',
      'log_type warning',
      '',
    ].join('\n'),
  )
  let child: ChildProcess | undefined
  let stderr = ''
  const up = () =>
    new Promise<boolean>((ok) => {
      const s = connect({ host: '127.0.0.1', port: o.port })
      s.once('connect', () => {
        s.destroy()
        ok(true)
      })
      s.once('error', () => ok(false))
    })
  return {
    url: `mqtt://127.0.0.1:${o.port}`,
    port: o.port,
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    pid: () => child?.pid,
    async start() {
      stderr = ''
      const c = spawn(o.bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
      child = c
      c.stderr?.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-4000)
      })
      const deadline = Date.now() + 15_000
      for (;;) {
        if (c.exitCode !== null) throw new Error(`mosquitto exited with ${c.exitCode}: ${stderr.trim()}`)
        if (await up()) return
        if (Date.now() > deadline) throw new Error(`mosquitto did not listen on 127.0.0.1:${o.port}: ${stderr.trim()}`)
        await sleep(50)
      }
    },
    async stop() {
      const c = child
      if (!c || c.exitCode !== null || c.signalCode !== null) return
      await new Promise<void>((ok) => {
        c.once('exit', () => ok())
        c.kill('SIGTERM')
        setTimeout(() => c.kill('SIGKILL'), 10_000).unref()
      })
    },
  }
}
