import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { have, tempDir } from '../helpers/env.ts'
import { sleep, waitFor } from '../helpers/net.ts'

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'smartcity.js')

describe.skipIf(!have('influxd'))('smartcity demo', () => {
  const tmp = tempDir()
  let child: ChildProcess | undefined
  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGKILL')
      await new Promise((r) => child!.once('exit', r))
    }
    tmp.cleanup()
  })

  it('starts InfluxDB, the broker, the gateway and the stations, says what runs where, and stores readings', { timeout: 90_000 }, async () => {
    child = spawn(process.execPath, [BIN, 'demo', '--data-dir', tmp.dir, '--http-port', '0', '--mqtt-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()))
    await waitFor(() => out.includes('Press Ctrl-C'), 60_000, `the demo banner (${out})`)
    expect(out).toContain('MQTT broker (embedded)')
    expect(out).toMatch(/InfluxDB 1\.x\s+http:\/\/127\.0\.0\.1:\d+ database "smartcity" \(started by the demo/)
    const influx = /InfluxDB 1\.x\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!
    const http = /HTTP API\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!
    await waitFor(async () => {
      const r = (await (await fetch(`${influx}/query?db=smartcity&q=${encodeURIComponent('SELECT count(ph) FROM water_quality')}`, { signal: AbortSignal.timeout(5_000) })).json()) as { results: { series?: { values: number[][] }[] }[] }
      return (r.results[0]?.series?.[0]?.values[0]?.[1] ?? 0) >= 4
    }, 30_000, 'station readings in InfluxDB')
    const health = await fetch(`${http}/healthz`, { signal: AbortSignal.timeout(5_000) })
    expect(health.status).toBe(200)
    child.kill('SIGINT')
    const code = await new Promise((r) => child!.once('exit', r))
    expect(code).toBe(0)
  })
})

describe('smartcity demo without InfluxDB', () => {
  const tmp = tempDir()
  let child: ChildProcess | undefined
  // Runs even when the test timed out: no demo outlives the suite, and its data goes only after it.
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await new Promise((r) => child!.once('exit', r))
    }
    tmp.cleanup()
  })

  it('keeps readings in the spool and says how to point it at an InfluxDB', { timeout: 120_000 }, async () => {
    // Only the MQTT stations: this test is about the missing InfluxDB, not the other families.
    child = spawn(process.execPath, [BIN, 'demo', '--parts', 'water-mqtt', '--data-dir', tmp.dir, '--http-port', '0', '--mqtt-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SMARTCITY_INFLUXD: 'none' } })
    let out = ''
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()))
    const proc = child
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)))
    try {
      await waitFor(() => out.includes('Press Ctrl-C'), 60_000, 'the demo banner')
      expect(out).toContain('readings are kept in the spool')
      expect(out).toContain('--influx-url')
      const http = /HTTP API\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!
      await waitFor(async () => {
        const m = await (await fetch(`${http}/metrics`, { signal: AbortSignal.timeout(5_000) })).text()
        return Number(/smartcity_spool_depth_points (\d+)/.exec(m)?.[1] ?? 0) > 0
      }, 30_000, 'readings waiting in the spool')
      const health = (await (await fetch(`${http}/healthz`, { signal: AbortSignal.timeout(5_000) })).json()) as { components: Record<string, { status: string }> }
      expect(health.components['sinks']?.status).toBe('degraded')
      // Ctrl-C stops the whole district, promptly.
      proc.kill('SIGINT')
      const code = await Promise.race([exited, sleep(20_000).then(() => 'still running' as const)])
      expect(code, `the demo did not stop on SIGINT; its output:\n${out.slice(-3000)}`).toBe(0)
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- demo output ---\n${out.slice(-3000)}`)
    } finally {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
      await exited
    }
  })
})
