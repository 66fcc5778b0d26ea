/**
 * Topic access for the embedded broker, in Mosquitto's `acl_file` syntax (mosquitto.conf(5), "acl_file";
 * https://mosquitto.org/documentation/plugins/acl-file):
 *
 *   # comment
 *   topic [read|write|readwrite|deny] <topic>     before any `user` line: anonymous clients
 *   user <username>                               the lines after it: that user (or certificate CN)
 *   pattern [read|write|readwrite|deny] <topic>   every client, %u = username, %c = client id
 *
 * Without an access word the access is readwrite; `deny` wins over any grant. A subscription is granted
 * only where a read rule covers the whole filter; each message delivered is checked again (a deny inside a
 * broader grant). Without a file, the default: a device publishes only under
 * city/<district>/<kind>/<its id>/... and subscribes only to city/<district>/<kind>/<its id>/command/...
 * (district and kind from the inventory, any when it is not there).
 */
import { readFile } from 'node:fs/promises'
import { compileFilter, covers, wildcardFirst } from './topics.ts'

export type Access = 'read' | 'write' | 'readwrite' | 'deny'

export interface AclRule {
  access: Access
  topic: string
}

export interface AclFile {
  anonymous: AclRule[]
  users: Map<string, AclRule[]>
  patterns: AclRule[]
}

const ACCESS = new Set<Access>(['read', 'write', 'readwrite', 'deny'])

/** Parse an ACL file, or every problem with its line. */
export function parseAcl(text: string, file: string): AclFile | { problems: string[] } {
  const acl: AclFile = { anonymous: [], users: new Map(), patterns: [] }
  const problems: string[] = []
  let current = acl.anonymous
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.replace(/^\s+/, '').replace(/\s+$/, '')
    if (line === '' || line.startsWith('#')) continue
    const at = `${file}:${i + 1}`
    const m = /^(\S+)\s+(.*)$/.exec(line)
    if (!m) {
      problems.push(`${at}: expected topic, user or pattern with a value`)
      continue
    }
    const [, word, rest] = m as unknown as [string, string, string]
    if (word === 'user') {
      current = acl.users.get(rest) ?? []
      acl.users.set(rest, current)
      continue
    }
    if (word !== 'topic' && word !== 'pattern') {
      problems.push(`${at}: unknown directive ${word} (topic, user or pattern)`)
      continue
    }
    const am = /^(\S+)\s+(.+)$/.exec(rest)
    let access: Access = 'readwrite'
    let topic = rest
    if (am && ACCESS.has(am[1] as Access)) {
      access = am[1] as Access
      topic = am[2]!
    }
    const bad = badFilter(topic)
    if (bad) {
      problems.push(`${at}: ${bad}`)
      continue
    }
    ;(word === 'pattern' ? acl.patterns : current).push({ access, topic })
  }
  return problems.length > 0 ? { problems } : acl
}

function badFilter(f: string): string | undefined {
  const levels = f.split('/')
  for (const [i, l] of levels.entries()) {
    if (l === '#' && i !== levels.length - 1) return `# must be the last level: ${f}`
    if (l !== '#' && l !== '+' && (l.includes('#') || l.includes('+'))) return `a wildcard must be a whole level: ${f}`
  }
  return undefined
}

export async function loadAcl(file: string): Promise<AclFile> {
  const r = parseAcl(await readFile(file, 'utf8'), file)
  if ('problems' in r) throw new Error(r.problems.join('; '))
  return r
}

/** Who a client is, for its ACL. */
export interface AclSubject {
  /** Username or certificate CN; undefined for an anonymous client. */
  identity: string | undefined
  clientId: string
}

/** Where an inventory device may publish: its district and kind (defaults to any). */
export type InventoryLookup = (id: string) => { district: string; kind: string } | undefined

interface Compiled {
  access: Access
  topic: string
  re: RegExp
  wild: boolean
}

/** A client's compiled rules: publish (write), subscribe and delivery (read) checks. */
export class ClientAcl {
  private readonly rules: Compiled[]
  private lastWrite: string | undefined
  private lastWriteOk = false

  constructor(rules: readonly AclRule[]) {
    this.rules = rules.map((r) => ({ ...r, re: compileFilter(r.topic), wild: wildcardFirst(r.topic) }))
  }

  private matches(r: Compiled, topic: string): boolean {
    if (r.wild && topic.charCodeAt(0) === 36) return false
    return r.re.test(topic)
  }

  private check(topic: string, grant: (a: Access) => boolean): boolean {
    let ok = false
    for (const r of this.rules) {
      if (r.access === 'deny') {
        if (this.matches(r, topic)) return false
      } else if (!ok && grant(r.access) && this.matches(r, topic)) ok = true
    }
    return ok
  }

  /** May publish to `topic` (checked per message: the last answer is kept, devices repeat their topic). */
  canPublish(topic: string): boolean {
    if (topic === this.lastWrite) return this.lastWriteOk
    const ok = this.check(topic, (a) => a !== 'read')
    this.lastWrite = topic
    this.lastWriteOk = ok
    return ok
  }

  /** May receive a message on `topic`. */
  canRead(topic: string): boolean {
    return this.check(topic, (a) => a !== 'write')
  }

  /** May subscribe to `filter`: a read rule covers all of it and no deny rule covers it. */
  canSubscribe(filter: string): boolean {
    let ok = false
    for (const r of this.rules) {
      if (r.access === 'deny') {
        if (covers(r.topic, filter)) return false
      } else if (!ok && r.access !== 'write' && covers(r.topic, filter)) ok = true
    }
    return ok
  }
}

/** An id safe to put in a topic rule: one level, no wildcards (Mosquitto refuses such %u/%c too). */
function safeLevel(s: string): boolean {
  return s.length > 0 && !/[/+#\0]/.test(s)
}

/** The rules of one client from an ACL file. */
export function rulesFromFile(acl: AclFile, s: AclSubject): AclRule[] {
  const out: AclRule[] = s.identity === undefined ? [...acl.anonymous] : [...(acl.users.get(s.identity) ?? [])]
  for (const p of acl.patterns) {
    if (p.topic.includes('%u') && (s.identity === undefined || !safeLevel(s.identity))) continue
    if (p.topic.includes('%c') && !safeLevel(s.clientId)) continue
    out.push({ access: p.access, topic: p.topic.replaceAll('%u', s.identity ?? '').replaceAll('%c', s.clientId) })
  }
  return out
}

/**
 * The default rules: the device's own telemetry, status and event topics (and anything under them), and
 * its command topics to subscribe to. An anonymous client (allowed only by `allowAnonymous: true`) is
 * bound to its client id.
 */
export function defaultRules(s: AclSubject, inventory: InventoryLookup): AclRule[] {
  const id = s.identity ?? s.clientId
  if (!safeLevel(id)) return []
  const d = inventory(id)
  const prefix = `city/${d?.district ?? '+'}/${d?.kind ?? '+'}/${id}`
  return [
    { access: 'write', topic: `${prefix}/#` },
    { access: 'read', topic: `${prefix}/command/#` },
  ]
}
