/**
 * The embedded broker's message router: aedes' own (mqemitter, the same options aedes gives it) with one
 * shortcut. A message is matched against every subscription filter (a qlobber trie walk, and an array of
 * topic words per message) to find who gets it. Telemetry has nobody: the gateway takes it in
 * `authorizePublish`, before routing. So the router counts the filters per first topic level, and a message
 * whose first level no filter can match (`city/...` while the only filters are aedes' own `$SYS/...` ones)
 * is done at once, exactly as mqemitter does it for an empty match: its callback runs synchronously.
 * Once any client subscribes to `city/#`, `+/...` or `#`, every message is matched as before.
 */
import mqemitter from 'mqemitter'
import { FirstLevels } from './first-levels.ts'

type Listener = Parameters<mqemitter.MQEmitter['on']>[1]

export function createRouter(opts: { concurrency: number }): mqemitter.MQEmitter {
  const mq = mqemitter({ concurrency: opts.concurrency, matchEmptyLevels: true })
  // filter -> listener -> times added; first level -> filters (with listeners) that start with it. Kept on
  // the safe side: a count may stay up after the matcher forgot a listener (a message is then matched and
  // finds nobody, as without the shortcut), never go down while the matcher still has one.
  const added = new Map<string, Map<Listener, number>>()
  const levels = new FirstLevels()

  const forget = (filter: string, listener?: Listener): void => {
    const m = added.get(filter)
    if (!m) return
    if (listener === undefined) m.clear()
    else {
      const n = m.get(listener) ?? 0
      if (n > 1) m.set(listener, n - 1)
      else m.delete(listener)
    }
    if (m.size === 0) {
      added.delete(filter)
      levels.count(filter, -1)
    }
  }
  const on = mq.on.bind(mq)
  const removeListener = mq.removeListener.bind(mq)
  const emit = mq.emit.bind(mq)
  const inner = mq as unknown as { closed: boolean; removeAllListeners?(topic: string, done?: () => void): unknown }
  const removeAll = inner.removeAllListeners?.bind(mq)
  mq.on = (topic, listener, done) => {
    let m = added.get(topic)
    if (!m) {
      m = new Map()
      added.set(topic, m)
      levels.count(topic, 1)
    }
    m.set(listener, (m.get(listener) ?? 0) + 1)
    return on(topic, listener, done)
  }
  // mqemitter removes on the next turn: count down once it has.
  mq.removeListener = (topic, listener, done) => {
    removeListener(topic, listener, () => {
      forget(topic, listener)
      done?.()
    })
  }
  if (removeAll) {
    inner.removeAllListeners = (topic, done) => {
      const r = removeAll(topic, done)
      forget(topic)
      return r
    }
  }
  mq.emit = (message, cb) => {
    if (!inner.closed && !levels.couldMatch(message.topic)) {
      cb?.()
      return
    }
    emit(message, cb)
  }
  return mq
}
