/**
 * The gateway of bench/tcp-platforms.ts in a process of its own, so that its RSS is a gateway's alone (not the
 * bench harness's, nor the load generator's), as on an edge box. Started with fork(): argv[2] is the gateway
 * configuration as JSON. It answers the parent's messages: `{ask: 'memory'}` (after a GC when --expose-gc),
 * `{ask: 'window'}` (RSS, CPU and event-loop delay since the last window, counters), `{ask: 'stop'}`.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import pino from 'pino'
import { parseConfig } from '../gateway/config.ts'
import { createGateway } from '../gateway/gateway.ts'

const raw = JSON.parse(process.argv[2] ?? '{}') as Record<string, unknown>
const cfg = parseConfig(raw)
if (!cfg.ok) throw new Error(cfg.problems.join('; '))
const gw = createGateway(cfg.config, { log: pino({ level: 'silent' }) })

async function counter(name: string): Promise<number> {
  const m = await gw.metrics.registry.getSingleMetric(name)?.get()
  let sum = 0
  for (const v of m?.values ?? []) sum += v.value
  return sum
}

const send = (m: Record<string, unknown>) => process.send?.(m)
let lag = monitorEventLoopDelay({ resolution: 10 })
let cpu0 = process.cpuUsage()
let t0 = performance.now()
let peakRss = 0
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss)
}, 250)

process.on('message', (m: { ask: string }) => {
  void (async () => {
    if (m.ask === 'memory') {
      global.gc?.()
      const u = process.memoryUsage()
      send({ reply: 'memory', rss: u.rss, heapUsed: u.heapUsed })
    } else if (m.ask === 'start-window') {
      lag.disable()
      lag = monitorEventLoopDelay({ resolution: 10 })
      lag.enable()
      cpu0 = process.cpuUsage()
      t0 = performance.now()
      peakRss = process.memoryUsage().rss
      send({ reply: 'start-window', accepted: await counter('smartcity_readings_accepted_total') })
    } else if (m.ask === 'window') {
      const cpu = process.cpuUsage(cpu0)
      const wall = performance.now() - t0
      const u = process.memoryUsage()
      send({
        reply: 'window',
        rss: u.rss,
        peakRss: Math.max(peakRss, u.rss),
        heapUsed: u.heapUsed,
        cpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / wall) * 1000) / 10,
        loopLagP99Ms: Math.round(lag.percentile(99) / 1e4) / 100,
        loopLagMaxMs: Math.round(lag.max / 1e4) / 100,
        accepted: await counter('smartcity_readings_accepted_total'),
        rejected: await counter('smartcity_readings_rejected_total'),
      })
    } else if (m.ask === 'stop') {
      clearInterval(sampler)
      await gw.stop()
      send({ reply: 'stopped' })
      process.exit(0)
    }
  })()
})

await gw.start()
send({ reply: 'ready' })
