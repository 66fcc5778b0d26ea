/**
 * Where a server program the CLI runs as a child is (InfluxDB for the demo and `smartcity simulate`,
 * Mosquitto for the broker_restart fault): an environment variable (a path, or `none` to run without it),
 * else the PATH, else where Debian installs it (/usr/sbin is not on every user's PATH).
 */
import { execFileSync } from 'node:child_process'

export function findProgram(name: string, o: { env: string; debianPath: string }): string | undefined {
  const forced = process.env[o.env]
  if (forced !== undefined && forced !== '') return forced === 'none' ? undefined : forced
  for (const cmd of [`command -v ${name}`, `test -x ${o.debianPath} && echo ${o.debianPath}`]) {
    try {
      const out = execFileSync('sh', ['-c', cmd], { encoding: 'utf8' }).trim()
      if (out) return out
    } catch {
      // not here
    }
  }
  return undefined
}
