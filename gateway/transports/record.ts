/**
 * The recording tap (issue 12 item 6): what a transport tells the recorder about the bytes it moves. The
 * transports know nothing of files: gateway/core/recorder.ts implements this and the gateway hands one tap
 * per source through SourceContext `record`; the TCP server (tcp-server.ts), the links (address.ts: serial,
 * TCP client, TCP listen; the Modbus link) and the MQTT source call it. Every method is cheap and never
 * throws or blocks: a recorder that is over its caps or behind simply drops (and counts) what it cannot keep.
 */

/** How the bytes reached the gateway, as the recording's header names it (and `smartcity replay` plays it). */
export type RecordTransport = 'tcp' | 'serial' | 'mqtt' | 'modbus-tcp' | 'modbus-rtu'

/** One recorded connection (one file, rotated by size): the bytes in both directions, as they passed. */
export interface RecordConn {
  /** Bytes received from the device, as the OS delivered them. */
  in(chunk: Uint8Array): void
  /** Bytes the gateway sent (replies, acknowledgements, Modbus and DL/T 645 requests). */
  out(chunk: Uint8Array): void
  close(): void
}

export interface RecordTap {
  /**
   * A new connection (a device dialled in, a link opened a stream): `peer` is the remote `host:port` or the
   * serial path, `address` the link's address string when there is one (`tcp://h:p`, `serial:///dev/...`).
   * Undefined when nothing is recorded (recording stopped at its total cap).
   */
  connection(o: { transport: RecordTransport; peer: string; address?: string }): RecordConn | undefined
  /** An MQTT message the source received (one file per source). */
  message(topic: string, payload: Uint8Array, qos: number): void
}
