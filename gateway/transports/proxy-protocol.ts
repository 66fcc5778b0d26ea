/**
 * The PROXY protocol header a TCP load balancer (HAProxy `send-proxy` / `send-proxy-v2`, nginx, AWS NLB)
 * puts in front of a connection's bytes, so the gateway behind it still knows the device's own address.
 * Spec: haproxy's doc/proxy-protocol.txt (https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt),
 * section 2.1 (version 1, text) and 2.2 (version 2, binary).
 *
 * Pure: bytes in, a verdict out. gateway/transports/tcp-server.ts reads the header of each connection from
 * a trusted proxy before the device protocol's framer sees a byte, and refuses a malformed one
 * (`proxy_header_invalid`). The receiver never guesses (spec 2: "the receiver MUST be configured to only
 * receive the protocol described in this specification"): with `proxyProtocol: v2` a v1 header is refused,
 * and the other way round.
 */
import { isIP } from 'node:net'

export type ProxyVersion = 'v1' | 'v2'

export interface ProxyEndpoint {
  address: string
  port: number
}

export type ProxyHeader =
  /** PROXY: the connection is relayed for `source` (a TCP4/TCP6 client). */
  | { command: 'proxy'; source: ProxyEndpoint; destination: ProxyEndpoint; length: number }
  /**
   * LOCAL (v2) or an address family the gateway does not take (v1 UNKNOWN, v2 UNSPEC/UNIX/UDP): the
   * connection's own address is used (spec 2.1 and 2.2: "the receiver must ... use the real connection
   * endpoints"). HAProxy's health checks with `check-send-proxy` are LOCAL.
   */
  | { command: 'local'; length: number }

export type ProxyParse = { status: 'more' } | { status: 'ok'; header: ProxyHeader } | { status: 'bad'; detail: string }

/** The 12 bytes every v2 header starts with (spec 2.2). */
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
const V1_PREFIX = Buffer.from('PROXY ', 'latin1')
/** Spec 2.1: "a receiver may reject an incomplete line which does not contain the CRLF sequence in the first 107 characters". */
export const V1_MAX = 107
/**
 * Longest v2 header taken: 16 bytes, 216 of UNIX addresses, and room for TLVs (ALPN, authority, SSL
 * information, unique id). The spec allows 65,535 bytes after the fixed part; a device server needs none of
 * the TLVs, and a longer header from a trusted proxy is a misconfiguration, refused rather than buffered.
 */
export const V2_MAX = 16 + 2048

const BAD = (detail: string): ProxyParse => ({ status: 'bad', detail })

function prefixOf(buf: Buffer, sig: Buffer): 'yes' | 'no' | 'maybe' {
  const n = Math.min(buf.length, sig.length)
  for (let i = 0; i < n; i++) if (buf[i] !== sig[i]) return 'no'
  return n === sig.length ? 'yes' : 'maybe'
}

const PORT = /^(0|[1-9]\d{0,4})$/

function v1(buf: Buffer): ProxyParse {
  const p = prefixOf(buf, V1_PREFIX)
  if (p === 'no') return BAD('no PROXY v1 header ("PROXY " expected)')
  const end = buf.indexOf('\r\n', 0, 'latin1')
  if (end < 0) return buf.length >= V1_MAX ? BAD(`no CRLF in the first ${V1_MAX} bytes`) : { status: 'more' }
  if (end + 2 > V1_MAX) return BAD(`header longer than ${V1_MAX} bytes`)
  const line = buf.toString('latin1', 0, end)
  const length = end + 2
  const parts = line.split(' ')
  // Spec 2.1: "UNKNOWN" — the receiver must ignore anything after it up to the CRLF.
  if (parts[1] === 'UNKNOWN') return { status: 'ok', header: { command: 'local', length } }
  if (parts.length !== 6) return BAD(`v1 header needs 6 space-separated words, got ${parts.length}`)
  const [, proto, src, dst, sport, dport] = parts as [string, string, string, string, string, string]
  const family = proto === 'TCP4' ? 4 : proto === 'TCP6' ? 6 : 0
  if (family === 0) return BAD(`v1 protocol ${JSON.stringify(proto.slice(0, 16))}: TCP4, TCP6 or UNKNOWN`)
  if (isIP(src) !== family || isIP(dst) !== family) return BAD(`v1 addresses are not ${proto} addresses`)
  if (!PORT.test(sport) || !PORT.test(dport) || Number(sport) > 65_535 || Number(dport) > 65_535) return BAD('v1 ports are not 0-65535')
  return { status: 'ok', header: { command: 'proxy', source: { address: src, port: Number(sport) }, destination: { address: dst, port: Number(dport) }, length } }
}

