/**
 * The `smartcity` command line.
 *   smartcity gateway [--config FILE] [flags]     run the gateway
 *   smartcity demo [flags]                        a simulated district: broker, gateway, simulators, InfluxDB
 *   smartcity decode <format> FILE                decode captured frames, one JSON object per line
 *   smartcity check-config FILE                   validate a configuration, every problem with its line and key path
 *   smartcity simulate SCENARIO.yaml [flags]      run a scenario against a gateway configuration: a verdict
 *   smartcity replay FILE|DIR [flags]             send a recording (--record) again through its transports
 *   smartcity token --name N --scopes S,...       a new HTTP API token and its configuration lines
 *   smartcity audit [--since 1h] [flags]          the security audit log
 *   smartcity passwd FILE USER                    add or update a device's line in the broker's credentials file
 *   smartcity help [command], smartcity --version
 */
// First: makes disabled `debug` loggers no-ops before aedes, mqtt-packet and MQTT.js load them.
import '../gateway/broker/quiet-debug.ts'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { loadConfig } from '../gateway/config.ts'
import { createGateway } from '../gateway/gateway.ts'
import { useJournald } from '../gateway/journald.ts'
import { createRedactor, redactedLogger } from '../gateway/secrets.ts'
import { checkBrokerFiles } from '../gateway/broker/security.ts'
import { checkModbusProfiles } from '../gateway/sources/modbus/profiles.ts'
import { AUDIT_USAGE } from './audit.ts'
import { decoders, runDecode } from './decode.ts'
import { overridesFrom } from './flags.ts'
import { runToken, TOKEN_USAGE } from './token.ts'

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
  record: { type: 'string' },
  to: { type: 'string' },
  mqtt: { type: 'string' },
  serial: { type: 'string' },
  fast: { type: 'boolean' },
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
  duration: '--duration TIME        stop after this long (seconds, or 30s, 5m, forever)',
  parts: '--parts A,B            only these parts (water-mqtt, modbus, serial, city-services, tcp-platforms)',
  profile: '--profile NAME         etc-rsu frame layouts: classic, 2019 or auto (default auto)',
  'gateway-config': '--gateway-config FILE  the gateway configuration (simulate: runs against it; replay: sends where it listens)',
  gateway: '--gateway URL          a gateway already running there (with --gateway-config: its sources and sinks)',
  seed: '--seed N               seed of the value models (their random draws and their clock\'s start; default 1)',
  speed: '--speed X              X times faster: simulate periods, faults, the duration and the value models\' clock; replay recorded gaps (default 1)',
  junit: '--junit FILE           write a JUnit XML report (one test case per assertion)',
  json: '--json FILE            write a JSON report',
  truth: '--truth FILE           write the ground truth (every acknowledged reading as its expected point), JSON lines',
  record: '--record DIR           record every source\'s raw bytes and messages under DIR (record.dir)',
  to: '--to HOST:PORT         where TCP recordings go (a device that dialled in) or are answered (a device the gateway dials)',
  mqtt: '--mqtt URL             the broker MQTT recordings are published to',
  serial: '--serial PATH          the other end of the gateway\'s serial port (a socat pty pair); several: SOURCE=PATH,SOURCE=PATH',
  fast: '--fast                 no recorded gaps: only the gateway\'s answers pace the replay',
}
const REPLAY_FLAGS = ['to', 'mqtt', 'serial', 'fast']
const SIMULATE_FLAGS = ['gateway-config', 'gateway', 'seed', 'speed', 'junit', 'json', 'truth']
const OVERRIDES = ['mqtt-port', 'mqtt-url', 'influx-url', 'influx-db', 'influx-org', 'influx-bucket', 'influx-token', 'http-port', 'data-dir', 'log-level']

