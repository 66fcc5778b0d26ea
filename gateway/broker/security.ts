/**
 * The embedded broker's identities, topic access and limits, as aedes hooks (docs/security.md):
 *
 * - Identity: a verified TLS client certificate's CN (like Mosquitto's `use_identity_as_username`), else the
 *   CONNECT username checked against `auth.passwordFile` (scrypt) or `users`, else anonymous (allowed only
 *   while the broker is open, or with `auth.allowAnonymous: true`).
 * - Access: `auth.aclFile` (Mosquitto syntax, acl.ts) or, once identities are configured, the default: a
 *   device publishes only under its own topics. The gateway's own publishes do not pass these hooks.
 * - Limits: connections, a token bucket per client, QoS 1/2 messages in flight, packet size.
 *
 * MQTT 3.1.1 (all aedes speaks) refuses a CONNECT with a CONNACK return code (3 server unavailable, 4 bad
 * username or password, 5 not authorized), a SUBSCRIBE with SUBACK 0x80, and a PUBLISH by closing the
 * connection (MQTT-3.3.5-2: there is no negative PUBACK; a QoS 1 message refused is never acknowledged, so
 * the device keeps it). Every refusal is counted by reason and audited (`mqtt.connect`, `mqtt.publish`,
 * `mqtt.subscribe`).
 */
import { timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import { TLSSocket } from 'node:tls'
import type { Client } from 'aedes'
import type { Reason } from '../../devices/common/reasons.ts'
import type { Audit, AuditRecord } from '../core/audit.ts'
import type { Logger } from '../core/types.ts'
import { type AclFile, ClientAcl, defaultRules, type InventoryLookup, loadAcl, rulesFromFile } from './acl.ts'
import type { EmbeddedBrokerConfig } from './config.ts'
import { guardPacketSize } from './packet-guard.ts'
import { loadPasswordFile, type PasswordHash, passwordFingerprint, verifyPassword } from './passwords.ts'

/** Why the broker refused something (catalogued in devices/common/reasons.ts). */
export type BrokerRefusal = Extract<Reason, 'bad_credentials' | 'not_authorized' | 'too_many_connections' | 'too_many_inflight' | 'rate_limited' | 'payload_too_large' | 'tls_handshake_failed'>
export type BrokerAction = 'connect' | 'publish' | 'subscribe'

export interface BrokerSecurityOptions {
  log: Logger
  audit?: Audit
  /** Counts a refusal (`smartcity_mqtt_refused_total{action,reason}`). */
  refused?: (action: BrokerAction, reason: BrokerRefusal) => void
  /** Inventory devices' district and kind, for the default ACL. */
  inventory?: InventoryLookup
  now?: () => number
}

/** What was loaded from files: swapped whole by `reload()`. */
interface Loaded {
  passwords: Map<string, PasswordHash>
  acl: AclFile | undefined
}

interface ClientState {
  identity: string | undefined
  actorType: 'device' | 'anonymous'
  address: string | undefined
  /** How the identity was proven: a password-file line (its text, to tell a changed line on reload), `users`, a certificate. */
  via: { kind: 'file'; text: string } | { kind: 'users' } | { kind: 'cert' } | { kind: 'none' }
  acl: ClientAcl | undefined
  gen: number
  /** The token bucket: one per identity, so a device does not get a fresh burst by reconnecting. */
  bucket: Bucket
  inflight: number
}

/** Audit records of one address, action and reason: the first AUDIT_BURST, then one per AUDIT_QUIET_MS. */
const AUDIT_BURST = 20
const AUDIT_QUIET_MS = 10_000

interface Bucket {
  tokens: number
  last: number
}

/** The error aedes turns into a CONNACK return code. */
function connackError(code: 3 | 4 | 5, message: string): Error & { returnCode: number } {
  return Object.assign(new Error(message), { returnCode: code })
}

const DUMMY: PasswordHash = {
  N: 16_384,
  r: 8,
  p: 1,
  salt: Buffer.alloc(16, 1),
  hash: Buffer.alloc(32, 2),
  text: '',
}

function peerAddress(client: Client): string | undefined {
  const s = (client.req?.socket ?? client.conn) as { remoteAddress?: string; remotePort?: number }
  return s.remoteAddress === undefined ? undefined : `${s.remoteAddress}:${s.remotePort ?? ''}`
}

/** The verified certificate's CN, when the client came over TLS with one. */
function certIdentity(client: Client): string | undefined {
  const s = client.req?.socket ?? client.conn
  if (!(s instanceof TLSSocket) || !s.authorized) return undefined
  const cn = s.getPeerCertificate()?.subject?.CN
  return typeof cn === 'string' && cn.length > 0 ? cn : Array.isArray(cn) ? cn[0] : undefined
}

export function createBrokerSecurity(initial: EmbeddedBrokerConfig, opts: BrokerSecurityOptions) {
  let cfg = initial
  let loaded: Loaded = { passwords: new Map(), acl: undefined }
  let users = new Map(Object.entries(cfg.users))
  let inventory: InventoryLookup = opts.inventory ?? (() => undefined)
  let gen = 0
  const now = opts.now ?? Date.now
  const states = new WeakMap<Client, ClientState>()
  // Passwords already verified (username -> fingerprint): a device that reconnects does not cost a scrypt.
  const verified = new Map<string, Buffer>()
  const buckets = new Map<string, Bucket>()
  const quiet = new Map<string, { audited: number; suppressed: number; lastAudit: number; lastSeen: number }>()
  // Connections between CONNECT and the end of authentication (a scrypt in flight): they count against
  // maxConnections too, or a burst of simultaneous connects would all pass.
  let pending = 0
  const audit = opts.audit
  const log = opts.log

  /** Identities are configured: anonymous clients are refused (unless allowed) and the default ACL applies. */
  const secured = () => cfg.auth.passwordFile !== undefined || users.size > 0 || cfg.tls?.requireClientCert === true
  const anonymousAllowed = () => cfg.auth.allowAnonymous ?? !secured()
  /** Topic access is checked at all (an open broker without an ACL file lets everything through, as before). */
  const aclActive = () => loaded.acl !== undefined || secured()

  async function load(c: EmbeddedBrokerConfig): Promise<Loaded> {
    const [passwords, acl] = await Promise.all([
      c.auth.passwordFile !== undefined ? loadPasswordFile(c.auth.passwordFile) : Promise.resolve(new Map<string, PasswordHash>()),
      c.auth.aclFile !== undefined ? loadAcl(c.auth.aclFile) : Promise.resolve(undefined),
    ])
    return { passwords, acl }
  }

  function aclFor(st: Pick<ClientState, 'identity'>, clientId: string): ClientAcl | undefined {
    if (!aclActive()) return undefined
    const subject = { identity: st.identity, clientId }
    return new ClientAcl(loaded.acl ? rulesFromFile(loaded.acl, subject) : defaultRules(subject, inventory))
  }

  /** The client's state with its ACL as of the last reload. */
  function stateOf(client: Client): ClientState | undefined {
    const st = states.get(client)
    if (st && st.gen !== gen) {
      st.acl = aclFor(st, client.id)
      st.gen = gen
    }
    return st
  }

  /**
   * Count every refusal; audit the first AUDIT_BURST of one address, action and reason, then one per
   * AUDIT_QUIET_MS: a client refused in a loop (thousands of CONNECTs a second cost nothing to send) must not
   * fill the audit log. Each record says how many refusals since the last one were not recorded one by one
   * (the metric counts every one); an address quiet for AUDIT_QUIET_MS starts a new burst.
   */
  function refuse(action: BrokerAction, reason: BrokerRefusal, r: Omit<AuditRecord, 'action' | 'outcome' | 'reason'>): void {
    opts.refused?.(action, reason)
    log.debug({ action, reason, actor: r.actor, target: r.target, address: r.address }, 'mqtt refused')
    if (!audit) return
    const ip = r.address?.replace(/:\d*$/, '') ?? ''
    const key = `${ip}\u0000${action}\u0000${reason}`
    const t = now()
    let q = quiet.get(key)
    if (!q || t - q.lastSeen > AUDIT_QUIET_MS) {
      if (quiet.size >= 10_000) quiet.clear()
      // A quiet address starts a new burst; what an old one left unrecorded is said in its first record.
      q = { audited: 0, suppressed: q?.suppressed ?? 0, lastAudit: 0, lastSeen: t }
      quiet.set(key, q)
    }
    q.lastSeen = t
    if (q.audited < AUDIT_BURST || t - q.lastAudit >= AUDIT_QUIET_MS) {
      const more = q.suppressed > 0 ? ` (and ${q.suppressed} more like it from this address not recorded one by one)` : ''
      audit.record({ ...r, action: `mqtt.${action}`, outcome: 'denied', reason, ...(r.detail !== undefined || more ? { detail: `${r.detail ?? ''}${more}`.trim() } : {}) })
      q.audited++
      q.lastAudit = t
      q.suppressed = 0
    } else q.suppressed++
  }

  async function checkPassword(username: string, password: Buffer | undefined): Promise<ClientState['via'] | undefined> {
    if (password === undefined) return undefined
    const fp = passwordFingerprint(password)
    const plain = users.get(username)
    if (plain !== undefined) {
      const ok = timingSafeEqual(passwordFingerprint(plain), fp)
      return ok ? { kind: 'users' } : undefined
    }
    const h = loaded.passwords.get(username)
    const known = verified.get(username)
    if (h && known && timingSafeEqual(known, fp)) return { kind: 'file', text: h.text }
    // An unknown user costs the same scrypt as a known one: the time does not tell which names exist.
    const ok = await verifyPassword(password, h ?? DUMMY)
    if (!ok || !h) return undefined
    verified.set(username, fp)
    return { kind: 'file', text: h.text }
  }

  return {
    /** Read the password and ACL files: before the broker listens. */
    async init(): Promise<void> {
      loaded = await load(cfg)
    },

    /**
     * Read the credentials and ACL files again (SIGHUP), with a new broker section and inventory when given.
     * All or nothing: a file that does not parse keeps what was loaded and rejects with every problem.
     * Clients whose password line changed or went are disconnected; every client's ACL is rebuilt.
     */
    async reload(next: { config?: EmbeddedBrokerConfig; inventory?: InventoryLookup; clients?: () => Iterable<Client> } = {}): Promise<void> {
      const c = next.config ?? cfg
      const l = await load(c)
      cfg = c
      loaded = l
      users = new Map(Object.entries(c.users))
      if (next.inventory) inventory = next.inventory
      verified.clear()
      gen++
      for (const client of next.clients?.() ?? []) {
        const st = states.get(client)
        if (!st) continue
        const v = st.via
        const gone =
          (v.kind === 'file' && loaded.passwords.get(st.identity ?? '')?.text !== v.text) ||
          (v.kind === 'users' && !users.has(st.identity ?? '')) ||
          (v.kind === 'none' && !anonymousAllowed())
        if (gone) {
          audit?.record({ actor: st.identity ?? 'anonymous', actorType: st.actorType, action: 'mqtt.connect', target: client.id, ...(st.address ? { address: st.address } : {}), outcome: 'denied', reason: 'bad_credentials', detail: 'credentials changed on reload: disconnected' })
          client.close()
        }
      }
      log.info({ users: loaded.passwords.size + users.size, acl: c.auth.aclFile ?? (secured() ? 'default' : 'none') }, 'broker credentials and ACL reloaded')
    },

    secured,

    /** aedes `authenticate`: limits, identity, the will's topic. */
    authenticate(client: Client, connected: number, username: string | undefined, password: Buffer | undefined, done: (err: (Error & { returnCode: number }) | null, ok: boolean | null) => void) {
      const address = peerAddress(client)
      const at = address ? { address } : {}
      const max = cfg.limits.maxConnections
      if (max > 0 && connected + pending >= max) {
        refuse('connect', 'too_many_connections', { actor: username ?? 'anonymous', actorType: username ? 'device' : 'anonymous', target: client.id, ...at, detail: `${connected} clients connected and ${pending} connecting, limit ${max}` })
        return done(connackError(3, 'too many connections'), false)
      }
      const finish = (st: ClientState) => {
        st.acl = aclFor(st, client.id)
        const will = (client as unknown as { _will?: { topic?: string } })._will
        if (st.acl && will?.topic !== undefined && !st.acl.canPublish(will.topic)) {
          refuse('connect', 'not_authorized', { actor: st.identity ?? 'anonymous', actorType: st.actorType, target: will.topic, ...at, detail: 'the will topic is not the client\'s to publish' })
          return done(connackError(5, 'not authorized'), false)
        }
        states.set(client, st)
        if (secured()) audit?.record({ actor: st.identity ?? 'anonymous', actorType: st.actorType, action: 'mqtt.connect', target: client.id, ...at, outcome: 'ok', detail: `via ${st.via.kind}` })
        done(null, true)
      }
      const base = (identity: string | undefined, via: ClientState['via']): ClientState => ({
        identity,
        actorType: identity === undefined ? 'anonymous' : 'device',
        address,
        via,
        acl: undefined,
        gen,
        bucket: bucketFor(identity),
        inflight: 0,
      })
      const cn = certIdentity(client)
      if (cn !== undefined) return finish(base(cn, { kind: 'cert' }))
      if (username !== undefined && secured()) {
        const g = gen
        pending++
        checkPassword(username, password).then(
          (via) => {
            pending--
            if (!via || g !== gen) {
              refuse('connect', 'bad_credentials', { actor: username, actorType: 'device', target: client.id, ...at })
              return done(connackError(4, 'bad user name or password'), false)
            }
            finish(base(username, via))
          },
          (err: unknown) => {
            pending--
            log.error({ err }, 'password check failed')
            done(connackError(3, 'server unavailable'), false)
          },
        )
        return
      }
      if (username === undefined && !anonymousAllowed()) {
        refuse('connect', 'not_authorized', { actor: 'anonymous', actorType: 'anonymous', target: client.id, ...at, detail: 'anonymous clients are not allowed' })
        return done(connackError(5, 'not authorized'), false)
      }
      // An open broker: a username is kept for the audit trail but proves nothing.
      finish(base(username, { kind: 'none' }))
    },

    /**
     * aedes `authorizePublish`, before the message is taken: why it is refused, or undefined. Runs for every
     * message: a map lookup, a token bucket and (when an ACL is active) the client's last-topic answer.
     */
    checkPublish(client: Client | null, topic: string, qos: number, size: number): BrokerRefusal | undefined {
      // `$SYS/...` is the broker's own (aedes' default authorizePublish refuses it too).
      if (topic.charCodeAt(0) === 36 && topic.startsWith('$SYS')) return client ? this.deny(client, 'not_authorized', topic, 'topics under $SYS are the broker\'s') : 'not_authorized'
      if (!client) return undefined
      const st = stateOf(client)
      if (!st) return this.deny(client, 'not_authorized', topic, 'not connected')
      const l = cfg.limits
      if (size > l.maxPacketBytes) return this.deny(client, 'payload_too_large', topic, `${size} bytes > ${l.maxPacketBytes}`)
      if (st.acl && !st.acl.canPublish(topic)) return this.deny(client, 'not_authorized', topic, 'topic not in the client\'s ACL')
      // A will is published as the client goes: not counted against its rate.
      if (client.closed) return undefined
      if (l.messagesPerSec > 0) {
        const t = now()
        const b = st.bucket
        b.tokens = Math.min(bucketSize(), b.tokens + ((t - b.last) * l.messagesPerSec) / 1000)
        b.last = t
        if (b.tokens < 1) return this.deny(client, 'rate_limited', topic, `over ${l.messagesPerSec} messages/s (burst ${bucketSize()})`)
        b.tokens -= 1
      }
      if (l.maxInflight > 0 && qos > 0 && st.inflight >= l.maxInflight) return this.deny(client, 'too_many_inflight', topic, `${st.inflight} messages not yet acknowledged, limit ${l.maxInflight}`)
      return undefined
    },

    deny(client: Client, reason: BrokerRefusal, topic: string, detail: string): BrokerRefusal {
      const st = states.get(client)
      const address = st?.address ?? peerAddress(client)
      refuse('publish', reason, { actor: st?.identity ?? 'anonymous', actorType: st?.actorType ?? 'anonymous', target: topic, ...(address ? { address } : {}), detail: `client ${client.id}: ${detail}` })
      return reason
    },

    /** Whether in-flight messages are counted (`limits.maxInflight`). */
    countsInflight: () => cfg.limits.maxInflight > 0,
    inflight(client: Client, d: 1 | -1): void {
      const st = states.get(client)
      if (st) st.inflight += d
    },

    /** aedes `authorizeSubscribe`: SUBACK 0x80 for a filter the client's ACL does not cover. */
    authorizeSubscribe(client: Client, filter: string): boolean {
      const st = stateOf(client)
      if (!st?.acl || st.acl.canSubscribe(filter)) return true
      const address = st.address
      refuse('subscribe', 'not_authorized', { actor: st.identity ?? 'anonymous', actorType: st.actorType, target: filter, ...(address ? { address } : {}), detail: `client ${client.id}: filter not covered by the client's ACL` })
      return false
    },

    /** aedes `authorizeForward`: a message the client may not read is not delivered to it. */
    canRead(client: Client, topic: string): boolean {
      const st = stateOf(client)
      return !st?.acl || st.acl.canRead(topic)
    },

    /** A TLS handshake that failed (no or a bad client certificate, a plain client on the TLS port). */
    tlsFailed(address: string | undefined, err: Error): void {
      refuse('connect', 'tls_handshake_failed', { actor: 'anonymous', actorType: 'anonymous', target: 'tls', ...(address ? { address } : {}), detail: err.message })
    },

    /** Refuse packets larger than `limits.maxPacketBytes` from their fixed header, before they are buffered. */
    guard(conn: Readable, address: string | undefined): void {
      guardPacketSize(conn, () => cfg.limits.maxPacketBytes, (size, max) => {
        const client = (conn as { client?: Client }).client
        const st = client ? states.get(client) : undefined
        refuse('publish', 'payload_too_large', { actor: st?.identity ?? 'anonymous', actorType: st?.actorType ?? 'anonymous', target: client?.id ?? 'mqtt', ...(address ? { address } : {}), detail: `packet of ${size} bytes > ${max}: connection closed` })
      })
    },
  }

  /** An identity's bucket (kept across its connections; bounded: forgotten all at once when 100,000 are kept). */
  function bucketFor(identity: string | undefined): Bucket {
    if (identity === undefined) return { tokens: bucketSize(), last: now() }
    let b = buckets.get(identity)
    if (!b) {
      if (buckets.size >= 100_000) buckets.clear()
      b = { tokens: bucketSize(), last: now() }
      buckets.set(identity, b)
    }
    return b
  }

  function bucketSize(): number {
    return cfg.limits.burst ?? Math.max(1, Math.ceil(cfg.limits.messagesPerSec))
  }
}
export type BrokerSecurity = ReturnType<typeof createBrokerSecurity>

/**
 * `smartcity check-config`: the broker's credentials, ACL and TLS files load (the same loaders as start-up),
 * each problem with its key path. Says nothing of what the files hold beyond their line numbers.
 */
export async function checkBrokerFiles(b: { type: string; auth?: EmbeddedBrokerConfig['auth']; tls?: EmbeddedBrokerConfig['tls'] }): Promise<string[]> {
  if (b.type !== 'embedded') return []
  const problems: string[] = []
  const tryLoad = async (key: string, f: () => Promise<unknown>) => {
    try {
      await f()
    } catch (err) {
      problems.push(`${key}: ${(err as Error).message}`)
    }
  }
  if (b.auth?.passwordFile !== undefined) await tryLoad('broker.auth.passwordFile', () => loadPasswordFile(b.auth!.passwordFile!))
  if (b.auth?.aclFile !== undefined) await tryLoad('broker.auth.aclFile', () => loadAcl(b.auth!.aclFile!))
  const t = b.tls
  if (t) {
    for (const k of ['cert', 'key', 'ca'] as const) {
      const file = t[k]
      if (file !== undefined) await tryLoad(`broker.tls.${k}`, () => readFile(file))
    }
  }
  return problems
}
