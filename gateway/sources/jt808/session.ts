/**
 * One JT/T 808 terminal connection: framer -> packet (check code) -> subpackage reassembly (in the codec's
 * per-connection state) -> body -> register / authenticate / heartbeat / locations. Every message that needs
 * one gets a 0x8001 (0x8100 for registration) with the terminal's own platform serial number; locations go
 * to the pipeline as the codec's readings and are acknowledged once durable (0x8001 bad_message when every
 * location of the message was refused). Every refused frame goes to ctx.reject with a catalogued reason.
 * The session derives nothing: the alarm bits of the stored `alarm_flags` become alarms in the pipeline
 * (gateway/processors/jt808-alarms.ts), like every other alarm.
 */
import {
  createJt808Framer,
  decodeBody,
  decodePacket,
  encodeJt808,
  type Jt808Body,
  type Jt808Header,
  JT808_MSG,
  JT808_REGISTER_RESULT,
  JT808_RESULT,
  jt808Codec,
  reassemblerOf,
  terminalId,
} from '../../../devices/position/jt808/index.ts'
import type { SourceContext } from '../../core/types.ts'
import { type CloseWhy, type Conn, type ConnHandler, pumpFrames, type RejectFn } from '../../transports/tcp-server.ts'
import { rejectInput } from '../tcp-source.ts'
import type { Jt808SourceConfig } from './config.ts'

/** What a session needs of its source: codes and serial numbers outlive a connection. */
export interface Jt808Platform {
  cfg: Jt808SourceConfig
  /** The code a terminal must authenticate with (config first, then issued at registration). */
  expectedCode(term: string): string | undefined
  /** Issue a code to a terminal and resolve once it is on disk. */
  issue(term: string): Promise<string>
  nextSerial(term: string): number
}

/**
 * A class, not a closure per handler: with 50,000 terminals a session's methods live once on the prototype
 * and a session is its fields (issue 15 item 6).
 */
class Jt808Session implements ConnHandler {
  private readonly framer: ReturnType<typeof createJt808Framer>
  private readonly state = jt808Codec.newState()
  private authed: string | undefined
  constructor(
    private readonly p: Jt808Platform,
    private readonly c: SourceContext,
    private readonly conn: Conn,
  ) {
    this.framer = createJt808Framer({ maxFrameBytes: p.cfg.maxFrameBytes })
  }

  private reject(...a: Parameters<RejectFn>): void {
    rejectInput(this.c, this.p.cfg.id, this.conn, ...a)
  }

  private reply(to: Jt808Header, body: Jt808Body, msgId: number): void {
    const header: Jt808Header = { msgId, version: to.version, protocolVersion: to.protocolVersion, phone: to.phone, serial: this.p.nextSerial(terminalId(to.phone)), encryption: 0 }
    this.conn.send(encodeJt808({ header, body }))
  }

  private general(to: Jt808Header, result: number): void {
    this.reply(to, { type: 'platform_response', ackSerial: to.serial, ackMsgId: to.msgId, result }, JT808_MSG.platformResponse)
  }

  data(chunk: Buffer): void {
    pumpFrames(this.framer, chunk, this.conn, (...a) => this.reject(...a), (frame, raw) => this.handle(frame, raw))
  }

