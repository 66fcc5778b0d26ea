import type { MqttClient } from 'mqtt'
import { sleep } from './net.ts'

/**
 * Readings numbered 0, 1, 2, ... published at QoS 1 in rounds of 100 until the client disconnects (or `max`
 * are sent): what a device does while a test kills the gateway under it. `acked` holds the numbers whose
 * PUBACK came back, the readings the gateway promised to keep; `done` resolves once the client is gone.
 */
export function publishNumbered(client: MqttClient, reading: (i: number) => { topic: string; payload: string }, max = 200_000): { acked: Set<number>; sent(): number; done: Promise<void> } {
  const acked = new Set<number>()
  let sent = 0
  const done = (async () => {
    while (!client.disconnected && sent < max) {
      const round: Promise<unknown>[] = []
      for (let j = 0; j < 100; j++) {
        const i = sent++
        const { topic, payload } = reading(i)
        round.push(client.publishAsync(topic, payload, { qos: 1 }).then(() => acked.add(i), () => undefined))
      }
      await Promise.race([Promise.all(round), sleep(2_000)])
    }
  })()
  return { acked, sent: () => sent, done }
}
