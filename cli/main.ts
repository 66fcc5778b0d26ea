/**
 * The `smartcity` command line.
 *   smartcity gateway [--config FILE] [flags]     run the gateway
 *   smartcity demo [flags]                        a simulated district: broker, gateway, simulators, InfluxDB
 *   smartcity decode <format> FILE                decode captured frames, one JSON object per line
 *   smartcity check-config FILE                   validate a configuration, every problem with its line and key path
 *   smartcity simulate SCENARIO.yaml [flags]      run a scenario against a gateway configuration: a verdict
 *   smartcity help [command], smartcity --version
 */
// First: makes disabled `debug` loggers no-ops before aedes, mqtt-packet and MQTT.js load them.
import '../gateway/broker/quiet-debug.ts'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
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
  'gateway-config': { type: 'string' },
  gateway: { type: 'string' },
  seed: { type: 'string' },
  speed: { type: 'string' },
  junit: { type: 'string' },
  json: { type: 'string' },
  truth: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const

/** Each flag's line in the usage texts. */
const FLAG_HELP: Record<string, string> = {
  config: '--config FILE          YAML configuration',
  'mqtt-port': '--mqtt-port N          embedded broker port',
  'mqtt-url': '--mqtt-url URL         use an external broker instead of the embedded one',
  'influx-url': '--influx-url URL       InfluxDB URL (http:// or https://)',
  'influx-db': '--influx-db NAME       InfluxDB 1.x database',
  'influx-org': '--influx-org ORG       InfluxDB 2.x/3.x organisation',
  'influx-bucket': '--influx-bucket NAME   InfluxDB 2.x/3.x bucket',
  'influx-token': '--influx-token TOKEN   InfluxDB 2.x/3.x token',
  'http-port': '--http-port N          HTTP API port (0 picks a free one)',
  'data-dir': '--data-dir DIR         spool, dead-letter log and state',
  'log-level': '--log-level LEVEL      fatal|error|warn|info|debug|trace|silent',
  duration: '--duration SECONDS     stop after this long',
  parts: '--parts A,B            only these parts (water-mqtt, modbus, serial, city-services, tcp-platforms)',
  profile: '--profile NAME         etc-rsu frame layouts: classic, 2019 or auto (default auto)',
  'gateway-config': '--gateway-config FILE  the gateway configuration to run the scenario against',
  gateway: '--gateway URL          a gateway already running there (with --gateway-config: its sources and sinks)',
  seed: '--seed N               seed of the value models (their random draws and their clock\'s start; default 1)',
  speed: '--speed X              run periods, faults, the duration and the value models\' clock X times faster (default 1)',
  junit: '--junit FILE           write a JUnit XML report (one test case per assertion)',
  json: '--json FILE            write a JSON report',
  truth: '--truth FILE           write the ground truth (every acknowledged reading as its expected point), JSON lines',
}
const SIMULATE_FLAGS = ['gateway-config', 'gateway', 'seed', 'speed', 'junit', 'json', 'truth']
const OVERRIDES = ['mqtt-port', 'mqtt-url', 'influx-url', 'influx-db', 'influx-org', 'influx-bucket', 'influx-token', 'http-port', 'data-dir', 'log-level']

/** The commands, their synopsis, what they do and the flags they take (`smartcity help <command>`). */
const COMMANDS: Record<string, { synopsis: string; summary: string; what: string; flags: string[]; more?: () => string }> = {
  gateway: { synopsis: 'smartcity gateway [--config FILE] [flags]', summary: 'run the gateway', what: 'run the gateway; flags override the configuration file', flags: ['config', ...OVERRIDES] },
  demo: { synopsis: 'smartcity demo [flags]', summary: 'run a simulated district (what npm start runs)', what: 'run a simulated district: broker, gateway, simulators, InfluxDB (what npm start runs)', flags: [...OVERRIDES, 'duration', 'parts'] },
  decode: {
    synopsis: 'smartcity decode <format> FILE',
    summary: 'decode captured frames (FILE - for stdin)',
    what: 'decode captured frames, one JSON object per line (FILE - for stdin); exits 1 if a line failed',
    flags: ['profile'],
    more: () => `formats:\n${decoders().map((d) => `  ${d.format.padEnd(12)} ${d.description}`).join('\n')}\n`,
  },
  'check-config': {
    synopsis: 'smartcity check-config FILE [flags]',
    summary: 'validate a configuration file',
    what: 'validate a configuration: every problem with its line and key path (exit 1); warnings on stderr (exit 0)',
    flags: OVERRIDES,
  },
  simulate: {
    synopsis: 'smartcity simulate SCENARIO.yaml [flags]',
    summary: 'run a scenario against a gateway configuration',
    what: 'run a scenario (simulators, faults, expectations) against a gateway configuration: a summary, exit 0 when every expectation held, 1 otherwise, 2 for a bad scenario',
    flags: ['gateway-config', 'gateway', 'seed', 'speed', 'junit', 'json', 'truth'],
  },
  help: { synopsis: 'smartcity help [command]', summary: "a command's usage and flags", what: "print a command's usage and flags", flags: [] },
}

