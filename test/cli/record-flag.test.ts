/** `smartcity gateway --record DIR` as an operator runs it: the recording is there after a SIGTERM. */
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { afterAll, describe, expect, it } from 'vitest'
import { readRecordings } from '../../cli/replay/recording.ts'
import { tempDir } from '../helpers/env.ts'
import { freePort, waitFor } from '../helpers/net.ts'

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'smartcity.js')

describe('smartcity gateway --record DIR', () => {
  const tmp = tempDir('rec-cli-')
  afterAll(() => tmp.cleanup())

  it('records every MQTT message the source received, with topic, QoS and payload, and says so in /metrics', async () => {
    const cfg = join(tmp.dir, 'gw.yaml')
    writeFileSync(cfg, 'gateway:\n  district: d1\nsources:\n  - type: mqtt\n')
    const mqttPort = await freePort()
    const dir = join(tmp.dir, 'rec')
    const child = spawn(process.execPath, [BIN, 'gateway', '--config', cfg, '--record', dir, '--mqtt-port', String(mqttPort), '--http-port', '0', '--data-dir', join(tmp.dir, 'data'), '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
    try {
      await waitFor(() => /gateway [^:]+: mqtt .*http (\S+)/.exec(stderr), 30_000, 'the gateway to start')
      const http = /http (\S+)/.exec(stderr)![1]!
      const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { clientId: 'rec-cli-test' })
      const payload = JSON.stringify({ ts: Date.UTC(2026, 11, 1), ph: 7.31 })
      await c.publishAsync('city/d1/water_quality/wq-9/telemetry', payload, { qos: 1 })
      await c.endAsync()
      const metrics = await (await fetch(`${http}/metrics`)).text()
      expect(metrics).toMatch(/^smartcity_record_files_total 1$/m)
      expect(metrics).toMatch(/^smartcity_record_bytes_total [1-9]\d*$/m)
      child.kill('SIGTERM')
      expect(await exited).toBe(0)
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
    }
    const [rec, ...more] = readRecordings(dir)
    expect(more).toEqual([])
    expect(rec!.header).toMatchObject({ source: 'mqtt', type: 'mqtt', transport: 'mqtt' })
    expect(rec!.records.map((r) => [r.dir, r.topic, r.qos, r.bytes.toString()])).toEqual([['in', 'city/d1/water_quality/wq-9/telemetry', 1, JSON.stringify({ ts: Date.UTC(2026, 11, 1), ph: 7.31 })]])
  }, 60_000)
})
