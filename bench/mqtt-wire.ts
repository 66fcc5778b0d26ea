/**
 * MQTT 3.1.1 packets for the load generators (bench/lean-publisher.ts, bench/hot-path.ts): the few a
 * device needs (CONNECT, PUBLISH, DISCONNECT), encoded straight into buffers, so that simulating thousands
 * of stations costs the benchmark machine as little CPU as possible. The gateway side is aedes.
 */

/** The remaining-length field (OASIS MQTT 3.1.1, 2.2.3). */
export function remainingLength(n: number): number[] {
  const out: number[] = []
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    out.push(b)
  } while (n > 0)
  return out
}

function str(s: string): Buffer {
  const b = Buffer.from(s)
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b])
}

/** CONNECT with a clean session, keep-alive 60 s. */
export function connectPacket(clientId: string): Buffer {
  const body = Buffer.concat([str('MQTT'), Buffer.from([4, 0x02, 0, 60]), str(clientId)])
  return Buffer.concat([Buffer.from([0x10, ...remainingLength(body.length)]), body])
}

export const DISCONNECT = Buffer.from([0xe0, 0x00])

/** PUBLISH (no retain, no dup); `id` is the packet identifier at QoS 1. */
export function publishPacket(topic: string, payload: string, qos: 0 | 1, id: number): Buffer {
  const p = Buffer.from(payload)
  const body = Buffer.concat([str(topic), qos ? Buffer.from([id >> 8, id & 0xff]) : Buffer.alloc(0), p])
  return Buffer.concat([Buffer.from([0x30 | (qos << 1), ...remainingLength(body.length)]), body])
}

/**
 * Splits what the broker sends a publisher (CONNACK, PUBACK: both 4 bytes; anything else is an error
 * here) and calls back per packet. Keeps a partial packet across reads.
 */
export function ackReader(on: { connack(code: number): void; puback(id: number): void; error(e: Error): void }): (chunk: Buffer) => void {
  let rest: Buffer | undefined
  return (chunk) => {
    const b = rest ? Buffer.concat([rest, chunk]) : chunk
    let i = 0
    while (b.length - i >= 4) {
      const type = b[i]!
      if (b[i + 1] !== 2) return on.error(new Error(`unexpected remaining length ${b[i + 1]} for packet 0x${type.toString(16)}`))
      if (type === 0x20) on.connack(b[i + 3]!)
      else if (type === 0x40) on.puback((b[i + 2]! << 8) | b[i + 3]!)
      else return on.error(new Error(`unexpected packet 0x${type.toString(16)} from the broker`))
      i += 4
    }
    rest = i < b.length ? b.subarray(i) : undefined
  }
}
