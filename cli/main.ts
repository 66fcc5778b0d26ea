/**
 * The `smartcity` command line.
 *   smartcity gateway [--config FILE] [flags]     run the gateway
 *   smartcity demo [flags]                        a simulated district: broker, gateway, simulators, InfluxDB
 *   smartcity decode <format> FILE                decode captured frames, one JSON object per line
 *   smartcity check-config FILE                   validate a configuration, every problem with its key path
 */
// First: makes disabled `debug` loggers no-ops before aedes, mqtt-packet and MQTT.js load them.
import '../gateway/broker/quiet-debug.ts'
import { parseArgs } from 'node:util'
import pino from 'pino'
import { loadConfig } from '../gateway/config.ts'
import { createGateway } from '../gateway/gateway.ts'
import { checkModbusProfiles } from '../gateway/sources/modbus/profiles.ts'
import { decoders, runDecode } from './decode.ts'
import { overridesFrom } from './flags.ts'

const FLAGS = {
  config: { type: 'string', short: 'c' },
  'mqtt-port': { type: 'string' },
  'mqtt-url': { type: 'string' },
  'influx-url': { type: 'string' },
  'influx-db': { type: 'string' },
  'influx-org': { type: 'string' },
  'influx-bucket': { type: 'string' },
  'influx-token': { type: 'string' },
  'http-port': { type: 'string' },
  'data-dir': { type: 'string' },
  'log-level': { type: 'string' },
  duration: { type: 'string' },
  parts: { type: 'string' },
  profile: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

const USAGE = `smartcity: smart-city edge gateway and device simulators

  smartcity gateway [--config FILE] [flags]   run the gateway
  smartcity demo [flags]                      run a simulated district (what npm start runs)
  smartcity decode <format> FILE              decode captured frames (FILE - for stdin)
  smartcity check-config FILE                 validate a configuration file

flags (override the configuration file):
  --config FILE          YAML configuration
  --mqtt-port N          embedded broker port
  --mqtt-url URL         use an external broker instead of the embedded one
  --influx-url URL       InfluxDB URL
  --influx-db NAME       InfluxDB 1.x database
  --influx-org ORG       InfluxDB 2.x/3.x organisation
  --influx-bucket NAME   InfluxDB 2.x/3.x bucket
  --influx-token TOKEN   InfluxDB 2.x/3.x token
  --http-port N          HTTP API port (0 picks a free one)
  --data-dir DIR         spool, dead-letter log and state
  --log-level LEVEL      fatal|error|warn|info|debug|trace
  --duration SECONDS     demo: stop after this long
  --parts A,B            demo: only these parts (water-mqtt, modbus, serial, city-services, tcp-platforms)
  --profile NAME         decode etc-rsu: frame layouts classic, 2019 or auto (default auto)
`

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: FLAGS, allowPositionals: true, strict: true })
  const [cmd, ...rest] = positionals
  if (values.help || !cmd) {
    process.stdout.write(USAGE)
    return cmd || values.help ? 0 : 2
  }
  switch (cmd) {
    case 'check-config': {
      const file = rest[0] ?? values.config
      if (!file) {
        process.stderr.write('usage: smartcity check-config FILE\n')
        return 2
      }
      const r = await loadConfig(file, overridesFrom(values))
      // Profile files are referenced by path: load them too, so a wrong one is found here, not at start-up.
      if (r.ok) {
        const problems = await checkModbusProfiles(r.config.sources)
        if (problems.length > 0) Object.assign(r, { ok: false, problems })
      }
      if (!r.ok) {
        process.stderr.write(`${file}: ${r.problems.length} problem(s)\n`)
        for (const p of r.problems) process.stderr.write(`  ${p}\n`)
        return 1
      }
      process.stdout.write(`${file}: ok (${r.config.sources.length} sources, ${r.config.sinks.length} sinks, ${r.config.devices.length} devices)\n`)
      return 0
    }
    case 'decode': {
      const [format, file] = rest
      if (!format || !file) {
        process.stderr.write(`usage: smartcity decode <format> FILE\nformats:\n${decoders().map((d) => `  ${d.format.padEnd(12)} ${d.description}`).join('\n')}\n`)
        return 2
      }
      return runDecode(format, file, process.stdout, values.profile === undefined ? {} : { profile: values.profile })
    }
    case 'gateway': {
      const r = await loadConfig(values.config, overridesFrom(values))
      if (!r.ok) {
        process.stderr.write(`configuration has ${r.problems.length} problem(s):\n${r.problems.map((p) => `  ${p}`).join('\n')}\n`)
        return 1
      }
      if (typeof values['log-level'] === 'string') r.config.log.level = values['log-level'] as typeof r.config.log.level
      const log = pino({ level: r.config.log.level, base: { gateway: r.config.gateway.id } })
      const gw = createGateway(r.config, { log })
      // Input never throws out of a source; anything that still escapes is a bug. A rejected promise is
      // logged and the gateway goes on; an uncaught exception leaves unknown state, so exit non-zero and let
      // the supervisor restart us: the spool keeps everything that was accepted.
      process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled promise rejection'))
      process.on('uncaughtException', (err) => {
        log.fatal({ err }, 'uncaught exception; exiting so the supervisor restarts the gateway')
        process.exit(70)
      })
      await gw.start()
      const e = gw.endpoints()
      process.stdout.write(`gateway ${r.config.gateway.id}: mqtt ${e.mqtt}${e.http ? `, http ${e.http}` : ''}\n`)
      await new Promise<void>((resolve) => {
        const stop = () => resolve()
        process.once('SIGINT', stop)
        process.once('SIGTERM', stop)
      })
      await gw.stop()
      return 0
    }
    case 'demo': {
      const { runDemo } = await import('./demo.ts')
      const code = await runDemo(values)
      // Everything was stopped in order; a handle some library left behind must not keep us alive.
      setTimeout(() => process.exit(code), 2_000).unref()
      return code
    }
    default:
      process.stderr.write(`unknown command ${cmd}\n${USAGE}`)
      return 2
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`smartcity: ${(err as Error).message}\n`)
    process.exitCode = 2
  },
)
