/**
 * Which configuration values are secrets, and keeping them out of everything the gateway prints (issue 13
 * item 4): log lines, error messages, `/metrics`, `/healthz` and `check-config` output.
 *
 * A value is a secret when its key says so (`SECRET_KEYS`, the values of the `SECRET_MAPS` mappings, the
 * password in the user-info of a `url`) or when it was read from a `${file:...}` reference (a file under
 * /run/secrets holds a secret by intent, whatever key it is given to). The rules go by key name, not by one
 * list of paths, so a section another part adds (`broker.auth`, `http.tls`, a source's `authSecret`) is
 * covered as soon as it names its keys the usual way.
 *
 * Two layers: pino's `redact` paths censor secret keys in the objects a log call is given (`REDACT_PATHS`),
 * and a `Redactor` replaces every known secret value in the finished text (a log line, an error message, the
 * metrics page), so a secret that reaches a message by another way (an error body that echoes a credential,
 * a device named like a password) is still cut. A value shorter than `MIN_SCRUB_LENGTH` is not replaced in
 * free text (it would garble every line that holds those characters); `check-config` warns about such a
 * secret instead.
 */
import { statSync } from 'node:fs'
import pino from 'pino'
import type { Registry } from 'prom-client'
import { journaldLine } from './journald.ts'
import { keyPath } from './yaml-problems.ts'

/** Keys whose value is a secret wherever they appear. */
export const SECRET_KEYS: ReadonlySet<string> = new Set(['password', 'token', 'defaultPassword', 'authSecret', 'secret', 'passphrase', 'privateKey', 'apiKey'])
/** Mappings every value of which is a secret: `broker.users` (user -> password), jt808 `authCodes`, hj212 `passwords`. */
export const SECRET_MAPS: ReadonlySet<string> = new Set(['users', 'authCodes', 'passwords'])
/** Keys naming a file that holds a secret (`check-config` warns when others may read it): a TLS `key`, a `passwordFile`. */
export const SECRET_FILE_KEYS: ReadonlySet<string> = new Set(['passwordFile', 'keyFile', 'privateKeyFile'])
/** The text that replaces a secret. */
export const CENSOR = '[redacted]'
/** Shorter secrets are censored by key but not searched for in free text. */
export const MIN_SCRUB_LENGTH = 4

/** pino `redact` paths: secret keys at the top of a log object and one level down, and Authorization headers. */
export const REDACT_PATHS: readonly string[] = [...SECRET_KEYS, 'authorization', 'headers.authorization', 'req.headers.authorization'].flatMap((k) => [k, `*.${k}`])

type Path = readonly (string | number)[]

/** Whether the value at `path` is a secret by its key. */
export function isSecretPath(path: Path): boolean {
  const last = path[path.length - 1]
  const parent = path[path.length - 2]
  if (typeof last === 'string' && SECRET_KEYS.has(last)) return true
  if (typeof parent === 'string' && SECRET_MAPS.has(parent) && typeof last === 'string') return true
  return false
}

/** Whether the value at `path` names a file holding a secret (a TLS private key, a password file). */
export function isSecretFilePath(path: Path): boolean {
  const last = path[path.length - 1]
  const parent = path[path.length - 2]
  if (typeof last === 'string' && SECRET_FILE_KEYS.has(last)) return true
  return last === 'key' && typeof parent === 'string' && /tls/i.test(parent)
}

export interface SecretsFound {
  /** Secret values (strings; numbers as their text). */
  values: { path: string; value: string }[]
  /** Files that hold secrets, by the key that names them. */
  files: { path: string; file: string }[]
}

/** The password of a URL's user-info (`mqtt://user:pass@host`), decoded, or undefined. */
function urlPassword(v: string): string | undefined {
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^/@]*:[^/@]*@/i.test(v)) return undefined
  try {
    const u = new URL(v)
    return u.password ? decodeURIComponent(u.password) : undefined
  } catch {
    return undefined
  }
}

/** Walk configuration data (raw or validated) and collect its secret values and secret files, by key. */
export function findSecrets(data: unknown): SecretsFound {
  const found: SecretsFound = { values: [], files: [] }
  const walk = (node: unknown, path: (string | number)[], depth: number): void => {
    if (depth > 32) return
    if (Array.isArray(node)) {
      node.forEach((v, i) => {
        walk(v, [...path, i], depth + 1)
      })
      return
    }
    if (node !== null && typeof node === 'object') {
      for (const [k, v] of Object.entries(node as Record<string, unknown>)) walk(v, [...path, k], depth + 1)
      return
    }
    if (typeof node !== 'string' && typeof node !== 'number') return
    const text = String(node)
    if (isSecretPath(path)) {
      if (text !== '') found.values.push({ path: keyPath(path), value: text })
    } else if (typeof node === 'string' && isSecretFilePath(path)) {
      found.files.push({ path: keyPath(path), file: node })
    } else if (typeof node === 'string' && path[path.length - 1] === 'url') {
      const pw = urlPassword(node)
      if (pw) found.values.push({ path: `${keyPath(path)} (password)`, value: pw })
    }
  }
  walk(data, [], 0)
  return found
}

/** Replaces known secret values in text. One per gateway process; a reload adds the new secrets. */
export interface Redactor {
  /** Know these values as secrets too (they are never forgotten: an old secret must not leak after a reload). */
  add(values: Iterable<string>): void
  scrub(text: string): string
  /**
   * Replace secrets only inside the string literals of JSON text (a log line) or of the Prometheus text
   * format (label values): the text stays valid whatever the secret (a PW of `123456` must not cut a number).
   */
  scrubStrings(text: string): string
  /** Deep copy of JSON data with secrets replaced in every string. */
  scrubJson<T>(data: T): T
  /** How many values it searches for. */
  readonly size: number
}

