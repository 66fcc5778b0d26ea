import { type ChildProcess, spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { freePort } from './net.ts'

const HERE = dirname(fileURLToPath(import.meta.url))

export interface PyEntry {
  table: 'hr' | 'ir' | 'co' | 'di'
  address: number
  type?: string
  order?: string
  value: number | boolean | string
}

export interface PymodbusServer {
  port: number
  /** Writes the server received, in order (from its own datastore). */
  writes: { unit: number; fc: number; address: number; values: (number | boolean)[] }[]
  stop(): Promise<void>
}

/** Debian's pymodbus as an independent Modbus TCP server holding `units` (laid out by pymodbus itself). */
export async function startPymodbus(dir: string, units: Record<number, PyEntry[]>): Promise<PymodbusServer> {
  const port = await freePort()
  const cfg = join(dir, `pymodbus-${port}.json`)
  writeFileSync(cfg, JSON.stringify({ units }))
  const child: ChildProcess = spawn('/usr/bin/python3', [join(HERE, 'pymodbus_server.py'), String(port), cfg], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)))
  const writes: PymodbusServer['writes'] = []
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`pymodbus did not start: ${stderr}`)), 20_000)
    child.once('exit', (code) => reject(new Error(`pymodbus exited ${code}: ${stderr}`)))
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = JSON.parse(line) as { ready?: number; write?: PymodbusServer['writes'][number] }
      if (m.ready) {
        clearTimeout(t)
        resolve()
      }
      if (m.write) writes.push(m.write)
    })
  })
  return {
    port,
    writes,
    async stop() {
      if (child.exitCode !== null) return
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      })
    },
  }
}

export interface PyReadSpec {
  unit: number
  table: 'hr' | 'ir' | 'co' | 'di'
  address: number
  type?: string
  order?: string
  length?: number
  bit?: number
}

/**
 * Read points with pymodbus's client and payload decoder (raw values, before scale): Modbus TCP on a loopback
 * port, or Modbus RTU on a serial device path.
 */
export async function pymodbusRead(where: number | string, spec: PyReadSpec[]): Promise<unknown[]> {
  const args = typeof where === 'number' ? ['127.0.0.1', String(where)] : ['--rtu', where]
  return new Promise((resolve, reject) => {
    const p = spawn('/usr/bin/python3', [join(HERE, 'pymodbus_read.py'), ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    p.stdout.on('data', (d: Buffer) => (out += d.toString()))
    p.stderr.on('data', (d: Buffer) => (err += d.toString()))
    p.on('error', reject)
    p.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`pymodbus_read exited ${code}: ${err}`))
      try {
        resolve(JSON.parse(out) as unknown[])
      } catch (e) {
        reject(new Error(`pymodbus_read printed ${out}: ${String(e)}`))
      }
    })
    p.stdin.end(JSON.stringify(spec))
  })
}
