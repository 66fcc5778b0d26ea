/**
 * The one catalogue of refusal and error codes (issue 11). A code is snake_case, stable (it is a metric
 * label and the dead-letter `reason`), and has a one-line meaning here; README.md "Bad input is kept" lists
 * them all (test/devices/common/reasons.test.ts checks both). `DecodeResult`, framer events and
 * `RejectInput` take a `Reason`, so tsc refuses a code that is not catalogued: add it here first.
 */
import type { z } from 'zod'

export const REASONS = {
  // --- Any input: validation of a reading against its kind's schema (zodReason) --------------------------
  invalid: 'the reading does not match its schema (no more precise reason applies)',
  unknown_field: 'the reading has a field its kind does not define',
  wrong_type: 'a field has the wrong JSON type',
  out_of_range: 'a value is outside the range its field allows',
  invalid_value: 'a value is not one of the values its field allows',
  bad_timestamp: 'the reading time `ts` is missing, malformed, or implausible',
  empty_reading: 'the reading or array of readings carries no fields',
  unknown_reading_type: 'the kind defines no reading of this type (a codec bug, not device input)',

  // --- JSON over MQTT ----------------------------------------------------------------------------------
  malformed_json: 'the payload is not valid JSON',
  json_too_deep: 'the JSON payload is nested deeper than the gateway accepts',
  too_many_items: 'the JSON array holds more readings than the gateway accepts in one message',
  payload_too_large: 'the payload is larger than the source accepts',
  bad_topic: 'the MQTT topic is not city/<district>/<kind>/<device>/<channel>, or names no such channel',
  bad_status: 'a status message is neither `online` nor `offline`',

  // --- Inventory -----------------------------------------------------------------------------------------
  unknown_kind: 'no device kind of this name',
  unknown_device: 'the device is not in the inventory and the source requires it',
  kind_mismatch: 'the device is another kind in the inventory',

  // --- Framing (any byte protocol) -----------------------------------------------------------------------
  garbage: 'bytes between frames that cannot belong to any frame',
  truncated: 'the frame or field ends before its stated length',
  too_short: 'the frame is shorter than the smallest valid frame',
  too_long: 'the frame is longer than the protocol allows',
  frame_too_long: 'no frame end within the longest frame the protocol allows',
  line_too_long: 'a text line without its end within the longest line allowed',
  bad_length: 'a length field disagrees with the bytes present',
  length_mismatch: 'the frame length differs from the length its header states',
  trailing_bytes: 'bytes after the last field of the frame',
  no_start: 'the frame does not begin with its start marker',
  no_end: 'the frame does not end with its end marker',
  bad_start: 'the start marker or a second start marker is wrong',
  bad_stx: 'the frame does not begin with STX',
  missing_etx: 'the frame does not end with ETX',
  bad_escape: 'an escape sequence inside the frame is invalid',
  unexpected_ff: 'a raw 0xFF inside an ETC RSU frame (must be escaped)',
  not_hex: 'a `smartcity decode` line is not one frame in hexadecimal',
  decoder_bug: 'a decoder threw (a bug: decoders never throw); `smartcity decode` reports it and goes on',
  bad_header: 'the frame header is malformed',
  bad_body: 'the message body is malformed',
  bad_field: 'a field of the frame is malformed',
  missing_field: 'a field the sentence or frame needs is empty',
  bad_bcd: 'a BCD field holds a nibble above 9',
  bad_text: 'a text field is not valid in its encoding (GBK) or holds NUL',
  bad_time: 'a date or time field is not a valid time',
  bad_value: 'a value field holds a value the protocol does not allow',

  // --- Check codes -------------------------------------------------------------------------------------
  crc_mismatch: 'the CRC does not match the frame (Modbus RTU, HJ 212)',
  bad_crc: 'the CRC field is malformed or wrong',
  bad_checksum: 'the checksum does not match the frame',
  missing_checksum: 'the sentence has no checksum where one is required',
  bad_check: 'the JT/T 808 check code does not match the frame',
  bcc_mismatch: 'the ETC RSU BCC does not match the frame',

  // --- Modbus --------------------------------------------------------------------------------------------
  bad_mbap_header: 'the Modbus TCP MBAP header is malformed',
  unsupported_function: 'a Modbus function code the gateway does not handle',
  unexpected_function: 'the reply has another function code than the request',
  bad_quantity: 'a Modbus quantity or byte count outside what the function allows',
  bad_address: 'a register or device address outside the allowed range',
  bad_echo: 'a Modbus write reply does not echo the request',
  bad_response: 'a reply that does not fit its request',
  not_integer: 'a register type needs an integer value',
  modbus_exception: 'the device answered with a Modbus exception',
  exception: 'the device answered with an exception reply (Modbus link result)',
  not_writable: 'the profile point is read-only',
  unknown_point: 'the profile has no such point',

  // --- NMEA ----------------------------------------------------------------------------------------------
  not_nmea: 'the line is not an NMEA 0183 sentence',
  unknown_talker: 'the NMEA talker id is not known',

  // --- JT/T 808 ------------------------------------------------------------------------------------------
  bad_phone: 'the terminal phone number (BCD) is malformed',
  encrypted: 'the message is encrypted (not supported)',
  bad_subpackage: 'the sub-package fields are inconsistent',
  incomplete_subpackages: 'a multi-package message whose packages did not all arrive in time',
  incomplete_packets: 'a multi-packet message whose packets did not all arrive in time',
  unsupported_message: 'a message id the gateway does not handle',
  unexpected_message: 'a message not expected in the session state (e.g. before authentication)',
  not_authenticated: 'the terminal sent data before authenticating',
  bad_auth_code: 'the authentication code is not one the gateway issued',
  unknown_terminal: 'the terminal is not in the inventory',
  terminal_mismatch: 'the frame names another terminal than the connection authenticated as',
  rate_limited: 'the sender exceeded its allowed frame rate',

  // --- The embedded MQTT broker (issue 13, secmqtt): identities, ACL, limits ---------------------------
  bad_credentials: 'the MQTT username is unknown or its password is wrong (CONNACK 4)',
  not_authorized: 'the client may not do this: anonymous where identities are required, or a topic outside its ACL',
  too_many_connections: 'the server (the MQTT broker, a TCP device server) already holds its maximum of connections (`maxConnections`; MQTT: CONNACK 3)',
  too_many_inflight: 'the client has its maximum of QoS 1/2 messages not yet acknowledged',
  tls_handshake_failed: 'the TLS handshake failed (no or an untrusted client certificate, not TLS)',

  // --- HJ 212 --------------------------------------------------------------------------------------------
  no_cp: 'the HJ 212 packet has no CP data area',
  bad_cp: 'the HJ 212 CP data area is malformed',
  bad_qn: 'the HJ 212 QN (request number) is malformed',
  bad_mn: 'the HJ 212 MN (device number) is malformed',
  bad_password: 'the HJ 212 password is wrong',
  unsupported_cn: 'an HJ 212 command number the gateway does not handle',
  unexpected_frame: 'a frame not expected in the session state',

  // --- DL/T 645 ------------------------------------------------------------------------------------------
  unexpected_reply: 'a reply nobody waited for (late or from another meter)',
  meter_error: 'the meter answered with an abnormal reply with no error bit set',
  meter_error_other: 'abnormal reply: error word bit 0 (other error)',
  meter_error_no_data: 'abnormal reply: error word bit 1 (no data requested)',
  meter_error_unauthorized: 'abnormal reply: error word bit 2 (password wrong or unauthorized)',
  meter_error_baud_unchangeable: 'abnormal reply: error word bit 3 (baud rate cannot change)',
  meter_error_too_many_year_zones: 'abnormal reply: error word bit 4 (year zones over limit)',
  meter_error_too_many_day_periods: 'abnormal reply: error word bit 5 (day periods over limit)',
  meter_error_too_many_tariffs: 'abnormal reply: error word bit 6 (tariffs over limit)',
  meter_error_reserved_bit7: 'abnormal reply: error word bit 7 (reserved)',
  meter_error_multiple: 'abnormal reply with several error bits set (the detail names them)',

  // --- ETC RSU -------------------------------------------------------------------------------------------
  unknown_frame_type: 'an ETC RSU frame type the gateway does not know',
  bad_rsctl: 'the ETC RSU RSCTL sequence byte is invalid',

  // --- Links and transports ------------------------------------------------------------------------------
  timeout: 'no answer within the allowed time',
  disconnected: 'the link closed while a request was in flight',
  connect_failed: 'the link could not be opened',
  not_connected: 'no connection to the device to send on',
  serial_open_failed: 'the serial port could not be opened',
  serial_not_open: 'a write on a serial port that is not open',
  serial_write_failed: 'a write on a serial port failed',
  link_not_open: 'a link (gateway/transports/address.ts) did not open within the wait',
  link_closed: 'a link was closed while a request waited for it',
  aborted: 'a request was given up (the source stopped)',
  busy: 'a request while another one holds a half-duplex line (or the same key twice)',
  pty_socat_failed: 'socat did not create the pseudo-terminal pair (simulators)',

  // --- TCP device servers: connections refused before any byte is read (issue 13) ----------------------
  address_not_allowed: "the peer's address is in none of the server's `allow` CIDR ranges",
  too_many_connections_from_address: 'the server already holds `maxConnectionsPerAddress` connections from this address',
  // issue 15 (tcp): a TCP device server behind a load balancer (`proxyProtocol`).
  proxy_untrusted: 'with `proxyProtocol`, a peer that is not in `trustedProxies` (only the load balancers may connect)',
  proxy_header_invalid: 'with `proxyProtocol`, the connection did not start with a valid PROXY protocol header of the configured version',

  // --- Storage -------------------------------------------------------------------------------------------
  spool_overflow: 'the spool was over its cap: a segment moved to the dead-letter log',
  // issue 13 (secmem): the dead-letter log's own overflow record.
  deadletter_overflow: 'refusals beyond the dead-letter staging cap in one write, kept as counts by reason without their payloads',
  sink_too_large: 'the sink refused a single line as too large',
  sink_rejected_400: 'the sink refused the line (HTTP 400: bad line protocol)',
  sink_rejected_401: 'the sink refused the write (HTTP 401: unauthorized)',
  sink_rejected_403: 'the sink refused the write (HTTP 403: forbidden)',
  sink_rejected_404: 'the sink refused the write (HTTP 404: no such database or bucket)',
  sink_rejected_413: 'the sink refused the write (HTTP 413: request too large)',
  sink_rejected_422: 'the sink refused the line (HTTP 422: unprocessable, e.g. field type conflict)',

  // --- HTTP API authentication (gateway/http/auth.ts; audited as http.auth) ------------------------------
  no_token: 'an HTTP request without a bearer token to a route that needs one (401)',
  bad_token: 'an HTTP bearer token that matches no configured token (401)',
  missing_scope: 'the HTTP token lacks the scope the route needs (403)',
  too_many_auth_failures: 'the address failed HTTP authentication too often; refused for a while (429)',

} as const

