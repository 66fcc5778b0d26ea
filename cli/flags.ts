/** Command-line flags that override the configuration file. */
import { createServer } from 'node:net'
import type { ConfigOverrides } from '../gateway/config.ts'

function port(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0 || n > 65_535) throw new Error(`--${name}: not a port number: ${v}`)
  return n
}

export function overridesFrom(values: Record<string, string | boolean | undefined>): ConfigOverrides {
  const o: ConfigOverrides = {}
  const s = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined)
  const mp = port(s('mqtt-port'), 'mqtt-port')
  if (mp !== undefined) o.mqttPort = mp
  const hp = port(s('http-port'), 'http-port')
  if (hp !== undefined) o.httpPort = hp
  for (const [flag, key] of [
    ['mqtt-url', 'mqttUrl'],
    ['influx-url', 'influxUrl'],
    ['influx-db', 'influxDb'],
    ['influx-org', 'influxOrg'],
    ['influx-bucket', 'influxBucket'],
    ['influx-token', 'influxToken'],
    ['data-dir', 'dataDir'],
    ['log-level', 'logLevel'],
    ['record', 'recordDir'],
  ] as const) {
    const v = s(flag)
    if (v !== undefined) o[key] = v
  }
  return o
}


/** `preferred` when it is free on 127.0.0.1, else a free port (0 asks for any free port). */
export async function portOr(preferred: number): Promise<number> {
  const tryListen = (p: number) =>
    new Promise<number | undefined>((res) => {
      const s = createServer()
      s.once('error', () => res(undefined))
      s.listen(p, '127.0.0.1', () => {
        const a = s.address()
        s.close(() => res(a && typeof a === 'object' ? a.port : undefined))
      })
    })
  return (await tryListen(preferred)) ?? (await tryListen(0)) ?? 0
}
