/**
 * Logging that is off costs nothing: `debug` loggers (the library mqtt-packet and MQTT.js log through)
 * whose namespace is not enabled by DEBUG at start-up become no-ops.
 *
 * mqtt-packet's parser calls its debug logger about ten times per packet, off or not. Each call gathers
 * its arguments into a fresh array and asks a getter whether the namespace is on: on the embedded broker's
 * hot path that was 0.5 us and 2 KB of garbage per MQTT message, a quarter of what aedes and mqtt-packet
 * allocate. So before those libraries load, the shared `debug` module is replaced in the require cache by
 * a factory that returns the real logger for namespaces DEBUG enables and a no-op otherwise. DEBUG works as
 * documented; only `debug.enable()` called later at run time no longer reaches loggers made while off.
 *
 * Imported first by the modules that load aedes and MQTT.js (and by the CLI), so it runs before them.
 */
import { createRequire } from 'node:module'
import { dirname } from 'node:path'

interface DebugFactory {
  (namespace: string): DebugLogger
  enabled(namespace: string): boolean
}

interface DebugLogger {
  (...args: unknown[]): void
  namespace: string
  enabled: boolean
  extend(sub: string, delimiter?: string): DebugLogger
  destroy(): boolean
  log?: unknown
}

const MARK = Symbol.for('smartcity.quiet-debug')

function install(): boolean {
  const require = createRequire(import.meta.url)
  let path: string
  try {
    // The copy of `debug` mqtt-packet resolves (the hoisted one, shared with MQTT.js).
    path = require.resolve('debug', { paths: [dirname(require.resolve('mqtt-packet'))] })
  } catch {
    return false
  }
  const real = require(path) as DebugFactory & { [MARK]?: true }
  if (real[MARK]) return true
  const factory = ((namespace: string): DebugLogger => {
    if (real.enabled(namespace)) return real(namespace)
    const off = (() => undefined) as unknown as DebugLogger
    off.namespace = namespace
    off.enabled = false
    off.extend = (sub: string, delimiter = ':') => factory(namespace + delimiter + sub)
    off.destroy = () => false
    return off
  }) as DebugFactory & { [MARK]?: true }
  Object.assign(factory, real, { default: factory })
  factory[MARK] = true
  const cached = require.cache[path]
  if (!cached) return false
  cached.exports = factory
  return true
}

/** Whether the no-op factory is in place (false when `debug` or mqtt-packet could not be found). */
export const quietDebugInstalled = install()