/** A catalogued refusal or error code. */
export type Reason = keyof typeof REASONS

/** Is `s` a catalogued code (for reasons that arrive as data, e.g. a zod issue's params)? */
export function isReason(s: unknown): s is Reason {
  return typeof s === 'string' && Object.hasOwn(REASONS, s)
}

/** The reason and people's text for a failed zod validation: the first issue decides the reason. */
export function zodReason(error: z.ZodError): { reason: Reason; detail: string } {
  const issue = error.issues[0]
  const detail = error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : '(reading)'}: ${i.message}${i.code === 'unrecognized_keys' ? ` (${(i as { keys: string[] }).keys.join(', ')})` : ''}`)
    .join('; ')
  if (!issue) return { reason: 'invalid', detail }
  if (issue.path[0] === 'ts') return { reason: 'bad_timestamp', detail }
  switch (issue.code) {
    case 'unrecognized_keys':
      return { reason: 'unknown_field', detail }
    case 'invalid_type':
      return { reason: 'wrong_type', detail }
    case 'too_small':
    case 'too_big':
      return { reason: 'out_of_range', detail }
    case 'invalid_value':
      return { reason: 'invalid_value', detail }
    case 'custom': {
      const r = (issue as { params?: { reason?: unknown } }).params?.reason
      return { reason: isReason(r) ? r : 'invalid', detail }
    }
    default:
      return { reason: 'invalid', detail }
  }
}
