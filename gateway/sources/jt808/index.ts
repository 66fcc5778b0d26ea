/**
 * The JT/T 808 source: the gateway is the platform's TCP server (gateway/transports/tcp-server.ts). Per
 * connection a session (session.ts) frames, answers and hands the codec's readings to the pipeline; this
 * factory keeps what outlives a connection: the auth codes issued at registration (persisted in
 * `<dataDir>/jt808-<id>-auth.json`) and each terminal's platform serial number.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { SourceContext } from '../../core/types.ts'
import { createTcpSource, type TcpSource } from '../tcp-source.ts'
import type { Jt808SourceConfig } from './config.ts'
import { jt808Session } from './session.ts'

export type Jt808Source = TcpSource

export function createJt808Source(cfg: Jt808SourceConfig): Jt808Source {
  let ctx: SourceContext | undefined
  /** Codes issued at registration, by terminal id (persisted). */
  let issued: Record<string, string> = {}
  /** Registrations waiting for the issued codes to be on disk; one write serves all that queued meanwhile. */
  let waiters: (() => void)[] = []
  let writing: Promise<void> | undefined
  /** Platform serial numbers, per terminal (they outlive a connection). */
  const serials = new Map<string, number>()
  const file = () => join(ctx!.dataDir, `jt808-${cfg.id}-auth.json`)

  async function flush(): Promise<void> {
    while (waiters.length > 0) {
      const done = waiters
      waiters = []
      try {
        await mkdir(ctx!.dataDir, { recursive: true })
        const tmp = `${file()}.tmp`
        await writeFile(tmp, JSON.stringify(issued))
        await rename(tmp, file())
      } catch (err) {
        ctx!.log.error({ err }, 'could not save issued JT/T 808 auth codes')
      }
      for (const d of done) d()
    }
    writing = undefined
  }

  /** Resolves once the codes issued so far are on disk (a code is never handed out and then forgotten). */
  function persist(): Promise<void> {
    return new Promise((resolve) => {
      waiters.push(resolve)
      writing ??= flush()
    })
  }

  const platform = {
    cfg,
    expectedCode: (term: string): string | undefined => cfg.authCodes[term] ?? issued[term],
    async issue(term: string): Promise<string> {
      const code = randomBytes(8).toString('hex').toUpperCase()
      issued[term] = code
      await persist()
      return code
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
    server: {
      host: cfg.host,
      port: cfg.port,
      idleTimeoutSec: cfg.idleTimeoutSec,
      ratePerSec: cfg.rateLimitPerSec,
      maxBadFrames: cfg.maxBadFrames,
      limits: { allow: cfg.allow, maxConnections: cfg.maxConnections, maxConnectionsPerAddress: cfg.maxConnectionsPerAddress },
    },
    async onStart(c) {
      ctx = c
      try {
        issued = JSON.parse(await readFile(file(), 'utf8')) as Record<string, string>
      } catch (err) {
        issued = {}
        // No file yet is normal; an unreadable one means terminals must register again: say so.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') c.log.error({ err, file: file() }, 'issued JT/T 808 auth codes unreadable; terminals will have to register again')
      }
    },
    async onStop() {
      await writing
    },
    connection: (c, conn) => jt808Session(platform, c, conn),
  })
}
