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

type Listener = Parameters<mqemitter.MQEmitter['on']>[1]

export function createRouter(opts: { concurrency: number }): mqemitter.MQEmitter {
  const mq = mqemitter({ concurrency: opts.concurrency, matchEmptyLevels: true })
  // filter -> listener -> times added; first level -> filters (with listeners) that start with it. Kept on
  // the safe side: a count may stay up after the matcher forgot a listener (a message is then matched and
  // finds nobody, as without the shortcut), never go down while the matcher still has one.
  const added = new Map<string, Map<Listener, number>>()
  const levels = new Map<string, number>()
  let wildcards = 0

  const count = (filter: string, d: 1 | -1): void => {
    const i = filter.indexOf('/')
    const l = i < 0 ? filter : filter.slice(0, i)
    if (l === '#' || l === '+') wildcards += d
    else {
      const n = (levels.get(l) ?? 0) + d
      if (n > 0) levels.set(l, n)
      else levels.delete(l)
    }
  }
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
      count(filter, -1)
    }
  }
  /** Whether some filter could match `topic`: false only when none starts with its first level. */
  const anyFor = (topic: string): boolean => {
    if (wildcards > 0) return true
    for (const l of levels.keys()) {
      if (topic.startsWith(l) && (topic.length === l.length || topic.charCodeAt(l.length) === 0x2f)) return true
    }
    return false
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
      count(topic, 1)
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
    if (!inner.closed && !anyFor(message.topic)) {
      cb?.()
      return
    }
    emit(message, cb)
  }
  return mq
}
