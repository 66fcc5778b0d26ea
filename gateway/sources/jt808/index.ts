/**
 * The JT/T 808 source: the gateway is the platform's TCP server (gateway/transports/tcp-server.ts). Per
 * connection a session (session.ts) frames, answers and hands the codec's readings to the pipeline; this
 * factory keeps what outlives a connection: the auth codes and each terminal's platform serial number.
 *
 * Auth codes are derived, not drawn: HMAC-SHA256(secret, terminal id), its first 8 bytes in upper-case hex.
 * The secret is the source's `authSecret`, or one generated once and kept in `<dataDir>/jt808-<id>-secret`
 * (mode 0600). So a terminal that registered with one gateway authenticates with any other that has the
 * same secret (a replacement edge box, a second instance, `smartcity replay` of a recorded 0x0102), and
 * nothing has to be written when a terminal registers. Codes issued by earlier versions
 * (`<dataDir>/jt808-<id>-auth.json`) are still honoured.
 */
import { createHmac, randomBytes } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { SourceContext } from '../../core/types.ts'
import { createTcpSource, serverOptions, type TcpSource } from '../tcp-source.ts'
import type { Jt808SourceConfig } from './config.ts'
import { jt808Session } from './session.ts'

export type Jt808Source = TcpSource

/** The auth code a gateway with `secret` gives terminal `term` (phone number without leading zeros). */
export function jt808AuthCode(secret: string, term: string): string {
  return createHmac('sha256', secret).update(term).digest('hex').slice(0, 16).toUpperCase()
}

/** The secret of a source without `authSecret`: generated once, kept in dataDir. */
async function storedSecret(file: string, dir: string): Promise<string> {
  try {
    const s = (await readFile(file, 'utf8')).trim()
    if (s.length >= 16) return s
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const secret = randomBytes(32).toString('hex')
  await mkdir(dir, { recursive: true })
  const tmp = `${file}.tmp`
  await writeFile(tmp, `${secret}\n`, { mode: 0o600 })
  await rename(tmp, file)
  return secret
}

export function createJt808Source(cfg: Jt808SourceConfig): Jt808Source {
  let ctx: SourceContext | undefined
  /** Codes issued at registration by earlier versions, by terminal id (read, never written). */
  let issued: Record<string, string> = {}
  let secret = cfg.authSecret ?? ''
  /** Platform serial numbers, per terminal (they outlive a connection). */
  const serials = new Map<string, number>()
  const legacyFile = () => join(ctx!.dataDir, `jt808-${cfg.id}-auth.json`)

  /** Whether the terminal may hold a code: registration open, or the operator knows it. */
  const mayRegister = (term: string): boolean => !(cfg.requireInventory || !cfg.allowRegistration) || ctx?.devices.get(term) !== undefined

  const platform = {
    cfg,
    expectedCode: (term: string): string | undefined => cfg.authCodes[term] ?? issued[term] ?? (mayRegister(term) ? jt808AuthCode(secret, term) : undefined),
    async issue(term: string): Promise<string> {
      return jt808AuthCode(secret, term)
    },
    nextSerial(term: string): number {
      const s = serials.get(term) ?? 0
      serials.set(term, (s + 1) & 0xffff)
      return s
    },
  }

  return createTcpSource({
    id: cfg.id,
    type: 'jt808',
    server: serverOptions(cfg),
    async onStart(c) {
      ctx = c
      if (cfg.authSecret === undefined) secret = await storedSecret(join(c.dataDir, `jt808-${cfg.id}-secret`), c.dataDir)
      try {
        issued = JSON.parse(await readFile(legacyFile(), 'utf8')) as Record<string, string>
      } catch (err) {
        issued = {}
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') c.log.error({ err, file: legacyFile() }, 'JT/T 808 auth codes of an earlier version unreadable; those terminals get derived codes when they register again')
      }
    },
    connection: (c, conn) => jt808Session(platform, c, conn),
  })
}
