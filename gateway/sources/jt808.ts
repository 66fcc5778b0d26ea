/**
 * JT/T 808 platform server. Per connection: framer -> packet (check code) -> subpackage reassembly -> body ->
 * register / authenticate / heartbeat / locations. Every message that needs one gets a 0x8001 (0x8100 for
 * registration) with the terminal's own platform serial number; a location is acknowledged once its points
 * are durable in the spool. Every refused frame goes to ctx.reject with a reason code. The source derives
 * nothing: the alarm bits of the `position` points' `alarm_flags` become alarms in the pipeline
 * (gateway/processors/jt808-alarms.ts), like every other alarm.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Point } from '../../devices/common/point.ts'
import {
  createJt808Framer,
  createJt808Reassembler,
  decodeBody,
  decodePacket,
  encodeJt808,
  type Jt808Body,
  type Jt808Header,
  JT808_MSG,
  JT808_REGISTER_RESULT,
  JT808_RESULT,
  type Jt808Reassembler,
  locationPoint,
  locationsOf,
  terminalId,
} from '../../devices/position/jt808.ts'
import type { SourceContext } from '../core/types.ts'
import type { Jt808SourceConfig } from './jt808-config.ts'
import { type Conn, type ConnHandler, framePump } from '../transports/tcp-server.ts'
import { connRejecter, createTcpSource, type TcpSource } from './tcp-source.ts'

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

  function nextSerial(term: string): number {
    const s = serials.get(term) ?? 0
    serials.set(term, (s + 1) & 0xffff)
    return s
  }

  function reply(conn: Conn, to: Jt808Header, body: Jt808Body, msgId: number): void {
    const term = terminalId(to.phone)
    const header: Jt808Header = { msgId, version: to.version, protocolVersion: to.protocolVersion, phone: to.phone, serial: nextSerial(term), encryption: 0 }
    conn.send(encodeJt808({ header, body }))
  }

  function general(conn: Conn, to: Jt808Header, result: number): void {
    reply(conn, to, { type: 'platform_response', ackSerial: to.serial, ackMsgId: to.msgId, result }, JT808_MSG.platformResponse)
  }

  function expectedCode(term: string): string | undefined {
    return cfg.authCodes[term] ?? issued[term]
  }

  function onConnection(c: SourceContext, conn: Conn): ConnHandler {
    const framer = createJt808Framer({ maxFrameBytes: cfg.maxFrameBytes })
    let reassembler: Jt808Reassembler | undefined
    let authed: string | undefined
    const reject = connRejecter(c, cfg.id, conn)

    async function handle(frame: Buffer, raw: Buffer): Promise<void> {
      if (conn.closed) return
      const p = decodePacket(frame)
      if (!p.ok) return reject(p.reason, raw, p.detail)
      const { header } = p.value
      const term = terminalId(header.phone)
      if (!conn.allow(c.now())) return reject('rate_limited', raw, `over ${cfg.rateLimitPerSec} frames/s`, term)
      let packet = p.value
      if (header.subpackage) {
        reassembler ??= createJt808Reassembler()
        const expired = reassembler.expire(c.now())
        if (expired > 0) reject('incomplete_subpackages', '', `${expired} split messages not completed within a minute`, term, false)
        const r = reassembler.add(packet, c.now())
        if (!r.done) {
          general(conn, header, JT808_RESULT.ok)
          return
        }
        // The part that completes the message is answered like a whole message, after its handling below.
        packet = r.packet
      }
      /** The frame answers refer to: the message itself, or the part that completed it. */
      const ackTo = header
      const body = decodeBody(packet.header, packet.body)
      if (!body.ok) {
        general(conn, ackTo, JT808_RESULT.badMessage)
        return reject(body.reason, raw, body.detail, term)
      }
      const b = body.value
      switch (b.type) {
        case 'register': {
          const known = c.devices.get(term)
          if ((cfg.requireInventory || !cfg.allowRegistration) && !known && cfg.authCodes[term] === undefined) {
            reply(conn, ackTo, { type: 'register_response', ackSerial: ackTo.serial, result: JT808_REGISTER_RESULT.noTerminal }, JT808_MSG.registerResponse)
            return reject('unknown_terminal', raw, `terminal ${term} may not register`, term)
          }
          let code = expectedCode(term)
          if (code === undefined) {
            code = randomBytes(8).toString('hex').toUpperCase()
            issued[term] = code
            await persist()
          }
          reply(conn, ackTo, { type: 'register_response', ackSerial: ackTo.serial, result: JT808_REGISTER_RESULT.ok, authCode: code }, JT808_MSG.registerResponse)
          return
        }
        case 'auth': {
          const want = expectedCode(term)
          if (want === undefined || want !== b.authCode) {
            general(conn, ackTo, JT808_RESULT.fail)
            reject(want === undefined ? 'unknown_terminal' : 'bad_auth_code', raw, want === undefined ? `no auth code for terminal ${term}` : 'auth code does not match', term, false)
            conn.close()
            return
          }
          if (cfg.requireInventory && !c.devices.get(term)) {
            general(conn, ackTo, JT808_RESULT.fail)
            reject('unknown_device', raw, `terminal ${term} is not in the inventory`, term, false)
            conn.close()
            return
          }
          authed = term
          general(conn, ackTo, JT808_RESULT.ok)
          return
        }
        case 'terminal_response':
          // An answer to a platform command: nothing to store, nothing to answer.
          if (authed === undefined) return reject('not_authenticated', raw, undefined, term)
          return
        case 'heartbeat':
        case 'location':
        case 'location_batch': {
          if (authed === undefined) {
            general(conn, ackTo, JT808_RESULT.fail)
            return reject('not_authenticated', raw, `0x${packet.header.msgId.toString(16).padStart(4, '0')} before authentication`, term)
          }
          if (authed !== term) {
            general(conn, ackTo, JT808_RESULT.fail)
            return reject('terminal_mismatch', raw, `connection authenticated as ${authed}, frame from ${term}`, term)
          }
          if (b.type === 'heartbeat') {
            general(conn, ackTo, JT808_RESULT.ok)
            return
          }
          const now = c.now()
          const points: Point[] = []
          let frames = 0
          for (const l of locationsOf(b)) {
            const pt = locationPoint(l, now)
            if (!pt.ok) {
              reject(pt.reason, raw, pt.detail, term, false)
              continue
            }
            points.push(pt.value)
            frames++
          }
          // Answered only once stored: a failed ingest goes unanswered and the terminal resends.
          if (frames > 0) await c.ingest({ source: cfg.id, device: term, kind: 'position', protocol: 'jt808', points, frames })
          general(conn, ackTo, frames > 0 || locationsOf(b).length === 0 ? JT808_RESULT.ok : JT808_RESULT.badMessage)
          return
        }
        case 'platform_response':
        case 'register_response':
          general(conn, ackTo, JT808_RESULT.unsupported)
          return reject('unexpected_message', raw, `platform message 0x${packet.header.msgId.toString(16)} from a terminal`, term)
        default:
          general(conn, ackTo, JT808_RESULT.unsupported)
          return reject('unsupported_message', raw, `message 0x${packet.header.msgId.toString(16).padStart(4, '0')}`, term, false)
      }
    }

    return {
      data: framePump(framer, conn, reject, handle),
      closed(why) {
        if (authed !== undefined) c.devices.setOnline(authed, false, why)
        if (reassembler && reassembler.pending() > 0) {
          void c.reject({ source: cfg.id, address: conn.address, raw: '', reason: 'incomplete_subpackages', detail: `${reassembler.pending()} split messages never completed`, ...(authed ? { device: authed } : {}) })
        }
      },
    }
  }

  return createTcpSource({
    id: cfg.id,
    type: 'jt808',
    server: { host: cfg.host, port: cfg.port, idleTimeoutSec: cfg.idleTimeoutSec, ratePerSec: cfg.rateLimitPerSec, maxBadFrames: cfg.maxBadFrames },
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
    connection: onConnection,
  })
}