/** A double-quoted string literal with backslash escapes (JSON, Prometheus label values). */
const STRING_LITERAL = /"(?:[^"\\\n]|\\.)*"/g

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

export function createRedactor(values: Iterable<string> = []): Redactor {
  const known = new Set<string>()
  let re: RegExp | undefined
  const rebuild = () => {
    // Longest first, so a secret that contains another is replaced whole. Each value also as JSON escapes it
    // (a log line is JSON) and as a URL encodes it.
    const forms = new Set<string>()
    for (const v of known) {
      forms.add(v)
      forms.add(JSON.stringify(v).slice(1, -1))
      forms.add(encodeURIComponent(v))
    }
    const list = [...forms].filter((f) => f.length >= MIN_SCRUB_LENGTH).sort((a, b) => b.length - a.length)
    re = list.length > 0 ? new RegExp(list.map(escapeRe).join('|'), 'g') : undefined
  }
  const r: Redactor = {
    add(vs) {
      let changed = false
      for (const v of vs) {
        if (v.length >= MIN_SCRUB_LENGTH && !known.has(v)) {
          known.add(v)
          changed = true
        }
      }
      if (changed) rebuild()
    },
    scrub(text) {
      return re ? text.replace(re, CENSOR) : text
    },
    scrubStrings(text) {
      if (!re) return text
      // Most texts hold no secret: one search that allocates nothing, instead of a copy of the text (a /metrics
      // of 10,000 devices is megabytes) and a new string per literal.
      re.lastIndex = 0
      if (!re.test(text)) return text
      re.lastIndex = 0
      return text.replace(STRING_LITERAL, (lit) => (lit.length >= MIN_SCRUB_LENGTH ? lit.replace(re!, CENSOR) : lit))
    },
    scrubJson(data) {
      if (!re) return data
      return JSON.parse(r.scrubStrings(JSON.stringify(data))) as typeof data
    },
    get size() {
      return known.size
    },
  }
  r.add(values)
  return r
}

/**
 * The gateway's logger: pino with the secret keys censored (`REDACT_PATHS`) writing through the redactor.
 * pino calls `write` of a plain object synchronously, one line per call, so nothing is buffered in between.
 * `journald`: each line starts with its level as a syslog priority (gateway/journald.ts).
 */
export function redactedLogger(o: { level: string; base?: Record<string, unknown>; redactor: Redactor; dest?: { write(s: string): unknown }; journald?: boolean }): pino.Logger {
  const dest = o.dest ?? pino.destination({ dest: 1, sync: true })
  const stream = o.journald ? { write: (s: string) => dest.write(journaldLine(o.redactor.scrubStrings(s))) } : { write: (s: string) => dest.write(o.redactor.scrubStrings(s)) }
  return pino({ level: o.level, ...(o.base ? { base: o.base } : {}), redact: { paths: [...REDACT_PATHS], censor: CENSOR } }, stream)
}

/** A view of a metrics registry whose text output is scrubbed (what `/metrics` serves). */
export function redactedRegistry(registry: Registry, redactor: Redactor): Registry {
  const view = Object.create(registry) as Registry
  Object.defineProperty(view, 'metrics', { value: async () => redactor.scrubStrings(await registry.metrics()) })
  Object.defineProperty(view, 'getSingleMetricAsString', { value: async (name: string) => redactor.scrubStrings(await registry.getSingleMetricAsString(name)) })
  return view
}

/** `o+r` set on a file (or unreadable: undefined). */
function worldReadable(file: string): { mode: string } | undefined {
  try {
    const st = statSync(file)
    return (st.mode & 0o004) !== 0 ? { mode: (st.mode & 0o777).toString(8).padStart(4, '0') } : undefined
  } catch {
    return undefined
  }
}

/**
 * `check-config` (and start-up) warnings about secrets: a world-readable configuration file that holds a
 * secret literally, a world-readable `${file:}` target or secret file (TLS key, password file), and
 * secrets too short to be searched for in free text.
 */
export function secretWarnings(o: {
  configFile?: string
  /** Key paths of secrets written literally in the configuration file (not `${VAR}` or `${file:}`). */
  literal: readonly string[]
  /** Files read through `${file:...}`, with the key each went to. */
  fileRefs: readonly { path: string; file: string }[]
  found: SecretsFound
}): string[] {
  const out: string[] = []
  const fix = (f: string) => `chmod o-r ${f} (or 600, owned by the gateway's user)`
  if (o.configFile && o.literal.length > 0) {
    const w = worldReadable(o.configFile)
    if (w) out.push(`${o.configFile} holds secrets (${o.literal.join(', ')}) and every user may read it (mode ${w.mode}): ${fix(o.configFile)}, or move them to \${file:/run/secrets/...} or \${VAR}`)
  }
  const seen = new Set<string>()
  for (const { path, file } of [...o.fileRefs, ...o.found.files]) {
    if (seen.has(file)) continue
    seen.add(file)
    const w = worldReadable(file)
    if (w) out.push(`${path}: ${file} holds a secret and every user may read it (mode ${w.mode}): ${fix(file)}`)
  }
  for (const v of o.found.values) {
    if (v.value.length < MIN_SCRUB_LENGTH) out.push(`${v.path}: a secret shorter than ${MIN_SCRUB_LENGTH} characters is redacted by its key but cannot be searched for in log text; use a longer one`)
  }
  return out
}