function ipv6(b: Buffer, at: number): string {
  const words: string[] = []
  for (let i = 0; i < 8; i++) words.push(b.readUInt16BE(at + i * 2).toString(16))
  // The canonical short form (RFC 5952) is what Node reports for sockets: compress the longest zero run.
  let best = -1
  let bestLen = 0
  for (let i = 0; i < 8; ) {
    if (words[i] !== '0') {
      i++
      continue
    }
    let j = i
    while (j < 8 && words[j] === '0') j++
    if (j - i > bestLen && j - i > 1) {
      best = i
      bestLen = j - i
    }
    i = j
  }
  if (best < 0) return words.join(':')
  return `${words.slice(0, best).join(':')}::${words.slice(best + bestLen).join(':')}`
}

function v2(buf: Buffer): ProxyParse {
  const p = prefixOf(buf, V2_SIGNATURE)
  if (p === 'no') return BAD('no PROXY v2 signature')
  if (p === 'maybe' || buf.length < 16) return { status: 'more' }
  const verCmd = buf[12]!
  if (verCmd >> 4 !== 2) return BAD(`v2 version nibble ${verCmd >> 4}, 2 expected`)
  const cmd = verCmd & 0x0f
  if (cmd > 1) return BAD(`v2 command ${cmd}: 0 (LOCAL) or 1 (PROXY)`)
  const fam = buf[13]!
  const len = buf.readUInt16BE(14)
  if (16 + len > V2_MAX) return BAD(`v2 header of ${16 + len} bytes, at most ${V2_MAX} taken`)
  if (buf.length < 16 + len) return { status: 'more' }
  const length = 16 + len
  // Spec 2.2: with LOCAL "the receiver must accept this connection as valid and must use the real
  // connection endpoints and discard the protocol block including the family which is ignored".
  if (cmd === 0) return { status: 'ok', header: { command: 'local', length } }
  if (fam === 0x11) {
    if (len < 12) return BAD(`v2 TCP over IPv4 needs 12 address bytes, length is ${len}`)
    const a = (o: number) => `${buf[o]}.${buf[o + 1]}.${buf[o + 2]}.${buf[o + 3]}`
    return { status: 'ok', header: { command: 'proxy', source: { address: a(16), port: buf.readUInt16BE(24) }, destination: { address: a(20), port: buf.readUInt16BE(26) }, length } }
  }
  if (fam === 0x21) {
    if (len < 36) return BAD(`v2 TCP over IPv6 needs 36 address bytes, length is ${len}`)
    return { status: 'ok', header: { command: 'proxy', source: { address: ipv6(buf, 16), port: buf.readUInt16BE(48) }, destination: { address: ipv6(buf, 32), port: buf.readUInt16BE(50) }, length } }
  }
  // UNSPEC, UNIX sockets, UDP: nothing the gateway can use as a device address; the spec lets a receiver
  // fall back to the connection's own address for families it does not support.
  if (fam >> 4 > 3 || (fam & 0x0f) > 2) return BAD(`v2 family/transport byte 0x${fam.toString(16).padStart(2, '0')} is not defined`)
  return { status: 'ok', header: { command: 'local', length } }
}

/** Parse the header at the start of `buf` (the connection's first bytes so far). */
export function parseProxyHeader(buf: Buffer, version: ProxyVersion): ProxyParse {
  return version === 'v2' ? v2(buf) : v1(buf)
}

/** A v2 header for a TCP client (tests and the simulators' tooling; the gateway only reads them). */
export function encodeProxyV2(source: ProxyEndpoint, destination: ProxyEndpoint, command: 'proxy' | 'local' = 'proxy'): Buffer {
  if (command === 'local') return Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])])
  const six = isIP(source.address) === 6
  const addr = (a: string): Buffer => {
    if (!six) return Buffer.from(a.split('.').map(Number))
    const [head = '', tail = ''] = a.split('::')
    const h = head ? head.split(':') : []
    const t = tail ? tail.split(':') : []
    const words = a.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h
    const out = Buffer.alloc(16)
    for (const [i, w] of words.entries()) out.writeUInt16BE(Number.parseInt(w, 16), i * 2)
    return out
  }
  const body = Buffer.concat([addr(source.address), addr(destination.address), Buffer.alloc(4)])
  body.writeUInt16BE(source.port, body.length - 4)
  body.writeUInt16BE(destination.port, body.length - 2)
  return Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, six ? 0x21 : 0x11, body.length >> 8, body.length & 0xff]), body])
}
