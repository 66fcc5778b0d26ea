/**
 * The embedded broker's session store: aedes' own in-memory persistence with one shortcut, the
 * persistence-side twin of router.ts. For every QoS 1 message aedes asks the store which stored
 * subscriptions (of clients with a persistent session, online or not) match its topic, a trie walk per
 * message. Telemetry matches none. So the store notes the first topic level of every subscription it is
 * ever given, and a topic whose first level none of them can match gets the empty answer at once. Levels
 * are never forgotten (an unsubscribe does not lift the shortcut back), so the answer is never wrong.
 */
import { createRequire } from 'node:module'
import type { AedesOptions } from 'aedes'
import { FirstLevels } from './first-levels.ts'

// A CommonJS module whose typings declare an ES default export: loaded the way Node exposes it.
const memory = createRequire(import.meta.url)('aedes-persistence') as () => NonNullable<AedesOptions['persistence']>

type Subs = { topic: string }[]

/** The promise form aedes 1.x calls (the package's typings describe only the callback form). */
interface Store {
  addSubscriptions(client: unknown, subs: Subs, cb?: (...a: unknown[]) => void): unknown
  subscriptionsByTopic(topic: string, cb?: (...a: unknown[]) => void): unknown
}

export function createPersistence(): NonNullable<AedesOptions['persistence']> {
  const store = memory()
  const s = store as unknown as Store
  // Counted in, never out: an unsubscribe does not lift the shortcut back.
  const levels = new FirstLevels()
  const add = s.addSubscriptions.bind(store)
  const byTopic = s.subscriptionsByTopic.bind(store)
  s.addSubscriptions = (client, subs, cb) => {
    for (const sub of subs) levels.count(sub.topic, 1)
    return add(client, subs, cb)
  }
  s.subscriptionsByTopic = (topic, cb) => {
    if (levels.couldMatch(topic)) return byTopic(topic, cb)
    if (cb) {
      process.nextTick(cb, null, [])
      return store
    }
    return Promise.resolve([])
  }
  return store
}
