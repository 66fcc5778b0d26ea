import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { tempDir } from '../helpers/env.ts'
import { gatewayFrom } from '../helpers/gateway.ts'
import { freePort, sleep } from '../helpers/net.ts'

describe('gateway lifecycle', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('stops at once while a sink keeps failing to start (its retry back-off does not hold the stop)', { timeout: 30_000 }, async () => {
    const dead = await freePort()
    const gw = gatewayFrom({ dataDir: join(tmp.dir, 'gw'), http: { enabled: false }, broker: { type: 'embedded', port: 0 }, sinks: [{ type: 'influx-v1', url: `http://127.0.0.1:${dead}`, timeoutMs: 500 }] })
    await gw.start()
    // Long enough for the start-up retries to back off to waits of 8 s and more.
    await sleep(6_000)
    const t0 = Date.now()
    await gw.stop()
    expect(Date.now() - t0).toBeLessThan(3_000)
  })
})
