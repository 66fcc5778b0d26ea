/**
 * The embedded broker's credentials file: one `username:scrypt$N$r$p$salt$hash` line per device (salt and
 * hash in base64), `#` comments and blank lines ignored. scrypt (node:crypto, RFC 7914) is a memory-hard
 * password hash: a stolen file costs an attacker N*r*128 bytes and as much time per guess. `smartcity passwd
 * FILE USER` writes the lines (`upsertPasswordLine`).
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'

/** Cost parameters of new hashes: N = 2^14, r = 8, p = 1 (16 MiB, ~50 ms), the RFC 7914 interactive figures. */
export const SCRYPT = { N: 16_384, r: 8, p: 1, keyLen: 32, saltLen: 16 } as const

export interface PasswordHash {
  N: number
  r: number
  p: number
  salt: Buffer
  hash: Buffer
  /** The text after `username:`, to tell a changed line on reload. */
  text: string
}

const USER_RE = /^[^:\s#][^:\s]*$/

function scryptAsync(password: string | Buffer, salt: Buffer, keyLen: number, o: { N: number; r: number; p: number }): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    // maxmem: scrypt needs 128*N*r bytes; Node's default cap (32 MiB) is just above our own parameters.
    scrypt(password, salt, keyLen, { N: o.N, r: o.r, p: o.p, maxmem: 256 * o.N * o.r + 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key))),
  )
}

/** A new `scrypt$N$r$p$salt$hash` for `password`. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SCRYPT.saltLen)
  const hash = await scryptAsync(password, salt, SCRYPT.keyLen, SCRYPT)
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${hash.toString('base64')}`
}

/** Parse the hash part of a line, or say why it is not one. */
export function parseHash(text: string): PasswordHash | string {
  const parts = text.split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return 'expected scrypt$N$r$p$salt$hash'
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])]
  if (!Number.isInteger(N) || N < 2 || (N & (N - 1)) !== 0 || N > 1 << 20) return 'N must be a power of two up to 2^20'
  if (!Number.isInteger(r) || r < 1 || r > 32 || !Number.isInteger(p) || p < 1 || p > 16) return 'r must be 1..32 and p 1..16'
  const salt = Buffer.from(parts[4]!, 'base64')
  const hash = Buffer.from(parts[5]!, 'base64')
  if (salt.length < 8 || hash.length < 16) return 'salt or hash too short (base64)'
  return { N, r, p, salt, hash, text }
}

/** Check `password` against a parsed hash (constant-time comparison of the derived keys). */
export async function verifyPassword(password: string | Buffer, h: PasswordHash): Promise<boolean> {
  const key = await scryptAsync(password, h.salt, h.hash.length, h)
  return timingSafeEqual(key, h.hash)
}

/** Parse a credentials file: username -> hash, or every problem with its line. */
export function parsePasswordFile(text: string, file: string): { users: Map<string, PasswordHash> } | { problems: string[] } {
  const users = new Map<string, PasswordHash>()
  const problems: string[] = []
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const at = line.indexOf(':')
    const user = at < 0 ? '' : line.slice(0, at)
    if (!USER_RE.test(user)) {
      problems.push(`${file}:${i + 1}: expected username:scrypt$N$r$p$salt$hash`)
      continue
    }
    const h = parseHash(line.slice(at + 1))
    if (typeof h === 'string') {
      problems.push(`${file}:${i + 1}: user ${user}: ${h}`)
      continue
    }
    if (users.has(user)) {
      problems.push(`${file}:${i + 1}: user ${user} appears twice`)
      continue
    }
    users.set(user, h)
  }
  return problems.length > 0 ? { problems } : { users }
}

export async function loadPasswordFile(file: string): Promise<Map<string, PasswordHash>> {
  const r = parsePasswordFile(await readFile(file, 'utf8'), file)
  if ('problems' in r) throw new Error(r.problems.join('; '))
  return r.users
}

/** The file's text with `user`'s line replaced (or added at the end), everything else kept as it was. */
export function upsertPasswordLine(text: string, user: string, hash: string): string {
  if (!USER_RE.test(user)) throw new Error(`not a username: ${JSON.stringify(user)} (no colon, no spaces)`)
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n')
  const i = lines.findIndex((l) => l.startsWith(`${user}:`))
  const line = `${user}:${hash}`
  if (i >= 0) lines[i] = line
  else lines.push(line)
  return `${lines.join('\n')}\n`
}

/** A short fingerprint of a password already verified (a reconnecting device skips scrypt); never stored. */
export function passwordFingerprint(password: string | Buffer): Buffer {
  return createHash('sha256').update(password).digest()
}