  private async handle(frame: Buffer, raw: Buffer): Promise<void> {
    const { p, c, conn, state } = this
    const { cfg } = p
    if (conn.closed) return
    const pk = decodePacket(frame)
    if (!pk.ok) return this.reject(pk.reason, raw, pk.detail)
    const { header } = pk.value
    const term = terminalId(header.phone)
    if (!conn.allow(c.now())) return this.reject('rate_limited', raw, `over ${cfg.rateLimitPerSec} frames/s`, term)
    let packet = pk.value
    if (header.subpackage) {
      const expired = reassemblerOf(state).expire(c.now())
      if (expired > 0) this.reject('incomplete_subpackages', '', `${expired} split messages not completed within a minute`, term, false)
      const r = reassemblerOf(state).add(packet, c.now())
      if (!r.done) {
        this.general(header, JT808_RESULT.ok)
        return
      }
      // The part that completes the message is answered like a whole message, after its handling below.
      packet = r.packet
    }
    /** The frame answers refer to: the message itself, or the part that completed it. */
    const ackTo = header
    const body = decodeBody(packet.header, packet.body)
    if (!body.ok) {
      this.general(ackTo, JT808_RESULT.badMessage)
      return this.reject(body.reason, raw, body.detail, term)
    }
    const b = body.value
    switch (b.type) {
      case 'register': {
        const known = c.devices.get(term)
        if ((cfg.requireInventory || !cfg.allowRegistration) && !known && cfg.authCodes[term] === undefined) {
          this.reply(ackTo, { type: 'register_response', ackSerial: ackTo.serial, result: JT808_REGISTER_RESULT.noTerminal }, JT808_MSG.registerResponse)
          return this.reject('unknown_terminal', raw, `terminal ${term} may not register`, term)
        }
        const code = p.expectedCode(term) ?? (await p.issue(term))
        this.reply(ackTo, { type: 'register_response', ackSerial: ackTo.serial, result: JT808_REGISTER_RESULT.ok, authCode: code }, JT808_MSG.registerResponse)
        return
      }
      case 'auth': {
        const want = p.expectedCode(term)
        if (want === undefined || want !== b.authCode) {
          this.general(ackTo, JT808_RESULT.fail)
          this.reject(want === undefined ? 'unknown_terminal' : 'bad_auth_code', raw, want === undefined ? `no auth code for terminal ${term}` : 'auth code does not match', term, false)
          conn.close()
          return
        }
        if (cfg.requireInventory && !c.devices.get(term)) {
          this.general(ackTo, JT808_RESULT.fail)
          this.reject('unknown_device', raw, `terminal ${term} is not in the inventory`, term, false)
          conn.close()
          return
        }
        this.authed = term
        // The device's own address (from a load balancer's PROXY header when there is one), for people.
        c.log.info({ device: term, address: conn.address, ...(conn.via ? { via: conn.via } : {}) }, 'terminal authenticated')
        this.general(ackTo, JT808_RESULT.ok)
        return
      }
      case 'terminal_response':
        // An answer to a platform command: nothing to store, nothing to answer.
        if (this.authed === undefined) return this.reject('not_authenticated', raw, undefined, term)
        return
      case 'heartbeat':
      case 'location':
      case 'location_batch': {
        if (this.authed === undefined) {
          this.general(ackTo, JT808_RESULT.fail)
          return this.reject('not_authenticated', raw, `0x${packet.header.msgId.toString(16).padStart(4, '0')} before authentication`, term)
        }
        if (this.authed !== term) {
          this.general(ackTo, JT808_RESULT.fail)
          return this.reject('terminal_mismatch', raw, `connection authenticated as ${this.authed}, frame from ${term}`, term)
        }
        if (b.type === 'heartbeat') {
          this.general(ackTo, JT808_RESULT.ok)
          return
        }
        // The message is whole here, so the codec's readings are its locations (no reassembly left to do).
        const { readings } = jt808Codec.readings({ header: packet.header, body: b }, state, { receivedAt: c.now() })
        if (readings.length === 0) {
          this.general(ackTo, JT808_RESULT.ok)
          return
        }
        // Answered only once stored: a failed ingest goes unanswered and the terminal resends. The pipeline
        // validates each location and dead-letters the refused ones (a latitude over 90: out_of_range).
        const r = await c.ingest({ source: cfg.id, device: term, kind: 'position', protocol: 'jt808', readings })
        this.general(ackTo, r.accepted > 0 ? JT808_RESULT.ok : JT808_RESULT.badMessage)
        return
      }
      case 'platform_response':
      case 'register_response':
        this.general(ackTo, JT808_RESULT.unsupported)
        return this.reject('unexpected_message', raw, `platform message 0x${packet.header.msgId.toString(16)} from a terminal`, term)
      default:
        this.general(ackTo, JT808_RESULT.unsupported)
        return this.reject('unsupported_message', raw, `message 0x${packet.header.msgId.toString(16).padStart(4, '0')}`, term, false)
    }
  }

  closed(why: CloseWhy): void {
    const { c, authed, conn } = this
    if (authed !== undefined) c.devices.setOnline(authed, false, why)
    const pending = this.state.reassembler?.pending() ?? 0
    if (pending > 0) {
      void c.reject({ source: this.p.cfg.id, address: conn.address, raw: '', reason: 'incomplete_subpackages', detail: `${pending} split messages never completed`, ...(authed ? { device: authed } : {}) })
    }
  }
}

export function jt808Session(p: Jt808Platform, c: SourceContext, conn: Conn): ConnHandler {
  return new Jt808Session(p, c, conn)
}