const USAGE = `smartcity: smart-city edge gateway and device simulators

${Object.values(COMMANDS)
  .map((c) => `  ${c.synopsis.padEnd(44)}${c.summary}`)
  .join('\n')}
  smartcity --version                         the version

flags (override the configuration file):
${Object.entries(FLAG_HELP)
  .map(([k, line]) => `  ${line}${k === 'duration' || k === 'parts' ? ' (demo)' : k === 'profile' ? ' (decode etc-rsu)' : SIMULATE_FLAGS.includes(k) ? ' (simulate)' : ''}`)
  .join('\n')}

smartcity help <command> (or smartcity <command> --help) shows one command's usage.
`

function commandUsage(name: string): string {
  const c = COMMANDS[name]
  if (!c) return USAGE
  const flags = c.flags.map((f) => `  ${FLAG_HELP[f]}`).join('\n')
  return `usage: ${c.synopsis}\n\n${c.what}\n${flags ? `\nflags:\n${flags}\n` : ''}${c.more ? `\n${c.more()}` : ''}`
}

/** The version in package.json (from cli/ in a checkout, from dist/cli/ in a build). */
function version(): string {
  for (const up of ['..', '../..']) {
    try {
      const pkg = JSON.parse(readFileSync(join(import.meta.dirname, up, 'package.json'), 'utf8')) as { name?: string; version?: string }
      if (pkg.name === 'smartcity-edge-gateway' && pkg.version) return pkg.version
    } catch {
      // not at this level
    }
  }
  return 'unknown'
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: FLAGS, allowPositionals: true, strict: true })
  const [cmd, ...rest] = positionals
  if (values.version) {
    process.stdout.write(`smartcity ${version()}\n`)
    return 0
  }
  if (cmd === 'help' || (values.help && cmd)) {
    const name = cmd === 'help' ? rest[0] : cmd
    if (name !== undefined && !COMMANDS[name]) {
      process.stderr.write(`unknown command ${name}\n${USAGE}`)
      return 2
    }
    process.stdout.write(name === undefined ? USAGE : commandUsage(name))
    return 0
  }
  if (values.help || !cmd) {
    process.stdout.write(USAGE)
    return values.help ? 0 : 2
  }
  switch (cmd) {
    case 'check-config': {
      const file = rest[0] ?? values.config
      if (!file) {
        process.stderr.write(commandUsage('check-config'))
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
      for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`)
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
      // Warnings go to stderr: stdout carries only the JSON log.
      for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`)
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
      // Rejects with a StartError (code start_failed) once what had started is stopped: see the handler below.
      await gw.start()
      const e = gw.endpoints()
      // stdout carries the JSON log (its 'gateway started' record has the same endpoints); this line is for people.
      process.stderr.write(`gateway ${r.config.gateway.id}: mqtt ${e.mqtt}${e.http ? `, http ${e.http}` : ''}\n`)
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
    case 'simulate': {
      const { runSimulate } = await import('./simulate/run.ts')
      const code = await runSimulate(rest[0], values)
      // Everything was stopped in order; a handle some library left behind must not keep us alive.
      setTimeout(() => process.exit(code), 2_000).unref()
      return code
    }
    default:
      process.stderr.write(`unknown command ${cmd}\n${USAGE}`)
      return 2
  }
}

/** Exit status when a component cannot start (sysexits.h EX_UNAVAILABLE). */
const EXIT_START_FAILED = 69

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`smartcity: ${(err as Error).message}\n`)
    // A component that could not start (a port already taken, ...): EX_UNAVAILABLE from sysexits.h, so a
    // supervisor sees the failure (README "Operating it"). Anything else: 2.
    const startFailed = (err as { code?: unknown }).code === 'start_failed'
    process.exitCode = startFailed ? EXIT_START_FAILED : 2
    // Everything was stopped; a handle some library left behind must not keep a failed gateway alive.
    if (startFailed) setTimeout(() => process.exit(EXIT_START_FAILED), 2_000).unref()
  },
)