/** The commands, their synopsis, what they do and the flags they take (`smartcity help <command>`). */
const COMMANDS: Record<string, { synopsis: string; summary: string; what: string; flags: string[]; more?: () => string; usage?: string }> = {
  gateway: { synopsis: 'smartcity gateway [--config FILE] [flags]', summary: 'run the gateway', what: 'run the gateway; flags override the configuration file. SIGHUP reloads the file (an invalid one keeps the running configuration); SIGTERM stops in order within gateway.stopTimeoutSec', flags: ['config', ...OVERRIDES, 'record'] },
  demo: { synopsis: 'smartcity demo [flags]', summary: 'run a simulated district (what npm start runs)', what: 'run a simulated district: broker, gateway, simulators, InfluxDB (what npm start runs)', flags: [...OVERRIDES, 'duration', 'parts'] },
  decode: {
    synopsis: 'smartcity decode <format> FILE',
    summary: 'decode captured frames (FILE - for stdin), or a recording',
    what: 'decode captured frames, one JSON object per line (FILE - for stdin), or, as smartcity decode RECORDING, a recording (--record: a .jsonl file or its directory) with its sources\' codecs and recorded times; exits 1 if a line failed',
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
    flags: ['gateway-config', 'gateway', 'seed', 'speed', 'duration', 'junit', 'json', 'truth', 'record'],
  },
  replay: {
    synopsis: 'smartcity replay FILE|DIR [flags]',
    summary: 'send a recording again through its transports',
    what: 'send a recording (smartcity gateway --record) again: TCP, MQTT and serial as recorded, polled devices (Modbus, DL/T 645) answered from it; exit 0 when the gateway answered as recorded, 1 otherwise',
    flags: ['to', 'mqtt', 'serial', 'gateway-config', 'speed', 'fast', 'duration'],
  },
  // Security (issue 13): these parse their own flags (runOwnFlags below).
  token: { synopsis: 'smartcity token --name N --scopes S,...', summary: 'a new HTTP API token and its config lines', what: '', flags: [], usage: TOKEN_USAGE },
  audit: { synopsis: 'smartcity audit [--since 1h|ISO] [flags]', summary: 'print the security audit log', what: '', flags: [], usage: AUDIT_USAGE },
  passwd: {
    synopsis: 'smartcity passwd FILE USER',
    summary: "add or update a device's MQTT password",
    what: "add or update USER's line in the embedded broker's credentials file (broker.auth.passwordFile), stored as a scrypt hash; the password from stdin (first line) or asked twice on a terminal; the gateway reads it again on SIGHUP",
    flags: [],
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
  .map(([k, line]) => `  ${line}${k === 'duration' ? ' (demo, simulate, replay)' : k === 'parts' ? ' (demo)' : k === 'profile' ? ' (decode etc-rsu)' : k === 'record' ? ' (gateway, simulate)' : REPLAY_FLAGS.includes(k) ? ' (replay)' : k === 'gateway-config' || k === 'speed' ? ' (simulate, replay)' : SIMULATE_FLAGS.includes(k) ? ' (simulate)' : ''}`)
  .join('\n')}

smartcity help <command> (or smartcity <command> --help) shows one command's usage.
`

function commandUsage(name: string): string {
  const c = COMMANDS[name]
  if (!c) return USAGE
  if (c.usage) return c.usage
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

/** Commands with flags of their own: `audit --json` is a switch where `simulate --json FILE` takes a file. */
async function runOwnFlags(cmd: string | undefined, rest: string[]): Promise<number | undefined> {
  if (cmd === 'token') return runToken(rest, process.stdout, process.stderr)
  if (cmd === 'audit') {
    const { runAudit } = await import('./audit.ts')
    return runAudit(rest, process.stdout, process.stderr)
  }
  return undefined
}

/** Every secret of the configurations this process read: scrubbed from everything it prints (issue 13 item 4). */
const redactor = createRedactor()

/** Exit status of a stop that overran its deadline (SIGTERM) or a second signal during the stop. */
const EXIT_STOP_FORCED = 1

async function main(argv: string[]): Promise<number> {
  const own = await runOwnFlags(argv[0], argv.slice(1))
  if (own !== undefined) return own
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
        const problems = [...(await checkModbusProfiles(r.config.sources)), ...(await checkBrokerFiles(r.config.broker))]
        if (problems.length > 0) Object.assign(r, { ok: false, problems })
      }
      if (r.ok) redactor.add(r.secrets)
      if (!r.ok) {
        process.stderr.write(`${file}: ${r.problems.length} problem(s)\n`)
        for (const p of r.problems) process.stderr.write(`  ${redactor.scrub(p)}\n`)
        return 1
      }
      for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`)
      process.stdout.write(`${file}: ok (${r.config.sources.length} sources, ${r.config.sinks.length} sinks, ${r.config.devices.length} devices)\n`)
      return 0
    }
    case 'decode': {
      // A recording (its header says so), a file or a directory of them: decoded with each source's codec.
      if (rest.length === 1 && rest[0] !== '-') {
        const { isRecording } = await import('./replay/recording.ts')
        const { statSync } = await import('node:fs')
        const p = rest[0]!
        let dir = false
        try {
          dir = statSync(p).isDirectory()
        } catch {
          // not there: the usage below says what decode takes
        }
        if (dir || isRecording(p)) {
          const { runDecodeRecording } = await import('./decode.ts')
          return runDecodeRecording(p)
        }
      }
      const [format, file] = rest
      if (!format || !file) {
        process.stderr.write(`usage: smartcity decode <format> FILE\nformats:\n${decoders().map((d) => `  ${d.format.padEnd(12)} ${d.description}`).join('\n')}\n`)
        return 2
      }
      return runDecode(format, file, process.stdout, values.profile === undefined ? {} : { profile: values.profile })
    }
    case 'gateway': {
      const overrides = overridesFrom(values)
      const r = await loadConfig(values.config, overrides)
      if (!r.ok) {
        process.stderr.write(`configuration has ${r.problems.length} problem(s):\n${r.problems.map((p) => `  ${p}`).join('\n')}\n`)
        return 1
      }
      redactor.add(r.secrets)
      // Warnings go to stderr: stdout carries only the JSON log.
      for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`)
      // The log goes through the redactor: secret keys censored, secret values cut from every line.
      const log = redactedLogger({ level: r.config.log.level, base: { gateway: r.config.gateway.id }, redactor, journald: useJournald(r.config.log.format) })
      const file = values.config
      const gw = createGateway(r.config, { log, redactor, ...(file !== undefined ? { loadConfig: () => loadConfig(file, overrides) } : {}) })
      // Input never throws out of a source; anything that still escapes is a bug. A rejected promise is
      // logged and the gateway goes on; an uncaught exception leaves unknown state, so exit non-zero and let
      // the supervisor restart us: the spool keeps everything that was accepted.
      process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled promise rejection'))
      process.on('uncaughtException', (err) => {
        log.fatal({ err }, 'uncaught exception; exiting so the supervisor restarts the gateway')
        process.exit(70)
      })
      // SIGHUP: read the file again and apply it; an invalid file keeps the running configuration (the
      // gateway logs and audits why). Installed before start (its default action ends the process); a
      // reload waits for the start, and reloads queue up in the gateway, one at a time.
      process.on('SIGHUP', () => {
        void gw.reload().then((res) => {
          const what = res.ok ? `reloaded: ${res.changes.join('; ') || 'nothing changed'}` : `reload failed, the running configuration stays: ${res.problems.join('; ')}`
          const restart = res.restartNeeded.length > 0 ? ` (restart needed for: ${res.restartNeeded.join(', ')})` : ''
          process.stderr.write(`${redactor.scrub(`gateway ${r.config.gateway.id}: ${what}${restart}`)}\n`)
        })
      })
      // Rejects with a StartError (code start_failed) once what had started is stopped: see the handler below.
      await gw.start()
      const e = gw.endpoints()
      // stdout carries the JSON log (its 'gateway started' record has the same endpoints); this line is for people.
      process.stderr.write(`${redactor.scrub(`gateway ${r.config.gateway.id}: mqtt ${e.mqtt}${e.http ? `, http ${e.http}` : ''}`)}\n`)
      const signal = await new Promise<NodeJS.Signals>((resolve) => {
        process.once('SIGINT', resolve)
        process.once('SIGTERM', resolve)
      })
      // Ordered and bounded (gateway.stopTimeoutSec); a second signal, or a stop that still hangs a few
      // seconds past its deadline, exits at once: the spool holds whatever was accepted.
      const deadlineMs = gw.config.gateway.stopTimeoutSec * 1000
      const force = (why: string) => {
        log.warn({ why }, 'stopping at once')
        process.exit(EXIT_STOP_FORCED)
      }
      process.once('SIGINT', () => force('second signal'))
      process.once('SIGTERM', () => force('second signal'))
      setTimeout(() => force('stop overran its deadline'), deadlineMs + 5_000).unref()
      log.info({ signal, deadlineMs }, 'stopping')
      await gw.stop({ deadlineMs })
      return 0
    }
    case 'demo': {
      const { runDemo } = await import('./demo.ts')
      const code = await runDemo(values)
      // Everything was stopped in order; a handle some library left behind must not keep us alive.
      setTimeout(() => process.exit(code), 2_000).unref()
      return code
    }
    case 'replay': {
      const { runReplay } = await import('./replay.ts')
      const code = await runReplay(rest[0], values)
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
    case 'passwd': {
      const { runPasswd } = await import('./passwd.ts')
      return runPasswd(rest[0], rest[1])
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
    process.stderr.write(`${redactor.scrub(`smartcity: ${(err as Error).message}`)}\n`)
    // A component that could not start (a port already taken, ...): EX_UNAVAILABLE from sysexits.h, so a
    // supervisor sees the failure (README "Operating it"). Anything else: 2.
    const startFailed = (err as { code?: unknown }).code === 'start_failed'
    process.exitCode = startFailed ? EXIT_START_FAILED : 2
    // Everything was stopped; a handle some library left behind must not keep a failed gateway alive.
    if (startFailed) setTimeout(() => process.exit(EXIT_START_FAILED), 2_000).unref()
  },
)
