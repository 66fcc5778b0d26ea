/**
 * The HJ 212 source: the gateway is the platform's TCP server (gateway/transports/tcp-server.ts). Per
 * connection a session (session.ts) frames, answers and hands the codec's readings to the pipeline; this
 * factory keeps which connection each MN last spoke on, for platform requests (`command`).
 */
import { formatHj212Time, type Hj212Cp, type Hj212Message } from '../../../devices/water-quality/hj212/index.ts'
import { createTcpSource, serverOptions, type TcpSource } from '../tcp-source.ts'
import type { Hj212SourceConfig } from './config.ts'
import { CommandError, type Hj212CommandResult, type Hj212Links, type Hj212Session, hj212Session } from './session.ts'

export { CommandError, type Hj212CommandResult } from './session.ts'

export interface Hj212Source extends TcpSource {
  /**
   * Send a platform request (e.g. CN 1061 get / 1062 set the real-time interval, 1011 get the logger's time)
   * to a connected logger and follow the standard's flow: 9011 (QnRtn), the requested uploads under the same
   * QN, then 9012 (ExeRtn). Rejects with code `not_connected` or `timeout`.
   */
  command(mn: string, cn: string, cp?: Hj212Cp, timeoutMs?: number): Promise<Hj212CommandResult>
}

export function createHj212Source(cfg: Hj212SourceConfig): Hj212Source {
  /** The session each MN last spoke on (after its password was checked), with its ST and PW. */
  const links = new Map<string, { session: Hj212Session; st: string | undefined; pw: string | undefined }>()
  const sessions = new Set<Hj212Session>()
  let lastQn = 0
  let now = () => Date.now()

  function command(mn: string, cn: string, cp: Hj212Cp = [], timeoutMs = 10_000): Promise<Hj212CommandResult> {
    const link = links.get(mn)
    if (!link || link.session.isClosed) return Promise.reject(new CommandError('not_connected', `no logger with MN ${mn} is connected`))
    let t = now()
    if (t <= lastQn) t = lastQn + 1
    lastQn = t
    const msg: Hj212Message = { qn: formatHj212Time(t, true), cn, mn, flag: 5, cp }
    if (link.st !== undefined) msg.st = link.st
    if (link.pw !== undefined) msg.pw = link.pw
    return link.session.command(msg, timeoutMs)
  }

  /** One object for every session (no closures per connection). */
  const sessionLinks: Hj212Links = {
    spoke(session, mn, st, pw) {
      const l = links.get(mn)
      if (l && l.session === session && l.st === st && l.pw === pw) return
      links.set(mn, { session, st, pw })
    },
    gone(session, mn) {
      if (mn !== undefined && links.get(mn)?.session === session) links.delete(mn)
      sessions.delete(session)
    },
  }

  const base = createTcpSource({
    id: cfg.id,
    type: 'hj212',
    server: serverOptions(cfg),
    async onStart(c) {
      now = () => c.now()
    },
    async onStop() {
      for (const s of sessions) s.failAll(new CommandError('not_connected', 'source stopped'))
    },
    connection: (c, conn) => {
      const session = hj212Session(cfg, c, conn, sessionLinks)
      sessions.add(session)
      return session
    },
  })
  return Object.assign(base, { command })
}
